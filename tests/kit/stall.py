"""Measuring how long the Qt event loop was blocked."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Slot


class Stall(QObject):
    """The longest gap between ticks of a 5 ms timer: how long the GUI thread could not answer."""

    def __init__(self) -> None:
        super().__init__()
        self.longest = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer(self, interval=5)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    @Slot()
    def tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now
