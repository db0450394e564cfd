"""Which native sleep/wake sources this platform has (Qt-free, so ``trayapp watch`` uses it too)."""

from __future__ import annotations

import sys

from trayapp.power.events import PowerSource
from trayapp.power.logind import LogindSleepSource
from trayapp.power.macos import MacWorkspaceSource


def sleep_sources(*, gui: bool, system_bus: str | None = None) -> list[PowerSource]:
    """The native sources to add to a :class:`~trayapp.power.events.PowerMonitor` (its clock fallback always runs).

    Linux: logind on the system bus (``system_bus`` or ``$DBUS_SYSTEM_BUS_ADDRESS``). macOS, in
    the tray only: NSWorkspace (its notifications need the GUI's run loop). Windows: none here;
    the tray adds :class:`~trayapp.ui.winpower.WindowsPowerSource`, which needs the Qt app.
    """
    if sys.platform.startswith("linux"):
        return [LogindSleepSource(system_bus)]
    if sys.platform == "darwin" and gui:
        return [MacWorkspaceSource()]
    return []
