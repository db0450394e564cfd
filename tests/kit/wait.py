"""Waiting on conditions, never on time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)  # ok-sleep: poll interval of a condition wait, not a synchronisation delay


class LineReader:
    """Reads lines from a child's pipe with a deadline (select on the raw fd, no hidden buffering)."""

    def __init__(self, stream: object) -> None:
        import os

        self._fd = stream.fileno()  # type: ignore[attr-defined]
        self._read = os.read
        self._buffer = b""

    def line(self, timeout: float = 10.0) -> str:
        import select

        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._fd], [], [], max(0.0, remaining))
            if not ready:
                raise AssertionError(f"no line within {timeout} s (have {self._buffer!r})")
            chunk = self._read(self._fd, 65536)
            if not chunk:
                raise AssertionError(f"the stream ended (have {self._buffer!r})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()
