"""The monitor's events, re-emitted as Qt signals on the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from trayapp.model import Transition
from trayapp.monitor.scheduler import CheckEvent, Event, Monitor
from trayapp.supervise.supervisor import Supervisor, SupervisorEvent


class MonitorBridge(QObject):
    """Subscribes to the Qt-free monitor; its signals reach GUI slots through queued connections.

    The monitor calls :meth:`_on_event` on its worker threads; emitting there is safe, and
    receivers living on the GUI thread get the call on the GUI thread.
    """

    checked = Signal(object)  # CheckEvent
    transitioned = Signal(object)  # Transition

    def __init__(self, monitor: Monitor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        monitor.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:  # worker thread
        if isinstance(event, CheckEvent):
            self.checked.emit(event)
        elif isinstance(event, Transition):
            self.transitioned.emit(event)


class SupervisorBridge(QObject):
    """The supervisor's events (child started, exited, stopped…) as a signal on the GUI thread."""

    event = Signal(object)  # SupervisorEvent

    def __init__(self, supervisor: Supervisor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        supervisor.subscribe(self._on_event)

    def _on_event(self, event: SupervisorEvent) -> None:  # supervisor / child-watcher threads
        self.event.emit(event)
