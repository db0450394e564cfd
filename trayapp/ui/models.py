"""Table models over the engine's values. They hold data; they never do I/O."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal, Slot

from trayapp.checks.ports import describe_owner, outside_view
from trayapp.model import CheckResult, Listener, Reason, State
from trayapp.monitor.history import Timeline
from trayapp.monitor.rootcause import join
from trayapp.text import format_cmdline, format_latency, humanize_age, shorten_home
from trayapp.ui.icons import state_colour, state_icon

Index = QModelIndex | QPersistentModelIndex

#: a role carrying the row's value object (Timeline, Listener) for delegates and views
ValueRole = Qt.ItemDataRole.UserRole + 1
#: a role carrying a service's full diagnosis (the sentence) as plain text
SentenceRole = Qt.ItemDataRole.UserRole + 2


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip that shows it verbatim: Qt renders a tooltip that looks like markup as
    rich text, so the sentence (outside text: an HTML error page's words, a driver's message) is
    escaped into a rich-text paragraph of its own, never passed as it is."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


def view_headline(view: Timeline) -> str:
    """The few words the table shows for a service (trayapp.headline), or why there are none yet."""
    return view.last.headline if view.last is not None else "not checked yet"


def latency_text(last: CheckResult | None) -> str:
    """How long the service took to answer ("3 ms", "2.1 s"); "" when it did not answer (a
    refused connection or a timeout measures the failure, not the service)."""
    if last is None or last.latency_ms is None or not last.answered:
        return ""
    return format_latency(last.latency_ms)


def _ago(t: float | None, now: float) -> str:
    return "" if t is None else f"{humanize_age(now - t)} ago"


#: how many troubled services the summary names before "and N more"
SUMMARY_NAMES = 3


def summary_text(views: Sequence[Timeline], paused: bool = False) -> str:
    """The window's one-line summary: "3 services · db down since 12:03", "2 services · all up".

    Names the services that are not fine (down first), each with the local time its state began
    when known; one blocked by another is named after its root ("db down since 12:03 (backend
    affected)"); services the user stopped are named last. Plain text, O(services).
    """
    count = f"{len(views)} service" + ("" if len(views) == 1 else "s")
    if not views:
        return "no services configured"
    if paused:
        return f"{count} · monitoring paused"
    checked = [v for v in views if v.last is not None]
    troubled = sorted((v for v in checked if v.state not in (State.UP, State.STOPPED)), key=lambda v: -v.state.severity)
    if not troubled and len(checked) < len(views):
        return f"{count} · checking…"
    # a service blocked by another one in trouble is named with its root, not on its own
    names = {v.service.name for v in troubled}
    affected: dict[str, list[str]] = {}
    for view in troubled:
        root = view.last.blocked_by if view.last is not None else None
        if root is not None and root in names and root != view.service.name:
            affected.setdefault(root, []).append(view.service.name)
    folded = {name for names_ in affected.values() for name in names_}
    roots = [v for v in troubled if v.service.name not in folded]
    parts = []
    for view in roots[:SUMMARY_NAMES]:
        since = "" if view.changed_at is None else time.strftime(" since %H:%M", time.localtime(view.changed_at))
        hit = affected.get(view.service.name)
        parts.append(f"{view.service.name} {view.state}{since}" + (f" ({join(hit)} affected)" if hit else ""))
    if len(roots) > SUMMARY_NAMES:
        parts.append(f"and {len(roots) - SUMMARY_NAMES} more")
    stopped = [v.service.name for v in views if v.state is State.STOPPED]
    if not troubled:
        if not stopped:
            parts.append("all up")
        elif len(stopped) == len(views):
            parts.append("all stopped")
        else:
            parts.append(f"all up but {', '.join(stopped)} (stopped)")
    return " · ".join([count, *parts])


class _RowsModel(QAbstractTableModel):
    """A flat table with fixed column headers over a list of rows."""

    HEADERS: tuple[str, ...] = ()

    def _rows_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._rows_count()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


#: updates are coalesced: the views hear of changed rows at most once per this many ms
REFRESH_MS = 100


class ServicesModel(_RowsModel):
    """One row per service. The work per check is O(1) (issue #12): a changed service marks its
    row, and at most once per ``REFRESH_MS`` one ``dataChanged`` per marked row goes out."""

    NAME, STATE, DETAIL, LATENCY, HISTORY, CHANGED = range(6)
    HEADERS = ("Service", "State", "Diagnosis", "Latency", "Last minutes", "Last change")
    #: the State column's widest words, so the column never jumps when a state or pause changes it
    WIDEST_STATE = "up · last check failed"

    #: a row's service changed, at once (the table's ``dataChanged`` follows within REFRESH_MS):
    #: for what shows one service's details
    row_updated = Signal(int)

    def __init__(self, views: Sequence[Timeline], parent: Any = None) -> None:
        super().__init__(parent)
        self._views = list(views)
        self._rows = {view.service.name: row for row, view in enumerate(self._views)}
        self._dirty: set[int] = set()
        self._paused = False
        self._flush_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._flush_timer.timeout.connect(self.flush)

    def set_views(self, views: Sequence[Timeline]) -> None:
        """Show these views; the same services in the same order keep their rows (and the selection)."""
        if [v.service.name for v in views] == [v.service.name for v in self._views]:
            self._views = list(views)
            self._changed_all()
            return
        self.beginResetModel()
        self._views = list(views)
        self._rows = {view.service.name: row for row, view in enumerate(self._views)}
        self._dirty.clear()
        self.endResetModel()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        self._changed_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def row_of(self, name: str) -> int:
        return self._rows.get(name, -1)

    def view(self, row: int) -> Timeline:
        return self._views[row]

    def service_changed(self, name: str) -> None:
        """The service's row is out of date; the views hear of it within ``REFRESH_MS``."""
        row = self.row_of(name)
        if row < 0:
            return
        self._dirty.add(row)
        if not self._flush_timer.isActive():
            self._flush_timer.start()
        self.row_updated.emit(row)

    @Slot()
    def flush(self) -> None:
        """Tell the views about every row changed since the last flush (GUI thread)."""
        self._flush_timer.stop()
        dirty, self._dirty = sorted(self._dirty), set()
        last = len(self.HEADERS) - 1
        for row in dirty:
            if row < len(self._views):
                self.dataChanged.emit(self.index(row, 0), self.index(row, last))

    def refresh_ages(self) -> None:
        """Repaint the "Last change" column (ages move on without new data)."""
        if self._views:
            self.dataChanged.emit(self.index(0, self.CHANGED), self.index(len(self._views) - 1, self.CHANGED))

    def _changed_all(self) -> None:
        if self._views:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._views) - 1, len(self.HEADERS) - 1))

    def _rows_count(self) -> int:
        return len(self._views)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        view = self._views[index.row()]
        column = index.column()
        if role == ValueRole:
            return view
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(view, column)
        if role == Qt.ItemDataRole.DecorationRole and column == self.NAME:
            return state_icon(view.state, self._paused)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STATE and not self._paused:
            return state_colour(view.state)  # for the palette's base: 4.5:1 on light and dark
        if role == SentenceRole:
            return view.detail
        if role == Qt.ItemDataRole.ToolTipRole and column in (self.STATE, self.DETAIL):
            return plain_tooltip(view.detail)  # the full sentence, escaped: never read as markup
        return None

    def _display(self, view: Timeline, column: int) -> str:
        last = view.last
        if column == self.NAME:
            return view.service.name
        if column == self.STATE:
            if self._paused:
                return "paused"
            if view.state is State.STOPPED:
                return "stopped"  # the detail says how to start it
            bad = last is not None and last.state is not State.UP and last.reason is not Reason.OK
            if bad and view.state is State.UP:  # one failed check is not an outage yet (down_after)
                return "up · last check failed"  # the Diagnosis column says what it found
            return str(view.state)
        if column == self.DETAIL:
            return view_headline(view)
        if column == self.LATENCY:
            return latency_text(last)
        if column == self.CHANGED:
            return _ago(view.changed_at, time.time())
        return ""


