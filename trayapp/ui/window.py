"""The main window: a Services tab and a Ports tab. Widgets display values; they do no I/O."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QCloseEvent, QGuiApplication, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from trayapp.checks.ports import describe_owner, restarts_when
from trayapp.logs.store import LogStore
from trayapp.model import Reason, State
from trayapp.monitor.history import Timeline
from trayapp.supervise.kill import KillPlan, KillTarget
from trayapp.supervise.supervisor import OUTCOME_KINDS, ChildState, Supervisor, stopping_text
from trayapp.text import format_cmdline, humanize_age, join_and
from trayapp.ui.icons import state_colour
from trayapp.ui.models import PortsModel, ServicesModel, ValueRole, summary_text
from trayapp.ui.welcome import WelcomePanel
from trayapp.ui.widgets import plain_label

if TYPE_CHECKING:
    from trayapp.ui.logview import LogView


class HistoryDelegate(QStyledItemDelegate):
    """Draws the last minutes of a service as bars: colour = state; height = latency when up (at
    least a third of the row, so a healthy service shows too), the full row when not up."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        view: Timeline = index.data(ValueRole)
        super().paint(painter, option, index)
        samples = list(view.history)
        rect: QRect = option.rect.adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        if not samples or rect.width() <= 0:
            return
        bar = 3
        fit = max(1, rect.width() // bar)
        samples = samples[-fit:]
        slowest = max((s.latency_ms or 0.0) for s in samples) or 1.0
        painter.save()
        x = rect.right() - len(samples) * bar + 1
        floor = max(3, rect.height() // 3)  # a healthy, fast service still shows a row of green bars
        for sample in samples:
            share = (sample.latency_ms or 0.0) / slowest
            up_height = floor + int((rect.height() - floor) * share)
            height = rect.height() if sample.state is not State.UP else up_height
            colour = state_colour(sample.state, option.palette.base().color())  # type: ignore[attr-defined]
            painter.fillRect(x, rect.bottom() - height + 1, bar - 1, height, colour)
            x += bar
        painter.restore()


class ButtonDelegate(QStyledItemDelegate):
    """Paints a push button in a column and emits ``clicked(row)`` when it is pressed."""

    clicked = Signal(int)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole)
        if not text:
            return
        button = QStyleOptionButton()
        button.rect = option.rect.adjusted(2, 2, -2, -2)  # type: ignore[attr-defined]
        button.text = text
        button.state = QStyle.StateFlag.State_Enabled
        QApplication.style().drawControl(QStyle.ControlElement.CE_PushButton, button, painter)

    def editorEvent(self, event: QEvent, model: Any, option: QStyleOptionViewItem, index: Any) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease and index.data(Qt.ItemDataRole.DisplayRole):
            self.clicked.emit(index.row())
            return True
        return super().editorEvent(event, model, option, index)


#: columns sized to their contents (when the services are set, then widened by changed rows)
FITTED_COLUMNS = (ServicesModel.NAME, ServicesModel.STATE, ServicesModel.LATENCY, ServicesModel.CHANGED)
#: a change of more rows than this at once widens nothing (the ages' repaint of every row)
GROW_ROWS = 8


class ServicesTab(QWidget):
    """The services table, the selected service's full diagnosis, and its check settings."""

    check_requested = Signal(str)
    settings_requested = Signal(str, float, float)  # name, interval, timeout
    action_requested = Signal(str, str)  # name, "start" | "stop" | "restart" | "force"
    log_requested = Signal(str)  # name: show its log at its last state change
    all_requested = Signal(str)  # "start" | "stop" | "restart": every managed service

    def __init__(self, model: ServicesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self._history = HistoryDelegate(self.table)
        self.table.setItemDelegateForColumn(ServicesModel.HISTORY, self._history)
        header = self.table.horizontalHeader()
        # Not ResizeToContents: that re-measures every row on every change, so each check cost
        # O(services) on the GUI thread, window shown or not (issue #12). The columns are
        # measured when the services are set and only widen, by the rows that changed.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(ServicesModel.DETAIL, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(ServicesModel.HISTORY, 160)
        header.setSectionResizeMode(ServicesModel.HISTORY, QHeaderView.ResizeMode.Fixed)
        self._fit_columns()
        model.modelReset.connect(self._fit_columns)

        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select a service to see its full diagnosis.")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copy-diagnosis")
        self.copy_button.setToolTip("Copy this service's full diagnosis to the clipboard")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._on_copy)
        report = QWidget()
        report_layout = QVBoxLayout(report)
        report_layout.setContentsMargins(0, 0, 0, 0)
        report_layout.addWidget(self.detail)
        copy_row = QHBoxLayout()
        copy_row.addStretch(1)
        copy_row.addWidget(self.copy_button)
        report_layout.addLayout(copy_row)

        settings = QGroupBox("Check settings")
        form = QFormLayout(settings)
        self.interval = QDoubleSpinBox(minimum=0.1, maximum=86400, decimals=1, suffix=" s", singleStep=0.5)
        self.timeout = QDoubleSpinBox(minimum=0.05, maximum=300, decimals=2, suffix=" s", singleStep=0.5)
        form.addRow("Interval", self.interval)
        form.addRow("Timeout", self.timeout)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save to config")
        self.check_button = QPushButton("Check now")
        self.log_button = QPushButton("Show in log")
        self.log_button.setToolTip("The log at this service's last change of state")
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.log_button)
        buttons.addWidget(self.save_button)
        form.addRow(buttons)
        self.settings_note = plain_label()
        form.addRow(self.settings_note)

        self.process_box = QGroupBox("Process")
        process = QVBoxLayout(self.process_box)
        row = QHBoxLayout()
        self.action_buttons: dict[str, QPushButton] = {}
        for action, text in (("start", "Start"), ("stop", "Stop"), ("restart", "Restart"), ("force", "Force stop")):
            button = QPushButton(text)
            button.setObjectName(f"action-{action}")
            button.clicked.connect(self._on_action)
            row.addWidget(button)
            self.action_buttons[action] = button
        process.addLayout(row)
        self.process_status = plain_label()
        process.addWidget(self.process_status)
        # Hidden for a service trayapp does not run, but its space is kept: selecting another
        # service or a stop in progress never moves the rest of the window.
        for widget in (self.process_box, self.action_buttons["force"]):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
        self.process_box.setVisible(False)
        self.supervisor: Supervisor | None = None
        self._results: dict[str, str] = {}
        self._progress_timer = QTimer(self, interval=1000)
        self._progress_timer.timeout.connect(self.refresh_actions)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(settings)
        side_layout.addWidget(self.process_box)
        side_layout.addStretch(1)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(report)
        lower.addWidget(side)
        lower.setStretchFactor(0, 3)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        self.all_box = QWidget()
        all_row = QHBoxLayout(self.all_box)
        all_row.setContentsMargins(0, 0, 0, 0)
        self.all_buttons: dict[str, QPushButton] = {}
        for action, text in (("start", "Start all"), ("stop", "Stop all"), ("restart", "Restart all")):
            button = QPushButton(text)
            button.setObjectName(f"all-{action}")
            button.setToolTip(f"{text.split()[0]} every managed service, in dependency order")
            button.clicked.connect(lambda _checked=False, action=action: self.all_requested.emit(action))
            all_row.addWidget(button)
            self.all_buttons[action] = button
        self.all_status = plain_label()
        all_row.addWidget(self.all_status, 1)
        self.all_box.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.all_box)
        layout.addWidget(splitter)

        self._set_settings_enabled(False)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        model.dataChanged.connect(self._on_data_changed)
        model.row_updated.connect(self._on_row_updated)
        self.save_button.clicked.connect(self._on_save)
        self.check_button.clicked.connect(self._on_check)
        self.log_button.clicked.connect(self._on_log)

    def select(self, name: str, *, reload_settings: bool = False) -> None:
        """Select a service's row; ``reload_settings`` puts its (new) interval and timeout in the form."""
        row = self.model.row_of(name)
        if row >= 0:
            self.table.selectRow(row)
            self._show(row)
            if reload_settings:
                view = self.model.view(row)
                self.interval.setValue(view.service.interval)
                self.timeout.setValue(view.service.timeout)

    def current_name(self) -> str | None:
        index = self.table.currentIndex()
        return self.model.view(index.row()).service.name if index.isValid() else None

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._show(current.row(), load_settings=True)

    @Slot(int)
    def _on_row_updated(self, row: int) -> None:
        """The selected service's report follows its checks at once; the table within REFRESH_MS."""
        current = self.table.currentIndex()
        if current.isValid() and current.row() == row:
            self._show(row)

    @Slot(QModelIndex, QModelIndex)
    def _on_data_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        current = self.table.currentIndex()
        if current.isValid() and top.row() <= current.row() <= bottom.row():
            self._show(current.row())
        if bottom.row() - top.row() < GROW_ROWS:  # a row or a few; not the all-rows repaint of the ages
            self._widen(top.row(), bottom.row(), top.column(), bottom.column())

    @Slot()
    def _fit_columns(self) -> None:
        """Size the short columns to what they hold now: O(services), once per set of services."""
        for column in FITTED_COLUMNS:
            self.table.resizeColumnToContents(column)
        # The State column is as wide as its widest words from the start: a failed check or a
        # pause changes the words, never the width (no jump of the columns right of it).
        metrics = self.table.fontMetrics()
        widest = metrics.horizontalAdvance(ServicesModel.WIDEST_STATE) + 4 * metrics.averageCharWidth()
        header = self.table.horizontalHeader()
        header.resizeSection(ServicesModel.STATE, max(header.sectionSize(ServicesModel.STATE), widest))

    def _widen(self, top: int, bottom: int, left: int, right: int) -> None:
        """Widen a short column when a changed row holds more than it shows; O(rows changed)."""
        header = self.table.horizontalHeader()
        for column in FITTED_COLUMNS:
            if not left <= column <= right:
                continue
            hints = (
                self.table.sizeHintForIndex(self.model.index(row, column)).width() for row in range(top, bottom + 1)
            )
            widest = max(hints, default=0)
            if widest > header.sectionSize(column):
                header.resizeSection(column, widest)

    def show_action_result(self, service: str | None, text: str) -> None:
        """The outcome (or progress) of a start/stop/restart, shown under that service's buttons."""
        if service is not None:
            self._results[service] = text
        if service is None or service == self.current_name():
            self.process_status.setText(text)

    def show_group_result(self, text: str) -> None:
        """The outcome (or progress) of Start all / Stop all / Restart all, beside their buttons."""
        self.all_status.setText(text)

    def note_event(self, service: str, kind: str, detail: str) -> None:
        """What just happened to a managed service replaces what its Process box said before: after a
        crash it no longer says "started in 0.3 s" (``kind``, ``detail``: a :class:`SupervisorEvent`'s)."""
        if kind in OUTCOME_KINDS:
            self._results[service] = detail
        elif kind == "backoff":  # "will be restarted in 2 s" after what it exited with, not instead of it
            before = self._results.get(service, "")
            self._results[service] = f"{before} — {detail}" if before and "restarted in" not in before else detail

    def refresh_actions(self) -> None:
        """Enable the buttons that make sense now, and show a stop in progress ("SIGTERM sent 3 s ago")."""
        self.all_box.setVisible(self.supervisor is not None and bool(self.supervisor.services()))
        name = self.current_name()
        status = self.supervisor.status(name) if self.supervisor is not None and name is not None else None
        self.process_box.setVisible(status is not None)
        if status is None:
            self._progress_timer.stop()
            return
        running = status.state in (ChildState.RUNNING, ChildState.STARTING, ChildState.STOPPING)
        stopping = status.state is ChildState.STOPPING
        self.action_buttons["start"].setEnabled(not running)
        self.action_buttons["stop"].setEnabled(running and not stopping)
        self.action_buttons["restart"].setEnabled(not stopping)
        self.action_buttons["force"].setVisible(stopping)
        progress = stopping_text(status)
        if progress:
            self.process_status.setText(f"{progress} — waiting for it to exit")
            self._progress_timer.start()
        else:
            self._progress_timer.stop()
            pid = f" (pid {status.pid})" if status.pid else ""
            self.process_status.setText(self._results.get(name or "", f"{status.state}{pid}"))

    @Slot()
    def _on_action(self) -> None:
        name = self.current_name()
        button = self.sender()
        if name is None or not isinstance(button, QPushButton):
            return
        self.action_requested.emit(name, button.objectName().removeprefix("action-"))

    @Slot()
    def _on_copy(self) -> None:
        """The selected service's full diagnosis (the report pane's text) onto the clipboard."""
        name = self.current_name()
        if name is not None:
            QGuiApplication.clipboard().setText(service_report(self.model.view(self.model.row_of(name))))

    def _set_settings_enabled(self, enabled: bool) -> None:
        for widget in (self.interval, self.timeout, self.save_button, self.check_button, self.log_button):
            widget.setEnabled(enabled)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self.table.currentIndex().isValid() and self.model.rowCount() > 0:
            self.table.selectRow(0)
        self.refresh_actions()

    def _show(self, row: int, load_settings: bool = False) -> None:
        self._set_settings_enabled(True)
        self.copy_button.setEnabled(True)
        view = self.model.view(row)
        self.detail.setPlainText(service_report(view))
        if load_settings:
            self.interval.setValue(view.service.interval)
            self.timeout.setValue(view.service.timeout)
            self.settings_note.setText("")
            self.refresh_actions()

    @Slot()
    def _on_save(self) -> None:
        name = self.current_name()
        if name is None:
            self.settings_note.setText("Select a service first.")
            return
        self.settings_requested.emit(name, self.interval.value(), self.timeout.value())

    @Slot()
    def _on_log(self) -> None:
        name = self.current_name()
        if name is not None:
            self.log_requested.emit(name)

    @Slot()
    def _on_check(self) -> None:
        name = self.current_name()
        if name is not None:
            self.check_requested.emit(name)


