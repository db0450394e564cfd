"""The anchor for the tray's idle cost: a minimal PySide6 tray icon, optionally doing an httpx GET.

    .venv/bin/python -m bench.minimal_tray [--url URL] [--interval 2]

Without --url it only shows an icon (the floor of any Qt tray); with it, it GETs the URL
every --interval seconds through one reused httpx client on the GUI thread (the floor of a
tray that checks one HTTP service). Runs until terminated. bench.tray_cpu starts it beside
the real app so both are measured in the same run on the same loaded machine.
"""

from __future__ import annotations

import argparse
import signal
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QColor, QIcon, QPixmap
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    app = QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    pixmap = QPixmap(16, 16)
    pixmap.fill(QColor("green"))
    tray = QSystemTrayIcon(QIcon(pixmap))
    tray.show()
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    # A timer lets Python run the signal handler while Qt's loop is in C.
    wake = QTimer()
    wake.start(500)
    wake.timeout.connect(lambda: None)
    if args.url:
        import httpx

        client = httpx.Client(timeout=2.0)

        def get() -> None:
            try:
                client.get(args.url)
            except httpx.HTTPError:
                pass

        timer = QTimer()
        timer.timeout.connect(get)
        timer.start(int(args.interval * 1000))
    app.exec()


if __name__ == "__main__":
    main()
