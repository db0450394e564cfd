"""What a crash means: when exits add up to a crash loop, and how long autorestart waits."""

from __future__ import annotations

import signal
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from trayapp.clock import Clock

CRASH_LOOP_EXITS = 5  # exits within CRASH_LOOP_WINDOW that make a crash loop
CRASH_LOOP_WINDOW = 60.0
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET_AFTER = 1.0, 30.0, 30.0


def backoff_delay(restarts: int) -> float:
    """Seconds before the next automatic restart: 1 s doubling to 30 s."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, restarts))


def describe_exit(code: int | None) -> str:
    """ "exited with code 1", "was killed by SIGKILL", or "exited" when the code is unknown (an adopted child)."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass(frozen=True)
class CrashVerdict:
    """What one exit means for a service."""

    crash_loop: bool
    exits: int  # exits within the window, this one included
    repeated: str | None  # a crash loop's most frequent error line (None: no exit printed one)
    restart_in: float | None  # seconds until the automatic restart; None: no restart


class CrashPolicy:
    """One service's crash history: a crash loop is ``loop_exits`` exits within ``window``
    seconds; autorestart backs off (``backoff(n)`` before the n-th restart in a row, from 0)
    and starts counting again after a run of ``reset_after`` seconds.

    Pure and clock-driven (tests use :class:`~trayapp.clock.ManualClock`); not thread-safe:
    the supervisor calls it under its lock.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        autorestart: bool,
        backoff: Callable[[int], float] = backoff_delay,
        loop_exits: int = CRASH_LOOP_EXITS,
        window: float = CRASH_LOOP_WINDOW,
        reset_after: float = BACKOFF_RESET_AFTER,
    ) -> None:
        self._clock = clock
        self.autorestart = autorestart
        self._backoff = backoff
        self._loop_exits = loop_exits
        self._window = window
        self._reset_after = reset_after
        self._exits: deque[tuple[float, str | None]] = deque()  # (monotonic time, error line)
        self._restarts = 0

    def exited(self, error: str | None, uptime: float) -> CrashVerdict:
        """An exit nobody asked for, after ``uptime`` seconds of running, whose output said ``error``."""
        now = self._clock.monotonic()
        self._exits.append((now, error))
        while self._exits and self._exits[0][0] < now - self._window:
            self._exits.popleft()
        if uptime >= self._reset_after:
            self._restarts = 0
        if len(self._exits) >= self._loop_exits:
            repeated = Counter(e for _, e in self._exits if e).most_common(1)
            return CrashVerdict(True, len(self._exits), repeated[0][0] if repeated else None, None)
        if not self.autorestart:
            return CrashVerdict(False, len(self._exits), None, None)
        delay = self._backoff(self._restarts)
        self._restarts += 1
        return CrashVerdict(False, len(self._exits), None, delay)
