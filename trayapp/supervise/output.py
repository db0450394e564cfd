"""A managed child's captured output: the file its stdout and stderr go to.

The file is opened with O_APPEND for the child, starts each run with a header line saying
what was started, and is kept under a size by :class:`OutputRotator` while children run
(copytruncate, see :func:`trayapp.logs.rotate.rotate_log_file`).
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from trayapp.logs.rotate import file_size, rotate_log_file

log = logging.getLogger(__name__)

LOG_MAX_BYTES = 5 * 1024 * 1024  # a captured-output file is rotated past this size ...
LOG_CHECK_S = 2.0  # ... measured this often while a child runs


def open_for_child(path: Path, max_bytes: int, rotating: threading.Lock) -> BinaryIO:
    """Open ``path`` for appending (rotating it first, by rename, when it is over ``max_bytes``)."""
    with rotating:
        if file_size(path) >= max_bytes:
            rotate_log_file(path, live=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab")  # noqa: SIM115 - O_APPEND, so a copytruncate rotation leaves no hole


def write_header(out: BinaryIO, name: str, argv: Iterable[str], cwd: str | None) -> None:
    """The line that starts a run's output: when, what and where."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    out.write(f"[trayapp {stamp}] starting {name}: {shlex.join(argv)} (in {cwd})\n".encode())
    out.flush()


class OutputRotator:
    """One daemon thread that keeps running children's output files under ``max_bytes``.

    ``running()`` gives (service name, path) of each child that runs now; it is asked on
    the rotator's thread. ``rotating`` is held during each rotation (a start rotates too).
    """

    def __init__(
        self,
        running: Callable[[], list[tuple[str, Path]]],
        rotating: threading.Lock,
        closed: threading.Event,
        *,
        max_bytes: int = LOG_MAX_BYTES,
        interval: float = LOG_CHECK_S,
    ) -> None:
        self._running = running
        self._rotating = rotating
        self._closed = closed
        self.max_bytes = max_bytes
        self._interval = interval
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="trayapp-logrotate", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        """The rotator's thread. It never dies of an error: each is logged with its traceback
        (once while it repeats) and the file is tried again at the next interval."""
        failing: dict[str, str] = {}  # service -> the error its last rotation failed with
        while not self._closed.wait(self._interval):
            try:
                running = self._running()
            except Exception:
                log.exception("cannot tell which children run; trying again")
                continue
            for name, path in running:
                try:
                    self._rotate_if_big(name, path)
                except Exception as exc:  # noqa: BLE001 - logged; a full disk must not end rotation for good
                    said = f"{type(exc).__name__}: {exc}"
                    if failing.get(name) != said:
                        log.exception("%s: cannot rotate its output %s; trying again every %g s", name, path,
                                      self._interval)  # fmt: skip
                    failing[name] = said
                else:
                    if failing.pop(name, None) is not None:
                        log.info("%s: its output can be rotated again", name)

    def _rotate_if_big(self, name: str, path: Path) -> None:
        if file_size(path) < self.max_bytes:
            return
        with self._rotating:
            if (name, path) in self._running():  # still running: it holds the file open
                moved = rotate_log_file(path, live=True)
                log.info("%s: rotated %d bytes of output to %s.1", name, moved, path.name)
