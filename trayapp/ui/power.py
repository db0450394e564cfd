"""The Qt face of the sleep/wake engine: the coordinator's events as signals on the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from trayapp.power.events import PowerEvent, PowerEventKind
from trayapp.power.wake import WakeCoordinator, WakeEvent, WakeSummary


class PowerSignals(QObject):
    """Subscribes to a :class:`~trayapp.power.wake.WakeCoordinator` (whose listeners run on the power
    sources' and the monitor's threads) and re-emits; receivers on the GUI thread get queued calls.

    ``suspending`` comes after the monitor was paused; ``resumed`` before the re-check burst;
    ``summarised`` after the wake summary was posted to the notifier.
    """

    suspending = Signal(object)  # PowerEvent
    resumed = Signal(object)  # PowerEvent
    summarised = Signal(object)  # WakeSummary

    def __init__(self, wake: WakeCoordinator, parent: QObject | None = None) -> None:
        super().__init__(parent)
        wake.subscribe(self._on_event)

    def _on_event(self, event: WakeEvent) -> None:  # any thread
        if isinstance(event, WakeSummary):
            self.summarised.emit(event)
        elif isinstance(event, PowerEvent) and event.kind is PowerEventKind.SUSPENDING:
            self.suspending.emit(event)
        elif isinstance(event, PowerEvent):
            self.resumed.emit(event)