class PortsModel(_RowsModel):
    PORT, ADDRESS, PID, PROCESS, USER, AGE, CWD, COMMAND, KILL = range(9)
    HEADERS = ("Port", "Address", "PID", "Process", "User", "Age", "Working dir", "Command line", "")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Listener] = []
        self._watched: dict[int, tuple[str, ...]] = {}

    def set_watched(self, watched: dict[int, tuple[str, ...]]) -> None:
        """Each watched port with every service that watches it."""
        self._watched = dict(watched)

    def set_listeners(self, found: Sequence[Listener]) -> None:
        self.beginResetModel()
        self._rows = sorted(found, key=lambda x: (x.port not in self._watched, x.port, x.address))
        self.endResetModel()

    def listener(self, row: int) -> Listener:
        return self._rows[row]

    def _rows_count(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        x = self._rows[index.row()]
        column = index.column()
        if role == ValueRole:
            return x
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(x, column)
        if role == Qt.ItemDataRole.FontRole and column == self.PORT and x.port in self._watched:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, x: Listener, column: int) -> str:
        if column == self.PORT:
            names = self._watched.get(x.port)
            return f"{x.port}  ★ {', '.join(names)}" if names else str(x.port)
        if column == self.ADDRESS:
            return x.address
        if column == self.PID:
            return "" if x.pid is None else str(x.pid)
        if column == self.PROCESS:
            if x.name:
                return x.name
            if x.visible:
                return "?"
            return "outside trayapp's view" if outside_view(x) else "another user's process"
        if column == self.USER:
            return x.user or ("another user" if not x.visible and not outside_view(x) else "")
        if column == self.AGE:
            return "" if x.started is None else humanize_age(time.time() - x.started)
        if column == self.CWD:
            return shorten_home(x.cwd) if x.cwd else ""
        if column == self.COMMAND:
            return format_cmdline(x.cmdline) if x.cmdline else ""
        if column == self.KILL:
            return "Kill…" if x.pid is not None else ""
        return ""

    def filter_text(self, row: int) -> str:
        """Everything a filter box should match for a row."""
        x = self._rows[row]
        return " ".join(self._display(x, c) for c in range(self.KILL)) + " " + describe_owner(x)
