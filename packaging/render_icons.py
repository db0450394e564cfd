"""Render resources/icons/app/trayapp.svg to the hicolor PNG sizes beside it.

Run from the repo root after changing the SVG: ``.venv/bin/python packaging/render_icons.py``.
The PNGs are committed, so installing the desktop entry needs no SVG renderer.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

from trayapp.desktop.entry import PNG_SIZES  # noqa: E402

app = QGuiApplication([])
renderer = QSvgRenderer("resources/icons/app/trayapp.svg")
for n in PNG_SIZES:
    image = QImage(n, n, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.save(f"resources/icons/app/trayapp-{n}.png")
