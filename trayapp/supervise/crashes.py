"""What a crash means: when exits add up to a crash loop, and how long autorestart waits."""

from __future__ import annotations

import signal

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
