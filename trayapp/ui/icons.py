"""State icons from package data (importlib.resources), rendered at the sizes trays use."""

from __future__ import annotations

import sys
from functools import cache
from importlib.resources import files

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QColor, QIcon, QPixmap

from trayapp.model import State

SIZES = (16, 22, 24, 32, 48, 64)

#: icon file per tray look; "paused" is not a State (the user paused monitoring)
ICON_NAMES = {
    State.UP: "up",
    State.DEGRADED: "degraded",
    State.DOWN: "down",
    State.UNKNOWN: "unknown",
    State.STARTING: "unknown",
    State.STOPPING: "unknown",
    State.STOPPED: "unknown",  # grey: nothing wrong, nothing running
}
PAUSED = "paused"

STATE_COLOURS = {
    State.UP: QColor("#1f9d55"),
    State.DEGRADED: QColor("#e0a100"),
    State.DOWN: QColor("#d33a2c"),
    State.UNKNOWN: QColor("#7b8088"),
    State.STARTING: QColor("#2f6fb0"),
    State.STOPPING: QColor("#2f6fb0"),
    State.STOPPED: QColor("#a0a4aa"),
}


def icon_bytes(name: str, template: bool = False) -> bytes:
    suffix = "-template" if template else ""
    return (files("trayapp.resources") / "icons" / f"{name}{suffix}.svg").read_bytes()


@cache
def tray_icon(name: str) -> QIcon:
    """The tray icon for ``name`` (a state's icon name or "paused").

    macOS menu bars want a monochrome template image the system tints; everywhere else
    the coloured disc reads on light and dark panels alike.
    """
    template = sys.platform == "darwin"
    data = QByteArray(icon_bytes(name, template))
    icon = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.loadFromData(data, "SVG")
        icon.addPixmap(pixmap.scaled(size, size))
    if template:
        icon.setIsMask(True)
    return icon


@cache
def app_icon() -> QIcon:
    """trayapp's own icon (the app mark, not a state): the committed PNG sizes and the SVG, from
    package data, so a bundle has it too. The window, the dialogs and the taskbar show it."""
    from trayapp.desktop.entry import icon_files

    icon = QIcon()
    for size, data in icon_files().items():
        pixmap = QPixmap()
        pixmap.loadFromData(QByteArray(data), "SVG" if size == "scalable" else "PNG")
        if not pixmap.isNull():
            icon.addPixmap(pixmap)
    return icon


def state_icon(state: State, paused: bool = False) -> QIcon:
    return tray_icon(PAUSED if paused else ICON_NAMES[state])
