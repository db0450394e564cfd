"""macOS sleep/wake: NSWorkspace's will-sleep / did-wake notifications, through pyobjc.

They are posted on NSWorkspace's own notification center (``NSWorkspace.sharedWorkspace()
.notificationCenter()``), not the default one (Apple QA1340), on the main thread's run loop,
which the Qt event loop runs; so this source is for the tray app. pyobjc is an optional extra
(``pip install 'trayapp[macos]'``); without it, or off macOS, :meth:`MacWorkspaceSource.start`
says it is unavailable and the clock fallback runs.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from trayapp.power.events import PowerEventKind

if TYPE_CHECKING:
    from trayapp.power.events import PowerMonitor

log = logging.getLogger(__name__)

WILL_SLEEP = "NSWorkspaceWillSleepNotification"
DID_WAKE = "NSWorkspaceDidWakeNotification"

_KINDS = {WILL_SLEEP: PowerEventKind.SUSPENDING, DID_WAKE: PowerEventKind.RESUMED}


def decode_workspace_notification(name: str) -> PowerEventKind | None:
    """``suspending`` / ``resumed`` for NSWorkspace's sleep and wake notifications, None otherwise."""
    return _KINDS.get(str(name))


def report(power: PowerMonitor, name: str) -> None:
    """Pass one notification on to the power monitor (main thread)."""
    kind = decode_workspace_notification(name)
    if kind is PowerEventKind.SUSPENDING:
        power.report_suspending(MacWorkspaceSource.name)
    elif kind is PowerEventKind.RESUMED:
        power.report_resumed(MacWorkspaceSource.name)


_observer_class: Any = None


def _make_observer_class() -> Any:
    """The Objective-C observer class, defined once per process (class names are global there)."""
    global _observer_class
    if _observer_class is None:
        from Foundation import NSObject

        class TrayappSleepObserver(NSObject):
            power: PowerMonitor

            def handle_(self, notification: Any) -> None:
                report(self.power, str(notification.name()))

        _observer_class = TrayappSleepObserver
    return _observer_class


class MacWorkspaceSource:
    name = "macos"

    def __init__(self) -> None:
        self._center: Any = None
        self._observer: Any = None

    def start(self, power: PowerMonitor) -> bool:
        if sys.platform != "darwin":
            return False
        try:
            from AppKit import NSWorkspace

            observer_class = _make_observer_class()
        except ImportError:
            log.info("macOS sleep/wake needs pyobjc (pip install 'trayapp[macos]'); using the clocks only")
            return False
        self._observer = observer_class.new()
        self._observer.power = power
        self._center = NSWorkspace.sharedWorkspace().notificationCenter()
        for name in (WILL_SLEEP, DID_WAKE):
            self._center.addObserver_selector_name_object_(self._observer, "handle:", name, None)
        return True

    def stop(self) -> None:
        if self._center is not None:
            self._center.removeObserver_(self._observer)
        self._center = self._observer = None
