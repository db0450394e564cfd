"""Clocks the engine reads, injectable so tests move time instead of sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds for measuring intervals; never jumps backwards."""

    def wall(self) -> float:
        """Unix time, for timestamps shown to people."""

    def on_advance(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever time moves by other means than passing (manual clocks)."""


class SystemClock:
    """The real clocks: ``time.monotonic`` for intervals, ``time.time`` for timestamps."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def on_advance(self, callback: Callable[[], None]) -> None:
        pass  # real time wakes waiters through their timeouts


class ManualClock:
    """A clock that only moves when told to; waiters are woken on every move."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_800_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self._wall_offset = wall_start - start
        self._callbacks: list[Callable[[], None]] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def on_advance(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
        for callback in list(self._callbacks):
            callback()
