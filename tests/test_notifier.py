"""The popup policy on a manual clock: what a developer sees pop up, and what stays quiet."""

from __future__ import annotations

import pytest

from tests.kit.services import make_service
from trayapp.clock import ManualClock
from trayapp.model import Reason, State, Transition
from trayapp.monitor.notifier import Announcement, Notifier, Severity
from trayapp.monitor.scheduler import first_verdict_bound
from trayapp.text import humanize_duration

UP, DEGRADED, DOWN, UNKNOWN = State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN

DETAILS = {
    UP: "{name} answers HTTP 200 in 12 ms.",
    DEGRADED: "{name} answered, but took 3.1 s (slower than 2 s).",
    DOWN: "Nothing listens on port 8000: {name} is not running.",
}
REASONS = {UP: Reason.OK, DEGRADED: Reason.SLOW, DOWN: Reason.REFUSED}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def notifier(clock: ManualClock) -> Notifier:
    return Notifier(clock)


def change(
    notifier: Notifier, clock: ManualClock, name: str, old: State, new: State, duration: float | None = 10.0
) -> None:
    """Feed one transition as the monitor would, now."""
    detail = DETAILS[new].format(name=name)
    notifier.feed(Transition(name, old, new, REASONS[new], detail, clock.wall(), duration))


def when_due(notifier: Notifier, clock: ManualClock) -> list[Announcement]:
    """Move time to ``next_due()``, as the shell's timer would, and poll."""
    due = notifier.next_due()
    if due is not None:
        clock.advance(max(0.0, due - clock.monotonic()))
    return notifier.poll()


def only(announcements: list[Announcement]) -> Announcement:
    assert len(announcements) == 1, announcements
    return announcements[0]


# -- startup ------------------------------------------------------------------


def test_services_coming_up_at_startup_are_silent(notifier: Notifier, clock: ManualClock) -> None:
    for name in ("backend", "vite", "db"):
        change(notifier, clock, name, UNKNOWN, UP, duration=None)
    assert when_due(notifier, clock) == []
    assert notifier.next_due() is None


def test_a_problem_already_there_at_startup_is_announced(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "db", UNKNOWN, DOWN, duration=None)
    popup = only(when_due(notifier, clock))
    assert popup.title == "db is down"
    assert popup.message == "Nothing listens on port 8000: db is not running."
    assert popup.severity is Severity.CRITICAL
    assert popup.services == ("db",)


# -- one service --------------------------------------------------------------