def service_report(view: Timeline) -> str:
    """The plain-text report shown for one service (and copied by "Copy diagnosis")."""
    service, last = view.service, view.last
    headline = last.headline if last is not None else "not checked yet"
    lines = [f"{service.name} ({service.kind}) — {view.state}: {headline}", f"target: {service.display_target}"]
    lines += [service.source_text, ""]
    lines.append(view.detail)
    if last is not None and last.blocked_by is not None and view.state in (State.DOWN, State.DEGRADED):
        lines.append(f"Blocked by {last.blocked_by}: its failure explains this one; fix {last.blocked_by} first.")
    if last is not None and last.reason is Reason.STALE_CONNECTION and service.managed is not None:
        lines.append(f"Restart {service.name} (the Restart button) so it connects again.")
    if last is not None:
        when = time.strftime("%H:%M:%S", time.localtime(last.t))
        latency = "" if last.latency_ms is None else f", {last.latency_ms:.0f} ms"
        lines.append(f"(checked at {when}{latency})")  # the headline above says it in words, not a code
        for listener in last.listeners:
            lines.append("")
            lines.append(f"port {listener.port} on {listener.address}: {describe_owner(listener)}")
            if listener.cmdline:
                lines.append(f"  command: {format_cmdline(listener.cmdline)}")
            if listener.cwd:
                lines.append(f"  cwd: {listener.cwd}")
    return "\n".join(lines)


