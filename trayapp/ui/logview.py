"""The log view: the services' log lines as plain text, filtered, searchable, following.

:class:`LogView` shows the :class:`~trayapp.logs.store.LogStore` that a
:class:`~trayapp.ui.logfeed.LogFeed` fills (re-exported here); :class:`LogWindow` is a window of its own around one.

Staying fast under a flood (20,000 lines a second): lines are parsed on the tailer's thread;
the GUI thread stores them and appends them in slices of a few milliseconds, one edit per
slice and at most one round per 100 ms, and only what the view still has room for; the view
trims its oldest lines itself so the document never holds more than the store; lines get
their colours when they come on screen, not when they are added; a hidden view does no work
until it is shown. Search waits for a pause in the typing, then looks through the lines shown
newest first, a slice per event-loop turn, in the view's own copy of their text (a regular
expression over a few thousand lines joined), never with ``QTextDocument.find`` over the
whole document, which took 46-102 ms per key over 50,000 lines.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import re
import time
from collections import deque
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QDesktopServices,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
    QShortcut,
    QShowEvent,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
    QTextLayout,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from trayapp.logs.format import FAILURE_WORDS, Level, LogEntry
from trayapp.logs.store import LogStore, passes
from trayapp.ui.logfeed import RECENT_LINES, SLICE_S, LogFeed
from trayapp.ui.widgets import plain_label

__all__ = ["RECENT_LINES", "LogFeed", "LogView", "LogWindow"]

log = logging.getLogger(__name__)

FLUSH_MS = 100  # a view appends at most once in this long (lines arriving meanwhile wait and go in together)
APPEND_CHUNK = 500  # lines per edit when catching up
MAX_MATCHES = 2000  # search matches highlighted at once (the newest)
SEARCH_DELAY_MS = 150  # the search starts when the typing has paused this long
SEARCH_CHUNK = 2000  # lines searched in one go (one regular-expression pass over them joined)

# line styles (low 3 bits of a style code; the rest is the length of the source prefix)
_PLAIN, _DIM, _WARN, _ERROR, _MARKER, _NOTICE = range(6)

LEVEL_CHOICES: list[tuple[str, Level | None]] = [
    ("All levels", None),
    ("Info and up", Level.INFO),
    ("Warnings and up", Level.WARN),
    ("Errors only", Level.ERROR),
]


class _Styles:
    """The formats of the line styles, and the ranges of one line: the same per-line formats a
    QSyntaxHighlighter would set (``QTextLayout.setFormats``), but set by :class:`LogView` only on
    the lines on screen. A QSyntaxHighlighter calls back into Python for every line added; while
    the tailer's thread is busy reading a burst, each call-back waits for the GIL, and appending
    2,000 lines took 60-370 ms instead of 5 ms."""

    def __init__(self) -> None:
        self.formats: dict[int, QTextCharFormat] = {}
        for style, colour, weight, italic in (
            (_DIM, "#8a8a8a", QFont.Weight.Normal, False),
            (_WARN, "#b45309", QFont.Weight.Normal, False),
            (_ERROR, "#d32f2f", QFont.Weight.Normal, False),
            (_MARKER, "#1d4ed8", QFont.Weight.Bold, False),
            (_NOTICE, "#6b7280", QFont.Weight.Normal, True),
        ):
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(colour))
            fmt.setFontWeight(weight)
            fmt.setFontItalic(italic)
            self.formats[style] = fmt
        self.formats[_MARKER].setBackground(QColor(29, 78, 216, 40))
        self.prefix = QTextCharFormat()
        self.prefix.setForeground(QColor("#8a8a8a"))
        self.keyword = QTextCharFormat()
        self.keyword.setForeground(QColor("#d32f2f"))
        self.keyword.setFontWeight(QFont.Weight.Bold)

    def ranges(self, text: str, code: int) -> list[QTextLayout.FormatRange]:
        style, prefix = code & 7, code >> 3
        spans: list[tuple[int, int, QTextCharFormat]] = []
        if prefix:
            spans.append((0, prefix, self.prefix))
        if style:
            spans.append((prefix, len(text) - prefix, self.formats[style]))
        if style == _ERROR:
            spans += [(m.start(), m.end() - m.start(), self.keyword) for m in FAILURE_WORDS.finditer(text, prefix)]
        ranges = []
        for start, length, fmt in spans:
            span = QTextLayout.FormatRange()
            span.start, span.length, span.format = start, length, fmt  # type: ignore[misc]
            ranges.append(span)
        return ranges


def _utf16_length(text: str, end: int) -> int:
    """Qt's position of ``text[end]``: Qt counts UTF-16 units, Python code points (an emoji is two in Qt)."""
    if text.isascii():
        return end
    return len(text[:end].encode("utf-16-le")) // 2


