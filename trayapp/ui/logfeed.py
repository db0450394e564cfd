"""The log feed: a :class:`~trayapp.logs.tail.LogTailer`'s batches from its thread to the GUI
thread and into the :class:`~trayapp.logs.store.LogStore`.

Apart from :mod:`trayapp.ui.logview` so that the tray can tail and store logs from the start
while the log view (its widgets, about 6 MiB of RSS with the fonts it loads) is imported and
built only when it is first shown.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.logs.format import LogEntry, entry_from_item
from trayapp.logs.store import LogStore
from trayapp.logs.tail import LogItem

log = logging.getLogger(__name__)

SLICE_S = 0.006  # work done per event-loop turn when behind (storing, appending)
RECENT_LINES = 200  # lines of each file shown when it starts being followed


class LogFeed(QObject):
    """Carries a tailer's batches to the GUI thread and into the store, and tells the views.

    Give :meth:`on_batch` to the :class:`~trayapp.logs.tail.LogTailer` as its ``on_batch``;
    connect :attr:`entries_added` to each :meth:`LogView.on_entries`. Lines are parsed on the
    tailer's thread (work there yields the GIL every few ms; work on the GUI thread holds the
    window still until it ends); the GUI thread only numbers and stores them, a slice per
    event-loop turn. When more is waiting than the store holds, the oldest waiting lines are
    skipped (counted in the numbering, never shown: they would be pushed out at once).
    """

    batch = Signal(object)  # list[LogEntry], parsed; emitted on the tailer's thread, received on the GUI thread
    entries_added = Signal(object)  # list[LogEntry], numbered and stored; on the GUI thread

    def __init__(self, store: LogStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._waiting: deque[LogEntry] = deque()
        self._drain_timer = QTimer(self, singleShot=True, interval=0)
        self._drain_timer.timeout.connect(self._drain)
        self.batch.connect(self._receive)

    def on_batch(self, items: list[LogItem]) -> None:
        """The tailer's callback, on the tailer's thread: parses, then hands over to the GUI thread."""
        self.batch.emit([entry_from_item(item) for item in items])

    @Slot(object)
    def _receive(self, entries: list[LogEntry]) -> None:
        self._waiting.extend(entries)
        excess = len(self._waiting) - self.store.capacity
        if excess > 0:
            for _ in range(excess):
                self._waiting.popleft()
            self.store.skip(excess)
            log.debug("log feed behind: skipped %d lines", excess)
        if not self._drain_timer.isActive():
            self._drain_timer.start()

    @Slot()
    def _drain(self) -> None:
        started = time.perf_counter()
        added: list[LogEntry] = []
        while self._waiting and time.perf_counter() - started < SLICE_S:
            added += self.store.add_parsed([self._waiting.popleft() for _ in range(min(500, len(self._waiting)))])
        if self._waiting:
            self._drain_timer.start()
        if added:
            self.entries_added.emit(added)

    def flush(self) -> None:
        """Store everything waiting now (before a marker, say)."""
        if self._waiting:
            added = self.store.add_parsed(self._waiting)
            self._waiting.clear()
            self.entries_added.emit(added)

    def waiting(self) -> int:
        """Lines received but not stored yet."""
        return len(self._waiting)

    def add_marker(self, text: str, source: str | None = None, t: float | None = None) -> int:
        """Write a state-change marker into the log (after the lines already received); returns its seq."""
        self.flush()
        entry = self.store.add_marker_entry(text, source, t)
        self.entries_added.emit([entry])
        return entry.seq