def test_going_down_says_why(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", UP, DOWN)
    assert only(when_due(notifier, clock)) == Announcement(
        title="backend is down",
        message="Nothing listens on port 8000: backend is not running.",
        services=("backend",),
        severity=Severity.CRITICAL,
        kind="problem",
    )


def test_degraded_is_a_warning(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", UP, DEGRADED)
    popup = only(when_due(notifier, clock))
    assert (popup.title, popup.severity, popup.kind) == ("backend is degraded", Severity.WARNING, "problem")
    assert popup.message == "backend answered, but took 3.1 s (slower than 2 s)."


@pytest.mark.parametrize(("old", "new", "title", "severity"), [
    (DEGRADED, DOWN, "backend is down", Severity.CRITICAL),
    (DOWN, DEGRADED, "backend is degraded", Severity.WARNING),
])  # fmt: skip
def test_moving_between_bad_states_announces_the_new_one(
    notifier: Notifier, clock: ManualClock, old: State, new: State, title: str, severity: Severity
) -> None:
    change(notifier, clock, "backend", old, new)
    popup = only(when_due(notifier, clock))
    assert (popup.title, popup.severity) == (title, severity)


@pytest.mark.parametrize(("duration", "title"), [
    (8.2, "backend is back after 8 s"),
    (42.0, "backend is back after 42 s"),
    (180.0, "backend is back after 3 min"),
    (3900.0, "backend is back after 1 h 5 min"),
    (None, "backend is back"),
])  # fmt: skip
def test_recovery_says_how_long_it_was_out(
    notifier: Notifier, clock: ManualClock, duration: float | None, title: str
) -> None:
    change(notifier, clock, "backend", DOWN, UP, duration=duration)
    popup = only(when_due(notifier, clock))
    assert popup.title == title
    assert popup.message == "backend answers HTTP 200 in 12 ms."
    assert (popup.severity, popup.kind) == (Severity.INFO, "recovered")


def test_recovery_counts_the_whole_outage_not_only_the_last_bad_state(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", UP, DEGRADED, duration=600.0)
    when_due(notifier, clock)
    change(notifier, clock, "backend", DEGRADED, DOWN, duration=30.0)
    when_due(notifier, clock)
    change(notifier, clock, "backend", DOWN, UP, duration=90.0)
    assert only(when_due(notifier, clock)).title == "backend is back after 2 min"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (59.4, "59 s"), (60, "1 min"), (119, "2 min"), (3600, "1 h"), (3900, "1 h 5 min"),
])  # fmt: skip
def test_humanise(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


# -- batching -----------------------------------------------------------------


def test_services_failing_together_make_one_popup(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "db", UP, DOWN)
    clock.advance(0.2)
    change(notifier, clock, "backend", UP, DOWN)
    popup = only(when_due(notifier, clock))
    assert popup.title == "2 services are down"
    assert popup.message == (
        "db: down — Nothing listens on port 8000: db is not running.\n"
        "backend: down — Nothing listens on port 8000: backend is not running."
    )
    assert popup.services == ("db", "backend")
    assert (popup.severity, popup.kind) == (Severity.CRITICAL, "problem")


def test_changes_further_apart_than_the_batch_window_are_separate_popups(
    notifier: Notifier, clock: ManualClock
) -> None:
    change(notifier, clock, "db", UP, DOWN)
    clock.advance(0.8)  # the shell polled late: the first batch is closed all the same
    change(notifier, clock, "backend", UP, DEGRADED)
    assert only(when_due(notifier, clock)).title == "db is down"  # due at once; the second batch is still open
    assert only(when_due(notifier, clock)).title == "backend is degraded"


def test_a_mixed_batch_lists_the_worst_first(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "vite", DOWN, UP, duration=42.0)
    change(notifier, clock, "db", UP, DEGRADED)
    change(notifier, clock, "backend", UP, DOWN)
    popup = only(when_due(notifier, clock))
    assert popup.title == "3 services changed"
    assert popup.services == ("backend", "db", "vite")
    assert popup.message.splitlines() == [
        "backend: down — Nothing listens on port 8000: backend is not running.",
        "db: degraded — db answered, but took 3.1 s (slower than 2 s).",
        "vite: back after 42 s",
    ]
    assert (popup.severity, popup.kind) == (Severity.CRITICAL, "mixed")


def test_services_recovering_together_are_back_together(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", DOWN, UP)
    clock.advance(0.1)
    change(notifier, clock, "db", DEGRADED, UP)
    popup = only(when_due(notifier, clock))
    assert (popup.title, popup.severity, popup.kind) == ("backend and db are back", Severity.INFO, "recovered")


def test_down_and_degraded_together_is_a_problem_batch(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "db", UP, DEGRADED)
    change(notifier, clock, "backend", UP, DOWN)
    popup = only(when_due(notifier, clock))
    assert popup.title == "2 services are down or degraded"
    assert popup.services == ("backend", "db")
    assert popup.severity is Severity.CRITICAL


def test_a_bounce_inside_one_batch_is_not_announced(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", UP, DOWN)
    clock.advance(0.3)
    change(notifier, clock, "backend", DOWN, UP, duration=0.3)
    assert when_due(notifier, clock) == []


def test_only_the_latest_state_in_a_batch_counts(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", UP, DOWN)
    clock.advance(0.3)
    change(notifier, clock, "backend", DOWN, DEGRADED)
    change(notifier, clock, "db", UP, DOWN)
    popup = only(when_due(notifier, clock))
    assert popup.title == "2 services are down or degraded"
    assert popup.message.splitlines()[1].startswith("backend: degraded — ")


def test_a_startup_in_the_same_batch_as_a_problem_is_left_out(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "vite", UNKNOWN, UP, duration=None)
    change(notifier, clock, "db", UNKNOWN, DOWN, duration=None)
    popup = only(when_due(notifier, clock))
    assert (popup.title, popup.services) == ("db is down", ("db",))


# -- flapping -----------------------------------------------------------------


def test_flapping_is_announced_once_then_quiet_until_it_settles(notifier: Notifier, clock: ManualClock) -> None:
    change(notifier, clock, "backend", UNKNOWN, DOWN, duration=None)  # startup is not a change
    assert only(when_due(notifier, clock)).title == "backend is down"
    titles = []
    for old, new in [(DOWN, UP), (UP, DOWN), (DOWN, UP)]:
        clock.advance(5)
        change(notifier, clock, "backend", old, new, duration=5)
        titles.append(only(when_due(notifier, clock)).title)
    assert titles == ["backend is back after 5 s", "backend is down", "backend is back after 5 s"]

    clock.advance(5)
    change(notifier, clock, "backend", UP, DOWN, duration=5)  # the 4th change within 60 s
    assert only(notifier.poll()) == Announcement(
        title="backend is flapping",
        message="4 changes in 60 s; now down: Nothing listens on port 8000: backend is not running.",
        services=("backend",),
        severity=Severity.WARNING,
        kind="flapping",
    )
    clock.advance(1)
    assert notifier.poll() == []  # the triggering change is not announced as well

    for old, new in [(DOWN, UP), (UP, DOWN), (DOWN, UP), (UP, DOWN)]:
        clock.advance(20)
        change(notifier, clock, "backend", old, new, duration=20)
        clock.advance(1)
        assert notifier.poll() == []
    assert notifier.next_due() == clock.monotonic() - 1 + 60

    clock.advance(58.9)
    assert notifier.poll() == []
    assert only(when_due(notifier, clock)) == Announcement(
        title="backend has settled: down",
        message="Nothing listens on port 8000: backend is not running.",
        services=("backend",),
        severity=Severity.CRITICAL,
        kind="settled",
    )
    assert notifier.next_due() is None

    clock.advance(10)
    change(notifier, clock, "backend", DOWN, UP, duration=70)
    assert only(when_due(notifier, clock)).title == "backend is back after 1 min"


def test_settling_up_says_so(notifier: Notifier, clock: ManualClock) -> None:
    for old, new in [(UP, DOWN), (DOWN, UP), (UP, DOWN), (DOWN, UP)]:
        clock.advance(2)
        change(notifier, clock, "vite", old, new)
    assert [p.kind for p in when_due(notifier, clock)] == ["problem", "recovered", "problem", "flapping"]
    popup = only(when_due(notifier, clock))
    assert (popup.title, popup.message, popup.severity) == ("vite has settled: up", "no change for 60 s", Severity.INFO)


def test_changes_spread_over_more_than_the_flap_window_are_not_flapping(notifier: Notifier, clock: ManualClock) -> None:
    kinds = []
    for old, new in [(UP, DOWN), (DOWN, UP), (UP, DOWN), (DOWN, UP), (UP, DOWN)]:
        clock.advance(25)
        change(notifier, clock, "backend", old, new)
        kinds += [p.kind for p in when_due(notifier, clock)]
    assert kinds == ["problem", "recovered", "problem", "recovered", "problem"]


def test_one_service_flapping_does_not_silence_the_others(notifier: Notifier, clock: ManualClock) -> None:
    for old, new in [(UP, DOWN), (DOWN, UP), (UP, DOWN), (DOWN, UP), (UP, DOWN)]:
        clock.advance(2)
        change(notifier, clock, "vite", old, new)
    when_due(notifier, clock)
    change(notifier, clock, "db", UP, DOWN)
    assert only(when_due(notifier, clock)).title == "db is down"


# -- do not disturb -----------------------------------------------------------


def test_do_not_disturb_drops_popups_rather_than_queueing_them(notifier: Notifier, clock: ManualClock) -> None:
    notifier.do_not_disturb = True
    change(notifier, clock, "backend", UP, DOWN)
    assert when_due(notifier, clock) == []
    notifier.do_not_disturb = False
    assert notifier.poll() == []
    assert notifier.next_due() is None
    change(notifier, clock, "backend", DOWN, UP, duration=30)
    assert only(when_due(notifier, clock)).title == "backend is back after 30 s"


def test_flapping_is_still_tracked_during_do_not_disturb(notifier: Notifier, clock: ManualClock) -> None:
    notifier.do_not_disturb = True
    for old, new in [(UP, DOWN), (DOWN, UP), (UP, DOWN), (DOWN, UP)]:
        clock.advance(2)
        change(notifier, clock, "backend", old, new)
        assert when_due(notifier, clock) == []
    notifier.do_not_disturb = False
    clock.advance(10)
    change(notifier, clock, "backend", UP, DOWN)  # still flapping: no popup
    clock.advance(1)
    assert notifier.poll() == []
    assert only(when_due(notifier, clock)).title == "backend has settled: down"


# -- the user's popup preferences (trayapp.desktop.preferences) ----------------------------


def test_with_recovered_popups_off_a_recovery_makes_none_and_a_down_still_does(
    notifier: Notifier, clock: ManualClock
) -> None:
    notifier.set_popups(muted={"recovered"})
    change(notifier, clock, "backend", UP, DOWN)
    assert only(when_due(notifier, clock)).title == "backend is down"
    clock.advance(30)
    change(notifier, clock, "backend", DOWN, UP, duration=30)
    assert when_due(notifier, clock) == []
    # a batch with a recovery and a problem says only the problem, as a problem
    change(notifier, clock, "vite", DOWN, UP, duration=42.0)
    change(notifier, clock, "db", UP, DOWN)
    popup = only(when_due(notifier, clock))
    assert (popup.title, popup.services, popup.kind) == ("db is down", ("db",), "problem")
    notifier.set_popups()  # on again: the next recovery is news
    change(notifier, clock, "db", DOWN, UP, duration=5)
    assert only(when_due(notifier, clock)).title == "db is back after 5 s"


def test_with_problem_popups_off_only_other_news_comes(notifier: Notifier, clock: ManualClock) -> None:
    notifier.set_popups(muted={"problem"})
    change(notifier, clock, "backend", UP, DOWN)
    assert when_due(notifier, clock) == []
    notifier.post(Announcement("backend crashed", "exit code 1", ("backend",), Severity.CRITICAL, "problem"))
    notifier.post(Announcement("trayapp.toml not applied", "line 3", (), Severity.WARNING, "config"))
    assert [p.title for p in notifier.poll()] == ["trayapp.toml not applied"]  # never muted here
    clock.advance(30)
    change(notifier, clock, "backend", DOWN, UP, duration=30)
    assert only(when_due(notifier, clock)).title == "backend is back after 30 s"


def test_with_flapping_popups_off_a_flapping_service_stays_silent_until_and_after_it_settles(
    notifier: Notifier, clock: ManualClock
) -> None:
    notifier.set_popups(muted={"flapping", "settled"})
    kinds = []
    for old, new in [(UP, DOWN), (DOWN, UP), (UP, DOWN), (DOWN, UP), (UP, DOWN)]:
        clock.advance(2)
        change(notifier, clock, "vite", old, new)
        kinds += [p.kind for p in when_due(notifier, clock)]
    assert kinds == ["problem", "recovered", "problem"]  # then no "is flapping", and no more changes
    assert when_due(notifier, clock) == []  # nor "has settled"
    assert notifier.next_due() is None


def test_a_wait_before_popups_swallows_a_problem_undone_within_it_and_delays_one_that_lasts(
    notifier: Notifier, clock: ManualClock
) -> None:
    notifier.set_popups(wait_s=30.0)
    start = clock.monotonic()
    change(notifier, clock, "backend", UP, DOWN)
    assert notifier.next_due() == start + 30.0
    clock.advance(20)
    change(notifier, clock, "backend", DOWN, UP, duration=20)  # back within the wait
    assert when_due(notifier, clock) == []  # neither "down" nor "back"

    clock.advance(100)
    change(notifier, clock, "backend", UP, DOWN)
    clock.advance(29)
    assert notifier.poll() == []  # still waiting
    assert only(when_due(notifier, clock)).title == "backend is down"
    notifier.set_popups(wait_s=0.0)  # no wait: the usual half-second batch
    change(notifier, clock, "backend", DOWN, UP, duration=40)
    assert notifier.next_due() == clock.monotonic() + 0.5


# -- scheduling -----------------------------------------------------------------


def test_next_due_is_the_end_of_the_batch_or_the_settle_check(notifier: Notifier, clock: ManualClock) -> None:
    assert notifier.next_due() is None
    change(notifier, clock, "backend", UP, DOWN)
    assert notifier.next_due() == 1000.5
    clock.advance(0.2)
    change(notifier, clock, "db", UP, DOWN)
    assert notifier.next_due() == 1000.5  # a later change joins the batch, it does not extend it
    clock.advance(0.2)
    assert notifier.poll() == []  # not due yet: nothing is lost by polling early
    clock.advance(0.1)
    assert only(notifier.poll()).title == "2 services are down"
    assert notifier.next_due() is None

    for old, new in [(DOWN, UP), (UP, DOWN), (DOWN, UP)]:
        clock.advance(1)
        change(notifier, clock, "backend", old, new)
    assert notifier.next_due() == clock.monotonic()  # the flapping popup is ready now
    notifier.poll()
    assert notifier.next_due() == clock.monotonic() + 60
    clock.advance(30)
    change(notifier, clock, "backend", UP, DOWN)
    assert notifier.next_due() == clock.monotonic() + 60  # each change pushes the settle check back


def test_hold_drops_transitions_until_it_ends_and_post_queues_a_summary() -> None:
    clock = ManualClock()
    notifier = Notifier(clock)
    notifier.hold(clock.monotonic() + 10)
    notifier.feed(Transition("db", State.UP, State.DOWN, Reason.REFUSED, "Nothing listens.", 0.0, 5.0))
    clock.advance(1)
    notifier.feed(Transition("db", State.DOWN, State.UP, Reason.OK, "db answers ping.", 0.0, 1.0))
    clock.advance(10)
    assert notifier.poll() == []
    summary = Announcement("Back from sleep: all up in 0.8 s", "", ("db",), Severity.INFO, "summary")
    notifier.post(summary)
    assert notifier.poll() == [summary]
    notifier.feed(Transition("db", State.UP, State.DOWN, Reason.REFUSED, "Nothing listens.", 0.0, 5.0))
    clock.advance(1)
    assert [a.title for a in notifier.poll()] == ["db is down"]


def test_a_start_the_user_asked_for_is_not_announced_as_a_recovery() -> None:
    # down -> starting -> up inside one batch: the supervisor says "backend started in 1.2 s".
    clock = ManualClock()
    notifier = Notifier(clock)
    notifier.feed(Transition("backend", State.DOWN, State.STARTING, Reason.OK, "starting…", 0.0, 30.0))
    notifier.feed(Transition("backend", State.STARTING, State.UP, Reason.OK, "backend answers 200 OK.", 0.0, 0.3))
    clock.advance(1)
    assert notifier.poll() == []


def test_a_restart_the_user_asked_for_is_not_announced_even_if_the_stop_took_long() -> None:
    # up -> stopping -> down (stopped) -> starting -> up: the supervisor says "backend restarted in 9.1 s".
    clock = ManualClock()
    notifier = Notifier(clock)
    notifier.feed(Transition("backend", State.UP, State.STOPPING, Reason.OK, "SIGTERM sent", 0.0, 600.0))
    clock.advance(8)  # a slow graceful shutdown: longer than a batch
    assert notifier.poll() == []
    notifier.feed(Transition("backend", State.STOPPING, State.DOWN, Reason.STOPPED, "stopped by you", 0.0, 8.0))
    notifier.feed(Transition("backend", State.DOWN, State.STARTING, Reason.OK, "starting…", 0.0, 0.0))
    notifier.feed(Transition("backend", State.STARTING, State.UP, Reason.OK, "backend answers 200 OK.", 0.0, 1.1))
    clock.advance(1)
    assert notifier.poll() == []
    notifier.feed(Transition("backend", State.UP, State.DOWN, Reason.REFUSED, "Nothing listens.", 0.0, 30.0))
    clock.advance(1)
    assert [a.title for a in notifier.poll()] == ["backend is down"]  # what comes after is news again


def test_a_crash_right_after_a_start_is_still_announced() -> None:
    clock = ManualClock()
    notifier = Notifier(clock)
    notifier.feed(Transition("backend", State.STARTING, State.UP, Reason.OK, "backend answers 200 OK.", 0.0, 0.3))
    notifier.feed(Transition("backend", State.UP, State.DOWN, Reason.EXITED, "backend was killed by SIGKILL", 0.0, 0.1))
    clock.advance(1)
    assert [a.title for a in notifier.poll()] == ["backend is down"]


# -- start-up summary (issue 9, section 5) ----------------------------------------------------


def test_a_start_up_with_several_failing_services_makes_one_summary(notifier: Notifier, clock: ManualClock) -> None:
    """Three services reach their thresholds 2, 5 and 9 s after start: one popup, not three."""
    notifier.expect_first_verdicts({"vite": 10.0, "backend": 10.0, "frontend": 10.0, "db": 10.0})
    change(notifier, clock, "vite", UNKNOWN, UP, duration=None)
    for name, at in (("backend", 2.0), ("frontend", 5.0), ("db", 9.0)):
        clock.advance(at - (clock.monotonic() - 1000.0))
        assert notifier.poll() == []
        if name != "db":
            assert notifier.next_due() == 1010.0  # the bound, until the last first verdict is in
        change(notifier, clock, name, UNKNOWN, DOWN, duration=None)
    summary = only(when_due(notifier, clock))
    assert clock.monotonic() == 1009.5  # the last verdict plus the batch window, not the bound
    assert (summary.title, summary.kind, summary.severity) == ("3 services are down", "problem", Severity.CRITICAL)
    assert summary.services == ("backend", "frontend", "db")
    assert summary.message.splitlines()[0] == "backend: down — Nothing listens on port 8000: backend is not running."

    clock.advance(30)
    change(notifier, clock, "backend", DOWN, UP)  # after start-up: one popup each, as before
    assert only(when_due(notifier, clock)).title == "backend is back after 10 s"


def test_the_start_up_summary_waits_no_longer_than_the_bound(notifier: Notifier, clock: ManualClock) -> None:
    """A service whose first verdict is late does not hold the others' popup past its bound; its
    own verdict comes later, on its own."""
    notifier.expect_first_verdicts({"backend": 4.0, "db": 30.0})
    clock.advance(2)
    change(notifier, clock, "backend", UNKNOWN, DOWN, duration=None)
    assert notifier.next_due() == 1030.0
    summary = only(when_due(notifier, clock))
    assert (summary.title, clock.monotonic()) == ("backend is down", 1030.0)
    clock.advance(10)
    change(notifier, clock, "db", UNKNOWN, DOWN, duration=None)
    late = only(when_due(notifier, clock))
    assert late.title == "db is down" and clock.monotonic() == 1040.5


def test_first_verdict_bound_is_down_after_checks_of_timeout_interval_apart() -> None:
    service = make_service("backend", "http", url="http://127.0.0.1:5000/", timeout=2, interval=3, down_after=3)
    assert first_verdict_bound(service) == 3 * 2 + 2 * 3
