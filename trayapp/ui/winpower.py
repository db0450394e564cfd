"""Windows sleep/wake: ``WM_POWERBROADCAST`` seen by a Qt native event filter.

Windows broadcasts ``WM_POWERBROADCAST`` to top-level windows (Qt's hidden tray helper window is
one; message-only windows get nothing): ``PBT_APMSUSPEND`` before sleeping,
``PBT_APMRESUMEAUTOMATIC`` on every resume and ``PBT_APMRESUMESUSPEND`` after it once a user
is present. Qt hands each message to native event filters as event type
``windows_generic_MSG`` with a pointer to the ``MSG``.

The decoding is plain functions, tested on every platform; the filter installs only on Windows
(elsewhere :meth:`WindowsPowerSource.start` says it is unavailable and the clock fallback runs).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractNativeEventFilter, QCoreApplication

from trayapp.power.events import PowerEventKind

if TYPE_CHECKING:
    from trayapp.power.events import PowerMonitor

log = logging.getLogger(__name__)

EVENT_TYPE = b"windows_generic_MSG"
WM_POWERBROADCAST = 0x0218
PBT_APMSUSPEND = 0x0004
PBT_APMRESUMESUSPEND = 0x0007
PBT_APMRESUMEAUTOMATIC = 0x0012

_KINDS = {
    PBT_APMSUSPEND: PowerEventKind.SUSPENDING,
    PBT_APMRESUMEAUTOMATIC: PowerEventKind.RESUMED,
    PBT_APMRESUMESUSPEND: PowerEventKind.RESUMED,  # the same resume again: the power monitor drops it
}


class MSG(ctypes.Structure):
    """The Win32 ``MSG`` layout (only ``message`` and ``wParam`` are read)."""

    _fields_ = [
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint),
        ("wParam", ctypes.c_size_t),  # WPARAM: UINT_PTR
        ("lParam", ctypes.c_ssize_t),  # LPARAM: LONG_PTR
        ("time", ctypes.c_uint32),
        ("pt_x", ctypes.c_int32),
        ("pt_y", ctypes.c_int32),
    ]


def decode_power_broadcast(message: int, wparam: int) -> PowerEventKind | None:
    """``suspending`` / ``resumed`` for a ``WM_POWERBROADCAST``; None for any other message or event."""
    if message != WM_POWERBROADCAST:
        return None
    return _KINDS.get(wparam)


def decode_native_event(event_type: bytes, message: int) -> PowerEventKind | None:
    """Decode what Qt hands a native event filter: the event type and the address of a ``MSG``."""
    if event_type != EVENT_TYPE or not message:
        return None
    msg = MSG.from_address(message)
    return decode_power_broadcast(msg.message, msg.wParam)


class WindowsPowerFilter(QAbstractNativeEventFilter):
    """Reports power broadcasts to the power monitor (GUI thread); never swallows a message."""

    def __init__(self, power: PowerMonitor) -> None:
        super().__init__()
        self._power = power

    def nativeEventFilter(self, eventType: object, message: object) -> tuple[bool, int]:  # noqa: N802 - Qt's name
        kind = decode_native_event(bytes(eventType), int(message))  # type: ignore[call-overload]
        if kind is PowerEventKind.SUSPENDING:
            self._power.report_suspending(WindowsPowerSource.name)
        elif kind is PowerEventKind.RESUMED:
            self._power.report_resumed(WindowsPowerSource.name)
        return False, 0


class WindowsPowerSource:
    """Installs :class:`WindowsPowerFilter` on the application (Windows only)."""

    name = "windows"

    def __init__(self, app: QCoreApplication) -> None:
        self._app = app
        self._filter: WindowsPowerFilter | None = None

    def start(self, power: PowerMonitor) -> bool:
        if sys.platform != "win32":
            return False
        self._filter = WindowsPowerFilter(power)
        self._app.installNativeEventFilter(self._filter)
        return True

    def stop(self) -> None:
        if self._filter is not None:
            self._app.removeNativeEventFilter(self._filter)
            self._filter = None