class _FilterProxy(QSortFilterProxyModel):
    """Keeps rows whose port, process, user, directory or command contains the filter text."""

    needle = ""

    def set_needle(self, text: str) -> None:
        self.beginFilterChange()
        self.needle = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self.needle:
            return True
        model = self.sourceModel()
        assert isinstance(model, PortsModel)
        return self.needle in model.filter_text(source_row).lower()


class PortsTab(QWidget):
    """Every listening socket with its owner; watched ports first; a Kill button per row."""

    refresh_requested = Signal()
    kill_requested = Signal(object)  # Listener

    def __init__(self, model: PortsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = _FilterProxy(self)
        self.proxy.setSourceModel(model)
        self.filter = QLineEdit(placeholderText="Filter by port, process, user, directory or command…")
        self.filter.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.refresh_button)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.kill_buttons = ButtonDelegate(self.table)
        self.table.setItemDelegateForColumn(PortsModel.KILL, self.kill_buttons)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PortsModel.COMMAND, QHeaderView.ResizeMode.Stretch)
        self.status = plain_label()

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.status)

        self.filter.textChanged.connect(self._on_filter)
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.kill_buttons.clicked.connect(self._on_kill_clicked)

    @Slot(str)
    def _on_filter(self, text: str) -> None:
        self.proxy.set_needle(text)

    @Slot(int)
    def _on_kill_clicked(self, proxy_row: int) -> None:
        source = self.proxy.mapToSource(self.proxy.index(proxy_row, 0))
        self.kill_requested.emit(self.model.listener(source.row()))

    def show_port(self, port: int) -> None:
        self.filter.setText(str(port))


