"""Running blocking work (psutil scans, kills, file writes) off the GUI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class Task(QObject):
    """One call run on the global thread pool. Connect ``done``/``failed`` to real slots.

    PySide6 delivers a queued signal on the receiver's thread only for QObject slots, so
    connect them to ``@Slot`` methods, never to lambdas (a lambda would run on the pool).
    """

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn

    def start(self, pool: QThreadPool | None = None) -> Task:
        """Run on the pool. Connect ``done``/``failed`` before calling; the task deletes itself after."""
        self.done.connect(self.deleteLater)
        self.failed.connect(self.deleteLater)
        runnable = _Runnable(self)
        (pool or QThreadPool.globalInstance()).start(runnable)
        return self

    def _run(self) -> None:  # pool thread
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - reported to the user as a sentence
            log.exception("background task failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(result)


class _Runnable(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task._run()
