"""Render resources/icons/app/trayapp.svg to the hicolor PNG sizes beside it, and each state's
tray icon (resources/icons/<name>[-template].svg) to resources/icons/png/ at the tray's sizes.

Run from the repo root after changing an SVG: ``.venv/bin/python packaging/render_icons.py``.
The PNGs are committed, so installing the desktop entry needs no SVG renderer and the running
tray loads none (issue #12); tests/test_icons.py fails when a PNG no longer matches its SVG.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

from trayapp.desktop.entry import PNG_SIZES  # noqa: E402
from trayapp.ui.icons import ICON_NAMES, PAUSED, SIZES, icon_bytes, render_svg  # noqa: E402

app = QGuiApplication([])
renderer = QSvgRenderer("resources/icons/app/trayapp.svg")
for n in PNG_SIZES:
    image = QImage(n, n, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.save(f"resources/icons/app/trayapp-{n}.png")

os.makedirs("resources/icons/png", exist_ok=True)
for name in sorted({*ICON_NAMES.values(), PAUSED}):
    for template in (False, True):
        data = icon_bytes(name, template)
        for n in SIZES:
            suffix = "-template" if template else ""
            render_svg(data, n).save(f"resources/icons/png/{name}{suffix}-{n}.png")
