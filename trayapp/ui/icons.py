"""trayapp's mark, the tray icon (the mark with a state badge) and the state colours.

The icons are package data (``resources/icons``, loaded with importlib.resources), drawn on a
16 px grid (4 SVG units to a pixel) so they stay sharp at the size a tray uses:

- ``app/trayapp.svg`` and its PNG sizes: the app's own mark (a slate tile, a stack of three
  services), for the window, the dialogs, the notifications and the desktop entry.
- ``<state>.svg``: the mark, without its status lights, with a badge in the lower right: a green
  check (up), an amber "!" (degraded), a red cross (down), a grey dash (unknown: not checked yet).
  Paused greys the whole mark and puts a blue pause badge on it, so unknown and paused differ at
  16 px in colour and shape.
- ``<state>-template.svg``: the same in black on transparency. macOS tints it as a menu-bar
  template image; on Linux it is the monochrome (symbolic) look, drawn in the panel's text
  colour, light on a dark theme and dark on a light one (:func:`symbolic_colour`).
"""

from __future__ import annotations

import sys
from functools import cache
from importlib.resources import files
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap

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
APP = "trayapp"

#: State colours for text and drawings on a light base (white, light grey), each at least 4.5:1
#: against it (WCAG 2.x AA for normal text; tests/test_icons.py computes the ratios).
STATE_COLOURS = {
    State.UP: QColor("#17692f"),
    State.DEGRADED: QColor("#8a5a00"),
    State.DOWN: QColor("#b8261c"),
    State.UNKNOWN: QColor("#5c6168"),
    State.STARTING: QColor("#2458a6"),
    State.STOPPING: QColor("#2458a6"),
    State.STOPPED: QColor("#5c6168"),
}
#: The same on a dark base (#1e1e1e to #3c3f41), each at least 4.5:1 against it.
STATE_COLOURS_DARK = {
    State.UP: QColor("#5ad17e"),
    State.DEGRADED: QColor("#f0b429"),
    State.DOWN: QColor("#ff8a7a"),
    State.UNKNOWN: QColor("#b4b9c0"),
    State.STARTING: QColor("#8ab4f8"),
    State.STOPPING: QColor("#8ab4f8"),
    State.STOPPED: QColor("#b4b9c0"),
}
#: The monochrome icon's colour on a dark and on a light panel.
SYMBOLIC_ON_DARK = QColor("#f2f2f2")
SYMBOLIC_ON_LIGHT = QColor("#202124")


def is_dark(colour: QColor) -> bool:
    return colour.lightnessF() < 0.5


def state_colour(state: State, base: QColor | None = None) -> QColor:
    """The colour to write ``state`` in on ``base`` (default: the application's Base colour)."""
    if base is None:
        base = QGuiApplication.palette().color(QPalette.ColorRole.Base)
    return (STATE_COLOURS_DARK if is_dark(base) else STATE_COLOURS)[state]


def icon_bytes(name: str, template: bool = False) -> bytes:
    suffix = "-template" if template else ""
    return (files("trayapp.resources") / "icons" / f"{name}{suffix}.svg").read_bytes()


def icon_path(name: str) -> Path | None:
    """The icon's file on disk (for a notification server, which reads files), or None when the
    package data is not a plain file (a zipped install). ``name``: a state's icon name, or
    ``APP`` for the app's mark (``icons/app/trayapp.svg``)."""
    resource = files("trayapp.resources") / "icons" / ("app/trayapp.svg" if name == APP else f"{name}.svg")
    path = Path(str(resource))
    return path if path.is_file() else None


def icon_png(name: str, size: int, template: bool = False) -> bytes:
    """A state's icon at ``size`` px, rendered from its SVG by packaging/render_icons.py (committed;
    tests/test_icons.py checks each against :func:`render_svg` of its SVG)."""
    suffix = "-template" if template else ""
    return (files("trayapp.resources") / "icons" / "png" / f"{name}{suffix}-{size}.png").read_bytes()


def render_svg(data: bytes, size: int) -> QPixmap:
    """An SVG icon drawn at ``size`` px, as the committed PNGs are. Only packaging/render_icons.py
    and the tests call it: the tray loads the PNGs, so the idle tray loads no SVG renderer
    (QtSvg, its image plugin and their first use: about 1.8 MiB, issue #12)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    pixmap.loadFromData(QByteArray(data), "SVG")
    return pixmap.scaled(size, size)


def _tinted(pixmap: QPixmap, colour: QColor) -> QPixmap:
    out = QPixmap(pixmap.size())
    out.fill(Qt.GlobalColor.transparent)
    painter = QPainter(out)
    painter.drawPixmap(0, 0, pixmap)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
    painter.fillRect(out.rect(), colour)
    painter.end()
    return out


@cache
def _tray_icon(name: str, look: str, tint: str) -> QIcon:
    template = look != "colour"
    icon = QIcon()
    for size in SIZES:
        pixmap = QPixmap()
        pixmap.loadFromData(QByteArray(icon_png(name, size, template)), "PNG")
        icon.addPixmap(_tinted(pixmap, QColor(tint)) if look == "symbolic" else pixmap)
    if look == "template":
        icon.setIsMask(True)
    return icon


@cache
def app_icon() -> QIcon:
    """trayapp's own icon (the app mark, not a state): the committed PNG sizes (16 to 256 px), from
    package data, so a bundle has it too. The window, the dialogs and the taskbar show it. Not the
    SVG: it would load an SVG renderer at start-up for a 64 px picture the PNGs already have."""
    from trayapp.desktop.entry import icon_files

    icon = QIcon()
    for size, data in icon_files().items():
        if size == "scalable":
            continue
        pixmap = QPixmap()
        pixmap.loadFromData(QByteArray(data), "PNG")
        if not pixmap.isNull():
            icon.addPixmap(pixmap)
    return icon


def tray_icon(name: str, symbolic: QColor | None = None) -> QIcon:
    """The tray icon for ``name`` (a state's icon name or "paused").

    ``symbolic``: the monochrome look in this colour (Linux). macOS menu bars always get the
    template image the system tints; otherwise the coloured mark and badge.
    """
    if sys.platform == "darwin":
        return _tray_icon(name, "template", "")
    if symbolic is not None:
        return _tray_icon(name, "symbolic", symbolic.name())
    return _tray_icon(name, "colour", "")


def state_icon(state: State, paused: bool = False, symbolic: QColor | None = None) -> QIcon:
    return tray_icon(PAUSED if paused else ICON_NAMES[state], symbolic)


def icon_name(state: State, paused: bool = False) -> str:
    return PAUSED if paused else ICON_NAMES[state]


def panel_is_dark() -> bool:
    """Whether the desktop's theme is dark: the colour scheme the platform reports (Qt 6.5+),
    else the lightness of the application palette's window colour (a panel follows the theme)."""
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme is Qt.ColorScheme.Dark:
        return True
    if scheme is Qt.ColorScheme.Light:
        return False
    return is_dark(QGuiApplication.palette().color(QPalette.ColorRole.Window))


def symbolic_colour() -> QColor:
    """The monochrome icon's colour for the panel's theme: light on dark, dark on light."""
    return QColor(SYMBOLIC_ON_DARK if panel_is_dark() else SYMBOLIC_ON_LIGHT)