def _style_of(entry: LogEntry) -> int:
    if entry.kind == "marker":
        return _MARKER
    if entry.kind == "notice":
        return _ERROR if entry.rank >= Level.ERROR else _NOTICE
    rank = entry.rank
    if rank >= Level.ERROR:
        return _ERROR
    if rank >= Level.WARN:
        return _WARN
    if entry.level is not None and entry.level <= Level.DEBUG:
        return _DIM
    return _PLAIN


class LogView(QWidget):
    """The store's entries as plain text, with a source and level filter, follow/pause, search,
    copy, "open file" and jumping to an entry by its sequence number. Lives on the GUI thread.

    Connect :meth:`on_entries` to :attr:`LogFeed.entries_added`. Memory is bounded: the document
    never holds more lines than the store does.
    """

    updated = Signal()  # the shown text changed (lines appended, filter applied)
    following_changed = Signal(bool)

    def __init__(self, store: LogStore, parent: QWidget | None = None, *, flush_ms: int = FLUSH_MS) -> None:
        super().__init__(parent)
        self.store = store
        self.max_lines = store.capacity
        self._sources: frozenset[str] | None = None  # None: every source
        self._min_level: Level | None = None
        self._following = True
        self._older: list[LogEntry] = []  # a rebuild's lines still to fill in at the top, oldest first
        self._new_while_paused = 0
        self._synced = store.last_seq  # the last store entry looked at
        self._backlog: deque[LogEntry] = deque(maxlen=self.max_lines)  # to append, oldest first
        # One entry per block of the document: its seq, its style code, whether its formats are set.
        self._seqs: list[int] = []
        self._texts: list[str] = []  # each block's text: what search looks through
        self._styles: list[int] = []
        self._styled = bytearray()  # 1: its formats are set; 0: not yet; 2: not yet, and clear old ones
        self._prefix_width = 0
        self._known_sources: list[str] = []
        self._needle = ""
        self._pattern: re.Pattern[str] | None = None
        #: search matches, oldest first: (seq of the line, start, end) in Qt's units; the newest MAX_MATCHES
        self._hits: list[tuple[int, int, int]] = []
        #: a search still to go through the lines numbered [floor, ceiling), newest first; None when done
        self._scan: tuple[int, int] | None = None
        self._pending_find: bool | None = None  # Next (False) / Previous (True) asked before the search ended
        self._jumped: QTextCursor | None = None

        self.source_box = QComboBox()
        self.source_box.addItem("All services", None)
        self.level_box = QComboBox()
        for label, level in LEVEL_CHOICES:
            self.level_box.addItem(label, level)
        self.follow_button = QPushButton("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.search = QLineEdit(placeholderText="Search…")
        self.search.setClearButtonEnabled(True)
        self.previous_button = QPushButton("Previous")
        self.next_button = QPushButton("Next")
        self.match_label = plain_label()
        self.match_label.setWordWrap(False)
        self.copy_button = QPushButton("Copy")
        self.open_button = QPushButton("Open file")
        self.open_button.setToolTip("Open the log file of the line at the cursor, or of the chosen service")

        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setUndoRedoEnabled(False)
        self.text.setMaximumBlockCount(self.max_lines)
        self.text.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("No log lines yet.")
        self._look = _Styles()
        self._working = False  # in _work: scrolling there is ours, and styled at its end
        self._scrolling = False  # in _scroll_to: not the user's scrolling
        self._style_timer = QTimer(self, singleShot=True, interval=0)
        self._style_timer.timeout.connect(self._style_visible)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._start_search)
        self._scan_timer = QTimer(self, singleShot=True, interval=0)
        self._scan_timer.timeout.connect(self._search_slice)
        self.status = plain_label()
        self.status.setWordWrap(False)

        top = QHBoxLayout()
        top.addWidget(self.source_box)
        top.addWidget(self.level_box)
        top.addWidget(self.follow_button)
        top.addWidget(self.search, 1)
        top.addWidget(self.previous_button)
        top.addWidget(self.next_button)
        top.addWidget(self.match_label)
        top.addWidget(self.copy_button)
        top.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.status)

        self._flush_ms = flush_ms
        self._last_flush = 0.0
        self._flush_timer = QTimer(self, singleShot=True, interval=flush_ms)
        self._flush_timer.timeout.connect(self._flush)
        self.source_box.currentIndexChanged.connect(self._on_source_chosen)
        self.level_box.currentIndexChanged.connect(self._on_level_chosen)
        self.follow_button.toggled.connect(self.set_following)
        self.search.textChanged.connect(self.set_search)
        self.search.returnPressed.connect(self.find_next)
        self.next_button.clicked.connect(self.find_next)
        self.previous_button.clicked.connect(self.find_previous)
        QShortcut(QKeySequence("Shift+Return"), self.search, self.find_previous)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, self.search.setFocus)
        self.copy_button.clicked.connect(self.copy)
        self.open_button.clicked.connect(self.open_file)
        self.text.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.text.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self._update_sources()
        self._update_status()

    # -- feeding ------------------------------------------------------------------------

    @Slot(object)
    def on_entries(self, entries: Sequence[LogEntry]) -> None:
        """New entries are in the store (GUI thread). Shown within ``flush_ms`` if they pass the filter."""
        if not self._following:
            sources, level = self._sources, self._min_level
            fresh = sum(1 for e in entries if e.seq > self._synced and passes(e, sources, level))
            if fresh:
                self._new_while_paused += fresh
                self._update_status()
            return
        if not self._flush_timer.isActive():
            # at most one flush per flush_ms: at once after a quiet spell, else when the interval is up
            since = (time.perf_counter() - self._last_flush) * 1000
            self._flush_timer.start(max(0, int(self._flush_ms - since)))

    @Slot()
    def _flush(self) -> None:
        if not self.isVisible():
            return  # picked up in showEvent
        self._last_flush = time.perf_counter()
        if len(self.store.sources()) != len(self._known_sources):
            self._update_sources()
            if self._wanted_prefix_width() != self._prefix_width:
                self.rebuild()  # a second service: every line gets its source in front
                return
        if self._following:
            self._pull()
        self._work(deadline=time.perf_counter() + SLICE_S)
        if (self._backlog and self._following) or self._older:
            self._flush_timer.start(0)  # more next turn, after other events

    def _pull(self) -> None:
        if self.store.last_seq == self._synced:
            return
        fresh = self.store.entries(self._sources, self._min_level, since_seq=self._synced)
        self._synced = self.store.last_seq
        self._backlog.extend(fresh)  # keeps only the newest max_lines

    def _work(self, deadline: float) -> None:
        """Append the backlog, then fill in a rebuild's older lines above, in edits of
        APPEND_CHUNK lines, until done or past ``deadline``."""
        changed = False
        self._working = True
        while self._backlog or self._older:
            if self._backlog:
                count = min(APPEND_CHUNK, len(self._backlog))
                self._append([self._backlog.popleft() for _ in range(count)])
            else:
                chunk = self._older[-APPEND_CHUNK:]
                del self._older[-APPEND_CHUNK:]
                self._prepend(chunk)
            changed = True
            if time.perf_counter() >= deadline:
                break
        self._working = False
        if changed:
            self._new_while_paused = 0
            self._update_status()
            self._style_visible()
            self.updated.emit()

    def _line(self, entry: LogEntry) -> tuple[str, int]:
        style = _style_of(entry)
        if self._sources is None and entry.kind != "marker" and self._prefix_width:
            prefix = f"{entry.source:<{self._prefix_width}} | "
            return prefix + entry.display, style | (len(prefix) << 3)
        return entry.display, style

    def _wanted_prefix_width(self) -> int:
        """In the all-services view with more than one service, lines start with their source."""
        sources = self.store.sources()
        if self._sources is not None or len(sources) < 2:
            return 0
        return min(16, max(len(s) for s in sources))

    def _lines(self, entries: list[LogEntry]) -> tuple[list[str], list[int]]:
        lines, styles = [], []
        for entry in entries:
            line, style = self._line(entry)
            lines.append(line)
            styles.append(style)
        return lines, styles

    def _append(self, entries: list[LogEntry]) -> None:
        """One edit at the end, after making room at the top (or in the lines still to fill in)."""
        top = None if self._following else self._top_seq()
        excess = len(self._seqs) + len(self._older) + len(entries) - self.max_lines
        if excess > 0 and self._older:
            dropped = min(excess, len(self._older))
            del self._older[:dropped]  # the oldest of a rebuild are not needed any more
            excess -= dropped
        if excess > 0:
            self._remove_top(excess)
        lines, styles = self._lines(entries)
        had_lines = bool(self._seqs)
        first = len(self._seqs)
        self._seqs += [e.seq for e in entries]
        self._texts += lines
        self._styles += styles
        self._styled += bytes(len(entries))
        document = self.text.document()
        cursor = QTextCursor(document)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(("\n" if had_lines else "") + "\n".join(lines))
        if self._pattern is not None:
            found = self._find_in(first, len(self._seqs), MAX_MATCHES)
            if found:
                self._hits = (self._hits + found)[-MAX_MATCHES:]
                self._update_match_label()
        self._keep_place(top)

    def _prepend(self, entries: list[LogEntry]) -> None:
        """One edit at the top: older lines of a rebuild, filled in newest first."""
        lines, styles = self._lines(entries)
        had_lines = bool(self._seqs)
        top = self._top_seq()
        self._seqs[0:0] = [e.seq for e in entries]
        self._texts[0:0] = lines
        self._styles[0:0] = styles
        self._styled[0:0] = bytes(len(entries))
        if had_lines:
            self._styled[len(entries)] = 2  # the old first line: its block may have been split
        cursor = QTextCursor(self.text.document())
        cursor.insertText("\n".join(lines) + ("\n" if had_lines else ""))
        if self._pattern is not None and len(self._hits) < MAX_MATCHES:
            older = self._find_in(0, len(entries), MAX_MATCHES - len(self._hits))
            if older:
                self._hits = older + self._hits
                self._update_match_label()
        self._keep_place(top)

    def _top_seq(self) -> int | None:
        return self.seq_at(self.text.firstVisibleBlock().blockNumber()) if self._seqs else None

    def _keep_place(self, top: int | None = None) -> None:
        """Following: show the newest line. Paused: keep ``top`` (a seq) as the first line shown."""
        if self._following:
            self._scroll_to(self.text.verticalScrollBar().maximum())
        elif top is not None:
            index = bisect.bisect_left(self._seqs, top)
            if index < len(self._seqs):
                self._scroll_to(self.text.document().findBlockByNumber(index).firstLineNumber())

    def _scroll_to(self, value: int) -> None:
        self._scrolling = True
        self.text.verticalScrollBar().setValue(value)
        self._scrolling = False

    @Slot(int, int)
    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._following and not self._working:
            self._scroll_to(maximum)  # resized or re-wrapped: still at the newest line

    @Slot(int)
    def _on_scrolled(self, value: int) -> None:
        if self._working or self._scrolling:
            return  # our own scrolling; appending styles what it brings on screen itself
        self._style_timer.start()
        if value < self.text.verticalScrollBar().maximum():
            self.set_following(False)  # scrolled up by hand (wheel, keys, bar): the lines being read stay put

    def _visible_lines(self) -> range:
        """The block numbers on screen (and a line either side)."""
        first = self.text.firstVisibleBlock().blockNumber()
        rows = self.text.viewport().height() // max(1, self.text.fontMetrics().lineSpacing()) + 2
        return range(max(0, first), min(first + rows, len(self._seqs)))

    @Slot()
    def _style_visible(self) -> None:
        """Set the formats of the lines on screen that have none yet, and highlight the matches
        among them (a few dozen calls at most)."""
        if not self._seqs or not self.isVisible():
            return
        if self._hits:
            self._show_matches()
        document = self.text.document()
        for number in self._visible_lines():
            state = self._styled[number]
            if state == 1:
                continue
            self._styled[number] = 1
            code = self._styles[number]
            if code == 0 and state == 0:
                continue
            block = document.findBlockByNumber(number)
            block.layout().setFormats(self._look.ranges(block.text(), code) if code else [])
            document.markContentsDirty(block.position(), block.length())

    def _remove_top(self, count: int) -> None:
        if count >= len(self._seqs):
            self._clear_text()
            return
        del self._seqs[:count]
        del self._texts[:count]
        del self._styles[:count]
        del self._styled[:count]
        document = self.text.document()
        cursor = QTextCursor(document)
        # setPosition, not movePosition(NextBlock, KeepAnchor, count): that steps block by block
        # and costs about 12 µs a block (Qt's own maximumBlockCount trimming goes that way too)
        cursor.setPosition(document.findBlockByNumber(count).position(), QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        if self._hits and self._hits[0][0] < self._seqs[0]:
            del self._hits[: bisect.bisect_left(self._hits, (self._seqs[0],))]
            self._update_match_label()

    def _clear_text(self) -> None:
        self._seqs.clear()
        self._texts.clear()
        self._scan = None  # the lines that come back are searched as they come
        self._styles.clear()
        self._styled.clear()
        self.text.clear()
        self._hits.clear()
        self._jumped = None
        self._show_matches()

    def rebuild(self) -> None:
        """Show the store again under the current filter: the newest lines at once, older ones
        filled in above them a slice per event-loop turn."""
        self._clear_text()
        self._backlog.clear()
        self._flush_timer.stop()
        self._prefix_width = self._wanted_prefix_width()
        self._older = self.store.entries(self._sources, self._min_level, limit=self.max_lines)
        self._synced = self.store.last_seq
        self._new_while_paused = 0
        self._update_status()
        self._update_match_label()
        if self.isVisible():
            self._flush()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._following and self.store.last_seq - self._synced > 4 * APPEND_CHUNK:
            self.rebuild()  # much arrived while hidden: newest first, rather than scrolling through it
        self._flush_timer.start(0)
        self._style_timer.start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._style_timer.start()

    # -- filters ------------------------------------------------------------------------

    def set_source(self, source: str | None) -> None:
        """Show one source's entries (and markers), or every source's with None."""
        self._update_sources(ensure=source)
        index = self.source_box.findData(source) if source is not None else 0
        if index >= 0:
            self.source_box.setCurrentIndex(index)

    def current_source(self) -> str | None:
        return self.source_box.currentData()

    def set_min_level(self, level: Level | None) -> None:
        self.level_box.setCurrentIndex(next(i for i, (_, lv) in enumerate(LEVEL_CHOICES) if lv == level))

    def min_level(self) -> Level | None:
        return self._min_level

    @Slot(int)
    def _on_source_chosen(self, _index: int) -> None:
        source = self.source_box.currentData()
        sources = None if source is None else frozenset({source})
        if sources != self._sources:
            self._sources = sources
            self.rebuild()

    @Slot(int)
    def _on_level_chosen(self, index: int) -> None:
        level = LEVEL_CHOICES[index][1]
        if level != self._min_level:
            self._min_level = level
            self.rebuild()

    def _update_sources(self, ensure: str | None = None) -> None:
        known = self.store.sources()
        if ensure is not None and ensure not in known:
            known.append(ensure)
        for source in known:
            if self.source_box.findData(source) < 0:
                self.source_box.addItem(source, source)
        self._known_sources = known
        self.open_button.setEnabled(bool(self.store.sources()))

    # -- following ----------------------------------------------------------------------

    @Slot(bool)
    def set_following(self, on: bool) -> None:
        """Follow (append and scroll to the newest line) or pause (the text stays as it is; new
        lines are still stored and counted, and shown when following again)."""
        if on == self._following:
            return
        self._following = on
        self.follow_button.setChecked(on)
        if on and self._jumped is not None:
            self._jumped = None  # the place jumped to is left behind
            self._show_matches()
        if on and self.store.last_seq - self._synced > 4 * APPEND_CHUNK:
            self.rebuild()  # much arrived while paused: newest first, rather than scrolling through it
        elif on:
            self._flush_timer.start(0)
            self._scroll_to(self.text.verticalScrollBar().maximum())
        self._update_status()
        self.following_changed.emit(on)

    def is_following(self) -> bool:
        return self._following

    def _update_status(self) -> None:
        lines = len(self._seqs)
        shown = f"{lines:,} line{'s' if lines != 1 else ''}"
        if self._following:
            self.follow_button.setText("Follow")
            self.status.setText(f"{shown} · following")
        else:
            new = self._new_while_paused
            self.follow_button.setText(f"Follow ({new:,} new)" if new else "Follow")
            self.status.setText(f"{shown} · paused" + (f" · {new:,} new" if new else ""))

    # -- search -------------------------------------------------------------------------

    @Slot(str)
    def set_search(self, text: str) -> None:
        """Highlight every match of ``text`` (case-insensitive, plain text), once the typing has paused.

        The newest matches come first; the rest follow a slice per event-loop turn, so a key
        press costs the window nothing however long the log. An empty text clears at once.
        """
        if self.search.text() != text:
            self.search.setText(text)  # comes back here through textChanged
            return
        self._needle = text
        self._pattern = None
        self._scan = None
        self._scan_timer.stop()
        self._hits = []
        if not text:
            self._search_timer.stop()
            self._pending_find = None
            self._show_matches()
            return
        self._search_timer.start()  # (again): typing on postpones it
        self._show_matches()

    def searching(self) -> bool:
        """Whether a search is waiting for the typing to pause or still going through the lines."""
        return self._search_timer.isActive() or self._scan is not None

    @Slot()
    def _start_search(self) -> None:
        self._search_timer.stop()
        if not self._needle:
            return
        self._pattern = re.compile(re.escape(self._needle), re.IGNORECASE)
        self._hits = []
        self._scan = (self._seqs[0], self._seqs[-1] + 1) if self._seqs else None
        if self._scan is not None:
            self._search_slice()
        else:
            self._pending_find = None
            self._show_matches()

    @Slot()
    def _search_slice(self) -> None:
        """Search the newest lines not searched yet, for about SLICE_S; the rest next turn."""
        if self._scan is None or self._pattern is None:
            return
        deadline = time.perf_counter() + SLICE_S
        floor, ceiling = self._scan
        low = bisect.bisect_left(self._seqs, floor)
        high = bisect.bisect_left(self._seqs, ceiling)
        found: list[tuple[int, int, int]] = []
        while high > low and len(found) + len(self._hits) < MAX_MATCHES:
            start = max(low, high - SEARCH_CHUNK)
            found = self._find_in(start, high, MAX_MATCHES - len(self._hits) - len(found)) + found
            high = start
            if time.perf_counter() >= deadline:
                break
        self._hits = found + self._hits
        if high <= low or len(self._hits) >= MAX_MATCHES:
            self._scan = None
        else:
            self._scan = (floor, self._seqs[high])
            self._scan_timer.start()
        self._show_matches()
        if self._scan is None and self._pending_find is not None:
            backward, self._pending_find = self._pending_find, None
            self._find(backward)

    def _find_in(self, start: int, end: int, limit: int) -> list[tuple[int, int, int]]:
        """The last ``limit`` matches in lines [start, end) of the text, in order, as (seq, start, end)."""
        pattern = self._pattern
        if pattern is None or start >= end or limit <= 0:
            return []
        texts = self._texts[start:end]
        joined = "\n".join(texts)
        needle = self._needle.lower()
        if joined.isascii() and needle.isascii():  # lower() keeps every offset: str.rfind, newest first
            haystack, spans, at = joined.lower(), [], len(joined)
            while len(spans) < limit and (at := haystack.rfind(needle, 0, at)) >= 0:
                spans.append((at, at + len(needle)))
            spans.reverse()
        else:  # case-folding may change lengths: a case-insensitive regular expression
            spans = [m.span() for m in pattern.finditer(joined)][-limit:]
        if not spans:
            return []
        offsets = [0, *itertools.accumulate(len(t) + 1 for t in texts)]  # where each line starts, joined
        found = []
        for begin, finish in spans:
            line = bisect.bisect_right(offsets, begin) - 1
            text, base = texts[line], offsets[line]
            found.append(
                (self._seqs[start + line], _utf16_length(text, begin - base), _utf16_length(text, finish - base))
            )
        return found

    def _cursor_on(self, hit: tuple[int, int, int]) -> QTextCursor | None:
        """A cursor selecting a match, if its line is still shown."""
        line = bisect.bisect_left(self._seqs, hit[0])
        if line >= len(self._seqs) or self._seqs[line] != hit[0]:
            return None
        document = self.text.document()
        position = document.findBlockByNumber(line).position()
        cursor = QTextCursor(document)
        cursor.setPosition(position + hit[1])
        cursor.setPosition(position + hit[2], QTextCursor.MoveMode.KeepAnchor)
        return cursor

    def match_count(self) -> int:
        """Matches found (at most MAX_MATCHES, the newest); those on screen are highlighted."""
        return len(self._hits)

    def _update_match_label(self) -> None:
        if not self._needle:
            self.match_label.setText("")
            return
        if self.searching():
            self.match_label.setText("Searching…")
            return
        count = len(self._hits)
        more = "+" if count >= MAX_MATCHES else ""
        self.match_label.setText(f"{count:,}{more} match{'es' if count != 1 else ''}")

    @Slot()
    def find_next(self) -> bool:
        return self._find(backward=False)

    @Slot()
    def find_previous(self) -> bool:
        return self._find(backward=True)

    def _find(self, backward: bool) -> bool:
        """Go to the next (previous) match after (before) the text cursor, wrapping around. Asked while
        the search still runs, it goes there when the search is done."""
        if not self._needle:
            return False
        if self.searching():
            self._pending_find = backward
            if self._search_timer.isActive():
                self._start_search()  # Enter: no need to wait for a pause in the typing
            return False
        if not self._hits:
            return False
        here = self.text.textCursor()
        position = here.selectionStart() if backward else here.selectionEnd()
        block = self.text.document().findBlock(position)
        line = block.blockNumber()
        key = (self._seqs[line] if line < len(self._seqs) else -1, position - block.position())
        index = bisect.bisect_left(self._hits, key)
        if backward:
            index -= 1  # -1: wraps to the last
        elif index >= len(self._hits):
            index = 0  # wraps to the first
        cursor = self._cursor_on(self._hits[index])
        if cursor is None:
            return False
        self.set_following(False)  # stay on the match
        self.text.setTextCursor(cursor)
        self.text.centerCursor()
        self._show_matches()
        return True

    def _show_matches(self) -> None:
        """Highlight the matches on screen (and the line jumped to): never more than a screenful."""
        self._update_match_label()
        selections = []
        match_format = QTextCharFormat()
        match_format.setBackground(QColor("#fde047"))
        match_format.setForeground(QColor("#000000"))
        lines = self._visible_lines() if self._hits and self._seqs else range(0)
        low = bisect.bisect_left(self._hits, (self._seqs[lines.start],)) if lines else 0
        high = bisect.bisect_left(self._hits, (self._seqs[lines.stop - 1] + 1,)) if lines else 0
        for hit in self._hits[low:high]:
            cursor = self._cursor_on(hit)
            if cursor is None:
                continue
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor  # type: ignore[attr-defined]
            selection.format = match_format  # type: ignore[attr-defined]
            selections.append(selection)
        if self._jumped is not None:
            jump_format = QTextCharFormat()
            jump_format.setBackground(QColor(29, 78, 216, 70))
            jump_format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            selection = QTextEdit.ExtraSelection()
            selection.cursor = self._jumped  # type: ignore[attr-defined]
            selection.format = jump_format  # type: ignore[attr-defined]
            selections.append(selection)
        self.text.setExtraSelections(selections)

    # -- actions ------------------------------------------------------------------------

    def jump_to(self, seq: int) -> bool:
        """Scroll to the entry (a marker, say) numbered ``seq`` and highlight it; pauses following.

        If the current filter hides it, every source and level is shown first. False (and a
        note in the status line) if the store no longer holds it.
        """
        entry = self.store.get(seq)
        if entry is None:
            self.status.setText("That moment is no longer in the log: older lines were dropped to keep memory bounded.")
            return False
        self.set_following(False)
        if not passes(entry, self._sources, self._min_level):
            self._sources = None  # show everything, without two rebuilds through the boxes
            self._min_level = None
            for box in (self.source_box, self.level_box):
                box.blockSignals(True)
                box.setCurrentIndex(0)
                box.blockSignals(False)
            self.rebuild()
        index = self._bring_in(seq)
        if index is None:
            self.rebuild()  # not shown for another reason (the view fell behind): start afresh
            index = self._bring_in(seq)
            if index is None:
                return False
        block = self.text.document().findBlockByNumber(index)
        cursor = QTextCursor(block)
        self.text.setTextCursor(cursor)
        self.text.centerCursor()
        self._jumped = QTextCursor(block)
        self._show_matches()
        return True

    def _bring_in(self, seq: int) -> int | None:
        """Line number of ``seq``, after appending newer lines and filling in older ones only as far
        as needed to reach it (a recent marker costs a slice, not the whole history)."""
        self._pull()
        while self._backlog and (not self._seqs or self._seqs[-1] < seq):
            self._append([self._backlog.popleft() for _ in range(min(APPEND_CHUNK, len(self._backlog)))])
        while self._older and (not self._seqs or self._seqs[0] > seq):
            chunk = self._older[-APPEND_CHUNK:]
            del self._older[-APPEND_CHUNK:]
            self._prepend(chunk)
        if self._backlog or self._older:
            self._flush_timer.start(0)  # the rest in the background
        self._update_status()
        index = bisect.bisect_left(self._seqs, seq)
        return index if index < len(self._seqs) and self._seqs[index] == seq else None

    def current_line(self) -> int:
        """Block number of the text cursor (the line a jump or search landed on)."""
        return self.text.textCursor().blockNumber()

    def first_visible_line(self) -> int:
        return self.text.firstVisibleBlock().blockNumber()

    def seq_at(self, line: int) -> int | None:
        """The store's seq of a shown line."""
        return self._seqs[line] if 0 <= line < len(self._seqs) else None

    @Slot()
    def copy(self) -> str:
        """Copy the selection, or everything shown if nothing is selected; returns the text."""
        cursor = self.text.textCursor()
        text = cursor.selection().toPlainText() if cursor.hasSelection() else self.text.toPlainText()
        QGuiApplication.clipboard().setText(text)
        return text

    def _file_path(self) -> str | None:
        """The file of the line at the cursor if it has one, else the chosen (or only) service's."""
        seq = self.seq_at(self.current_line())
        entry = self.store.get(seq) if seq is not None else None
        if entry is not None and entry.path is not None:
            return entry.path
        sources = self.store.sources()
        source = self.current_source() or (sources[0] if len(sources) == 1 else None)
        return self.store.path_of(source) if source is not None else None

    @Slot()
    def open_file(self) -> bool:
        """Open the log file of the line at the cursor, or of the chosen service, in the user's editor."""
        path = self._file_path()
        if path is None:
            self.status.setText("Choose a service to open its log file.")
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
            self.status.setText(f"Could not open {path}: no program is set up to open it.")
            return False
        return True

    def visible_text(self) -> str:
        """Everything shown, as plain text."""
        return self.text.toPlainText()

    def line_count(self) -> int:
        return len(self._seqs)


class LogWindow(QMainWindow):
    """A window of its own around a :class:`LogView`; closing it hides it."""

    def __init__(self, store: LogStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("trayapp — logs")
        self.resize(1000, 600)
        self.view = LogView(store)
        self.setCentralWidget(self.view)

    def bring_up(self, source: str | None = None, seq: int | None = None) -> None:
        """Show the window, optionally at one service or at one entry (a marker)."""
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
        if source is not None:
            self.view.set_source(source)
        if seq is not None:
            self.view.jump_to(seq)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.ignore()
        self.hide()