def kill_confirmation(parent: QWidget, plan: KillPlan, then: str = "", offer_watcher: bool = True) -> QMessageBox:
    """The confirmation shown before a kill: every process, its full command line and cwd, and
    the watcher above them that would start them again (nodemon, PM2, …) with, when
    ``offer_watcher``, a check box (``with-watcher``) to stop it too.

    All of it is outside text, so the box is plain text only.
    """
    lines = [f"Stop the {len(plan.targets)} process(es) holding port {plan.port}?", ""]
    for target in plan.targets:
        lines += _target_lines(target)
    spared = plan.spared_watchers
    if spared:
        when = join_and(restarts_when(w.kind) for w in spared)
        lines += ["", f"Above them runs {join_and(w.label for w in spared)}, which will start them again {when}:"]
        for watcher in spared:
            lines += _target_lines(watcher)
        if not offer_watcher:
            lines.append(f"To stop it too: trayapp kill {plan.port} --with-watcher (or Kill… in the Ports tab).")
    lines += ["", "They get SIGTERM first, then SIGKILL if they have not exited after the grace period."]
    if then:
        lines[0] = f"Stop the {len(plan.targets)} process(es) holding port {plan.port}, {then}?"
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(f"Kill what holds port {plan.port}?")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText("\n".join(lines))
    if spared and offer_watcher:
        # Parented to the box, so Qt owns it (PySide would delete an unparented one with its wrapper).
        also = QCheckBox(f"Also stop {join_and(w.label for w in spared)}, so nothing starts them again", box)
        also.setObjectName("with-watcher")
        box.setCheckBox(also)
    kill = box.addButton("Kill", QMessageBox.ButtonRole.DestructiveRole)
    kill.setObjectName("confirm-kill")
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    return box


