"""The controller of what is done to one service: start, stop, restart, force; copy, open in the browser."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox

from trayapp.checks.ports import listeners
from trayapp.model import Kind
from trayapp.monitor.history import Timeline
from trayapp.supervise.kill import KillPlan, plan_kill
from trayapp.supervise.supervisor import ActionResult, Supervisor
from trayapp.supervise.together import GroupResult, run_all
from trayapp.ui.tasks import Executors, Task
from trayapp.ui.window import MainWindow, kill_confirmation, service_report

log = logging.getLogger(__name__)


class ServicesController(QObject):
    """Start / stop / restart / force from the menu or the window. GUI thread.

    Whether a process trayapp did not start holds the port is looked up on the lookup threads;
    the action itself runs on the service's own queue (a start may take its whole
    ``start_timeout``), so a slow service holds up only its own next action.
    """

    _each = Signal(str, object)  # one service's result during Start all etc.: from the worker thread

    def __init__(
        self,
        window: MainWindow,
        supervisor: Supervisor,
        views: Mapping[str, Timeline],
        executors: Executors,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.tab = window.services_tab
        self.supervisor = supervisor
        self.views = views
        self.executors = executors
        self.closed = False
        self.tab.supervisor = supervisor
        self.tab.action_requested.connect(self.action)
        self.tab.all_requested.connect(self.action_all)
        self._each.connect(self._on_each)

    @Slot(str, str)
    def action(self, service: str, action: str) -> None:
        """start / stop / restart / force."""
        if not self.supervisor.managed(service):
            return
        if action == "force":
            self.supervisor.force(service)
            return
        if action == "stop":
            self._run(service, action, lambda: self.supervisor.stop(service))
            return
        # Starting: if a process we did not start holds the port, ask before killing it.
        port = self.views[service].service.port
        task = Task(
            lambda: (service, action, plan_kill(port) if port is not None and listeners([port]) else None), self
        )
        task.done.connect(self._on_start_planned)
        task.start(self.executors.lookups)

    @Slot(object)
    def _on_start_planned(self, planned: tuple[str, str, KillPlan | None]) -> None:
        if self.closed:
            return
        service, action, plan = planned
        foreign = [] if plan is None else [t for t in plan.targets if not self.supervisor.is_ours(t.pid)]
        run = self.supervisor.restart if action == "restart" else self.supervisor.start
        if plan is None or (not foreign and plan.problem is None):
            self._run(service, action, lambda: run(service, confirm=lambda _p: True))
            return
        if plan.problem is not None:
            self.tab.show_action_result(service, f"{service} was not started: {plan.problem}")
            return
        box = kill_confirmation(self.window, plan, then=f"then start {service}", offer_watcher=False)
        box.setObjectName("kill-confirmation")
        confirmed_pids = {t.pid for t in plan.targets}

        def answered(_result: int, box: QMessageBox = box) -> None:
            ok = box.clickedButton() is not None and box.clickedButton().objectName() == "confirm-kill"
            box.deleteLater()
            if not ok:
                self.tab.show_action_result(service, "Nothing was killed, nothing started.")
                return
            # Only the processes the user saw may be killed; a new holder means asking again.
            seen = confirmed_pids
            self._run(service, action, lambda: run(service, confirm=lambda p: {t.pid for t in p.targets} <= seen))

        box.finished.connect(answered)
        self.window.bring_up(service)
        box.open()

    def _run(self, service: str, action: str, call: Callable[[], ActionResult]) -> None:
        verb = {"start": "Starting", "stop": "Stopping", "restart": "Restarting"}[action]
        queue = self.executors.queue(f"service {service}")
        after = " once what it is doing now is done" if queue.busy() else ""
        self.tab.show_action_result(service, f"{verb} {service}{after}…")
        task = Task(lambda: (service, call()), self)
        task.done.connect(self._on_done)
        task.failed.connect(self._on_failed)
        task.start(queue)
        self.tab.refresh_actions()

    @Slot(object)
    def _on_done(self, done: tuple[str, ActionResult]) -> None:
        if self.closed:
            return
        service, result = done
        self.tab.show_action_result(service, result.detail)
        self.tab.refresh_actions()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if not self.closed:
            self.tab.show_action_result(None, message)

    # -- every managed service at once ------------------------------------------------

    @Slot(str)
    def action_all(self, action: str) -> None:
        """Start all / Stop all / Restart all, in dependency order, on one queue of their own.

        A process trayapp did not start that holds a port is never killed from here: that
        service's result says so, and its own Start asks first.
        """
        services = self.supervisor.services()
        if not services:
            return
        verb = {"start": "Starting", "stop": "Stopping", "restart": "Restarting"}[action]
        queue = self.executors.queue("all services")
        after = " once what it is doing now is done" if queue.busy() else ""
        self.tab.show_group_result(f"{verb} all {len(services)} managed services{after}…")
        supervisor = self.supervisor
        task = Task(lambda: run_all(supervisor, services, action, on_result=self._each.emit), self)
        task.done.connect(self._on_all_done)
        task.failed.connect(self._on_failed)
        task.start(queue)

    @Slot(str, object)
    def _on_each(self, service: str, result: ActionResult) -> None:
        if not self.closed:
            self.tab.show_action_result(service, result.detail)
            self.tab.refresh_actions()

    @Slot(object)
    def _on_all_done(self, done: GroupResult) -> None:
        if not self.closed:
            self.tab.show_group_result(done.detail)
            self.tab.refresh_actions()

    # -- small things done to a service ------------------------------------------------

    @Slot(str)
    def copy_diagnosis(self, service: str) -> None:
        QGuiApplication.clipboard().setText(service_report(self.views[service]))

    @Slot(str)
    def open_in_browser(self, service: str) -> None:
        config = self.views[service].service
        if config.kind is Kind.HTTP:
            QDesktopServices.openUrl(QUrl(config.target))
