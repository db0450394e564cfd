"""Running blocking work off the GUI thread, on executors that long work cannot starve.

- **Short lookups** (port scans, kill plans): a few threads of their own, so they answer at
  once whatever else runs.
- **Long actions** (start, stop, restart: up to ``start_timeout`` + ``stop_timeout``; a kill
  with its grace): one queue per service or port, as Vorta keeps one worker per repository. An
  action waits only for the one before it on the same service; two slow starts hold up
  nothing else.
- **Settings** (saving, reading, applying a config): one queue, so they happen in order.

The threads are daemon threads on purpose: Quit does not wait for a start that may take its
whole ``start_timeout`` (the child runs on and the next trayapp adopts it).
``concurrent.futures`` joins its workers at exit and ``QThreadPool``'s destructor waits for
its runnables, so neither could leave one behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

LOOKUP_THREADS = 4
IDLE_S = 30.0  # an idle executor thread ends after this long


class WorkQueue:
    """Calls run in the order given on at most ``threads`` daemon threads, started when work comes
    and ended after ``idle_s`` without any. ``threads=1`` makes a serial queue. Any thread may submit."""

    def __init__(self, name: str, threads: int = 1, idle_s: float = IDLE_S) -> None:
        self.name = name
        self._threads = threads
        self._idle_s = idle_s
        self._cond = threading.Condition()
        self._work: deque[Callable[[], None]] = deque()
        self._workers = 0
        self._idle = 0  # workers waiting for work
        self._running = 0

    def submit(self, fn: Callable[[], None]) -> None:
        with self._cond:
            self._work.append(fn)
            if self._idle == 0 and self._workers < self._threads:
                self._workers += 1
                threading.Thread(target=self._worker, name=f"{self.name}-{self._workers}", daemon=True).start()
            self._cond.notify_all()  # wait() shares the condition: notify() might wake only a waiter there

    def busy(self) -> int:
        """Calls queued or running."""
        with self._cond:
            return len(self._work) + self._running

    def wait(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until nothing is queued or running; True if so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._work or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _worker(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                deadline = time.monotonic() + self._idle_s
                while not self._work and (remaining := deadline - time.monotonic()) > 0:
                    self._cond.wait(remaining)
                self._idle -= 1
                if not self._work:
                    self._workers -= 1
                    return
                fn = self._work.popleft()
                self._running += 1
            try:
                fn()
            except Exception:  # noqa: BLE001 - Task reports its own errors; this is a last resort
                log.exception("%s: background call failed", self.name)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()


class Executors:
    """The app's executors (see the module's docstring). Owned by the composition root."""

    def __init__(self) -> None:
        self.lookups = WorkQueue("trayapp-lookup", threads=LOOKUP_THREADS)
        self.settings = WorkQueue("trayapp-settings")
        self._queues: dict[str, WorkQueue] = {}
        self._lock = threading.Lock()

    def queue(self, key: str) -> WorkQueue:
        """The serial queue of one service or port (``"service backend"``, ``"port 5000"``)."""
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = WorkQueue(f"trayapp-{key.replace(' ', '-')}")
            return queue

    def wait(self, timeout: float) -> bool:
        """Wait, at most ``timeout`` seconds in all, for every executor to be idle; True if they are."""
        deadline = time.monotonic() + timeout
        with self._lock:
            queues = [self.lookups, self.settings, *self._queues.values()]
        return all(q.wait(max(0.0, deadline - time.monotonic())) for q in queues)


class Task(QObject):
    """One call run off the GUI thread. Connect ``done``/``failed`` to real slots.

    PySide6 delivers a queued signal on the receiver's thread only for QObject slots, so
    connect them to ``@Slot`` methods, never to lambdas (a lambda would run on the worker).
    """

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn

    def start(self, runner: WorkQueue | QThreadPool | None = None) -> Task:
        """Run on ``runner`` (default: Qt's global pool). Connect ``done``/``failed`` before calling;
        the task deletes itself after."""
        self.done.connect(self.deleteLater)
        self.failed.connect(self.deleteLater)
        if isinstance(runner, WorkQueue):
            runner.submit(self._run)
        else:
            (runner or QThreadPool.globalInstance()).start(_Runnable(self))
        return self

    def _run(self) -> None:  # worker thread
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - reported to the user as a sentence
            log.exception("background task failed")
            self._emit(self.failed, f"{type(exc).__name__}: {exc}")
        else:
            self._emit(self.done, result)

    @staticmethod
    def _emit(signal: Any, value: object) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the owner (and this task with it) was deleted meanwhile: after Quit
            log.debug("a background task ended after its owner was gone")


class _Runnable(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task._run()
