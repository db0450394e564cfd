"""The crash policy on a manual clock: crash loops, backoff, and when backoff starts over."""

from __future__ import annotations

from trayapp.clock import ManualClock
from trayapp.supervise.crashes import CrashPolicy, backoff_delay

EADDRINUSE = "Error: listen EADDRINUSE: address already in use :::5000"


def test_five_exits_within_a_minute_are_a_crash_loop_named_by_the_error_that_repeats() -> None:
    clock = ManualClock()
    policy = CrashPolicy(clock, autorestart=True)
    verdicts = []
    for error in (EADDRINUSE, "MongoServerSelectionError: connect ECONNREFUSED", EADDRINUSE, None, EADDRINUSE):
        verdicts.append(policy.exited(error, uptime=1.0))
        clock.advance(10)
    assert [v.crash_loop for v in verdicts] == [False, False, False, False, True]
    assert [v.restart_in for v in verdicts] == [1, 2, 4, 8, None]  # autorestart stops at the loop
    assert (verdicts[-1].exits, verdicts[-1].repeated) == (5, EADDRINUSE)


def test_exits_further_apart_than_the_window_never_make_a_loop() -> None:
    clock = ManualClock()
    policy = CrashPolicy(clock, autorestart=False)
    for _ in range(10):
        verdict = policy.exited(EADDRINUSE, uptime=1.0)
        assert not verdict.crash_loop and verdict.restart_in is None  # no autorestart asked for
        clock.advance(15.1)  # four fit in 60 s, never five
    assert verdict.exits == 4


def test_backoff_starts_over_after_a_run_of_thirty_seconds() -> None:
    clock = ManualClock()
    policy = CrashPolicy(clock, autorestart=True)
    delays = []
    for uptime in (1.0, 1.0, 1.0, 31.0, 1.0):
        delays.append(policy.exited(None, uptime=uptime).restart_in)
        clock.advance(61)  # far apart: no crash loop
    assert delays == [1, 2, 4, 1, 2]


def test_backoff_doubles_from_one_second_to_thirty() -> None:
    assert [backoff_delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