def _target_lines(target: KillTarget) -> list[str]:
    age = f", started {humanize_age(time.time() - target.started)} ago" if target.started else ""
    role = f"{target.role}: {target.kind}" if target.kind else target.role
    whose = f", started by trayapp for {target.service}" if target.service else ""
    return [
        f"pid {target.pid} — {target.name or '?'} ({role}), user {target.user or '?'}{age}{whose}",
        f"  command: {format_cmdline(target.cmdline) if target.cmdline else '(hidden)'}",
        f"  cwd: {target.cwd or '(hidden)'}",
    ]


class MainWindow(QMainWindow):
    """Closing it hides it; the app lives on in the tray (unless there is no tray).

    The Logs tab's :class:`~trayapp.ui.logview.LogView` is imported and built when it is first
    wanted (the tab is chosen, :meth:`show_log`, or :attr:`log_view` is read): most runs never
    open it, and it costs about 6 MiB. :attr:`log_view_created` then hands it out to be fed.
    """

    log_view_created = Signal(object)  # the LogView, once, when it is built
    settings_requested = Signal()  # the Settings… button

    def __init__(
        self, services: ServicesModel, ports: PortsModel, logs: LogStore, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.quit_on_close = False
        self.setWindowTitle("trayapp")
        self.resize(1100, 660)
        self.banner = plain_label()
        self.banner.setVisible(False)
        palette = self.banner.palette()
        window_colour = palette.color(QPalette.ColorRole.Window)
        palette.setColor(QPalette.ColorRole.WindowText, state_colour(State.DEGRADED, window_colour))
        self.banner.setPalette(palette)
        self.config_status = plain_label()  # the last reload of the config file, or why it was not applied
        self.config_status.setObjectName("config-status")
        self.config_status.setVisible(False)
        self.summary = plain_label()  # "3 services · db down since 12:03"
        self.summary.setObjectName("summary")
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.services_model = services
        self._summary_timer = QTimer(self, singleShot=True, interval=0)  # one update per burst of changes
        self._summary_timer.timeout.connect(self.refresh_summary)
        services.dataChanged.connect(self._summary_timer.start)
        services.modelReset.connect(self._summary_timer.start)
        self.services_tab = ServicesTab(services)
        self.ports_tab = PortsTab(ports)
        self._logs = logs
        self._log_view: LogView | None = None
        self._logs_placeholder = QWidget()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.services_tab, "Services")
        self.tabs.addTab(self.ports_tab, "Ports")
        self.tabs.addTab(self._logs_placeholder, "Logs")
        self.tabs.currentChanged.connect(self._on_tab_chosen)
        central = QWidget()
        layout = QVBoxLayout(central)
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setObjectName("open-settings")
        self.settings_button.setToolTip("Start at login, popups, do not disturb, and the services watched")
        self.settings_button.clicked.connect(self.settings_requested)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.settings_button)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.config_status)
        self.welcome = WelcomePanel()
        layout.addWidget(self.welcome)
        layout.addWidget(self.tabs)
        self.setCentralWidget(central)
        self.refresh_summary()

    @Slot()
    def refresh_summary(self) -> None:
        model = self.services_model
        self.summary.setText(summary_text([model.view(row) for row in range(model.rowCount())], model.paused))

    @property
    def log_view(self) -> LogView:
        """The Logs tab's view, built (showing the store's lines so far) on first use."""
        if self._log_view is None:
            from trayapp.ui.logview import LogView  # noqa: PLC0415 - lazily: about 6 MiB, seldom opened

            view = LogView(self._logs)
            view.rebuild()
            self._log_view = view
            index = self.tabs.indexOf(self._logs_placeholder)
            current = self.tabs.currentIndex()
            self.tabs.blockSignals(True)
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, view, "Logs")
            self.tabs.setCurrentIndex(current)
            self.tabs.blockSignals(False)
            self._logs_placeholder.deleteLater()
            self.log_view_created.emit(view)
        return self._log_view

    def _on_tab_chosen(self, index: int) -> None:
        if self._log_view is None and self.tabs.widget(index) is self._logs_placeholder:
            self.log_view  # noqa: B018 - builds it, in the tab just chosen

    def show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def show_config_status(self, text: str, *, problem: bool) -> None:
        """A line above the tabs about the config file: what a reload changed, or why it was not applied."""
        palette = self.config_status.palette()
        state = State.DOWN if problem else State.UNKNOWN  # red or grey, readable on a light or dark window
        palette.setColor(QPalette.ColorRole.WindowText, state_colour(state, palette.color(QPalette.ColorRole.Window)))
        self.config_status.setPalette(palette)
        self.config_status.setText(text)
        self.config_status.setVisible(bool(text))

    def bring_up(self, service: str | None = None) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
        if service is not None:
            self.tabs.setCurrentWidget(self.services_tab)
            self.services_tab.select(service)

    def show_log(self, service: str | None = None, seq: int | None = None) -> None:
        """The Logs tab, at one service's lines, at one entry (a state-change marker) if given."""
        self.bring_up()
        self.tabs.setCurrentWidget(self.log_view)
        if service is not None:
            self.log_view.set_source(service)
        if seq is not None:
            self.log_view.jump_to(seq)

    def show_ports(self, port: int | None = None) -> None:
        self.bring_up()
        self.tabs.setCurrentWidget(self.ports_tab)
        if port is not None:
            self.ports_tab.show_port(port)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quit_on_close:  # no tray to live in: closing the window is quitting
            event.accept()
            QApplication.quit()
            return
        event.ignore()
        self.hide()
