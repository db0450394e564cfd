"""The Ports tab's controller: listing listeners while the tab is shown, and the kill flow."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox

from trayapp.checks.ports import listeners
from trayapp.model import Listener
from trayapp.monitor.scheduler import Monitor
from trayapp.supervise.kill import KillPlan, KillReport, execute_kill, include_watchers, plan_kill
from trayapp.ui.models import PortsModel
from trayapp.ui.tasks import Executors, Task
from trayapp.ui.window import MainWindow, kill_confirmation

log = logging.getLogger(__name__)

REFRESH_MS = 3000


class PortsController(QObject):
    """Lists listening sockets (a psutil scan, on the lookup threads) every few seconds while the
    Ports tab is shown; plans a kill there, asks, and kills on that port's own queue. GUI thread."""

    refreshed = Signal()  # the table holds a fresh scan

    def __init__(
        self, window: MainWindow, model: PortsModel, monitor: Monitor, executors: Executors, parent: QObject
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.tab = window.ports_tab
        self.model = model
        self.monitor = monitor
        self.executors = executors
        self.closed = False
        self._busy = False
        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.tab.refresh_requested.connect(self.refresh)
        self.tab.kill_requested.connect(self.request_kill)
        window.tabs.currentChanged.connect(self._on_tab_changed)

    def close(self) -> None:
        self.closed = True
        self._timer.stop()

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.tab:
            self.refresh()
            self._timer.start()
        else:
            self._timer.stop()

    @Slot()
    def refresh(self) -> None:
        if self._busy:
            return  # one scan at a time; the next timer tick brings fresh data anyway
        self._busy = True
        task = Task(lambda: listeners(None), self)
        task.done.connect(self._on_listed)
        task.failed.connect(self._on_failed)
        task.start(self.executors.lookups)

    @Slot(object)
    def _on_listed(self, found: list[Listener]) -> None:
        if self.closed:
            return  # a background result that arrived after Quit
        self._busy = False
        self.model.set_listeners(found)
        self.tab.status.setText(f"{len(found)} listening sockets")
        self.refreshed.emit()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.closed:
            return
        self._busy = False
        self.tab.status.setText(f"Could not list listening sockets: {message}")

    # -- killing ------------------------------------------------------------------------

    @Slot(object)
    def request_kill(self, listener: Listener) -> None:
        """Kill button: plan off the GUI thread, confirm, then kill off the GUI thread."""
        self.tab.status.setText(f"Looking at what holds port {listener.port}…")
        task = Task(lambda: plan_kill(listener.port), self)
        task.done.connect(self._on_kill_planned)
        task.failed.connect(self._on_kill_failed)
        task.start(self.executors.lookups)

    @Slot(object)
    def _on_kill_planned(self, plan: KillPlan) -> None:
        if self.closed:
            return
        if plan.problem is not None:  # nothing to confirm: the report says why (built off the GUI thread)
            self._kill(plan)
            return
        box = kill_confirmation(self.window, plan)
        box.setObjectName("kill-confirmation")
        box.finished.connect(lambda _result, box=box, plan=plan: self._on_kill_confirmed(box, plan))
        self.tab.status.setText(f"Waiting for confirmation to stop what holds port {plan.port}…")
        box.open()

    def _on_kill_confirmed(self, box: QMessageBox, plan: KillPlan) -> None:
        confirmed = box.clickedButton() is not None and box.clickedButton().objectName() == "confirm-kill"
        with_watcher = box.checkBox() is not None and box.checkBox().isChecked()  # "also stop nodemon (pid 77)"
        box.deleteLater()
        if not confirmed:
            self.tab.status.setText("Nothing was killed.")
            return
        self.tab.status.setText(f"Stopping what holds port {plan.port}…")
        self._kill(plan, with_watcher=with_watcher)

    def _kill(self, plan: KillPlan, *, with_watcher: bool = False) -> None:
        """Stop what ``plan`` names (off the GUI thread), with the watchers it spared when asked."""
        task = Task(lambda: execute_kill(include_watchers(plan) if with_watcher else plan), self)
        task.done.connect(self._on_kill_done)
        task.failed.connect(self._on_kill_failed)
        task.start(self.executors.queue(f"port {plan.port}"))  # with its grace period: a long action

    @Slot(object)
    def _on_kill_done(self, report: KillReport) -> None:
        if self.closed:
            return
        self.tab.status.setText(report.detail)
        self.refresh()
        self.monitor.check_now()

    @Slot(str)
    def _on_kill_failed(self, message: str) -> None:
        if self.closed:
            return
        self.tab.status.setText(f"The kill failed: {message}")
