"""The monitor engine on a manual clock against a real backend: thresholds, transitions, scheduling."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.kit.servers import free_port
from tests.kit.services import http_service, tcp_service
from tests.kit.wait import wait_until
from trayapp.clock import ManualClock
from trayapp.model import CheckResult, Kind, Reason, State, Transition
from trayapp.monitor.scheduler import CheckEvent, Event, Monitor

WAIT = 10.0  # upper bound for one real check to arrive; never a fixed sleep


class Recorder:
    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def __call__(self, event: Event) -> None:
        self.events.put(event)

    def next(self) -> Event:
        return self.events.get(timeout=WAIT)

    def next_check(self) -> CheckEvent:
        event = self.next()
        assert isinstance(event, CheckEvent), event
        return event

    def next_transition(self) -> Transition:
        event = self.next()
        assert isinstance(event, Transition), event
        return event


@pytest.fixture
def run_monitor() -> Iterator:
    monitors: list[Monitor] = []

    def start(*services, clock: ManualClock, **options: float) -> tuple[Monitor, Recorder]:
        monitor = Monitor(list(services), clock=clock, **options)  # type: ignore[arg-type]
        recorder = Recorder()
        monitor.subscribe(recorder)
        monitors.append(monitor)
        monitor.start()
        return monitor, recorder

    yield start
    for monitor in monitors:
        monitor.stop()


def test_one_failure_is_a_blip_two_are_an_outage_one_success_recovers(backend, run_monitor) -> None:
    server = backend("healthy")
    clock = ManualClock()
    monitor, events = run_monitor(http_service(server.url(), interval=2.0), clock=clock)

    assert events.next_check().service_state is State.UP
    up = events.next_transition()
    assert (up.old, up.new) == (State.UNKNOWN, State.UP)

    server.set_mode("status_500")
    clock.advance(2.0)
    blip = events.next_check()
    assert (blip.result.state, blip.service_state, blip.failures) == (State.DOWN, State.UP, 1)

    clock.advance(2.0)
    assert events.next_check().service_state is State.DOWN
    down = events.next_transition()
    assert (down.old, down.new, str(down.reason)) == (State.UP, State.DOWN, "http_status")
    assert down.duration_s == pytest.approx(4.0)
    assert "500" in down.detail

    server.set_mode("healthy")
    clock.advance(2.0)
    assert events.next_check().service_state is State.UP
    back = events.next_transition()
    assert (back.old, back.new) == (State.DOWN, State.UP)
    assert back.duration_s == pytest.approx(2.0)
    assert [s.state for s in monitor.status()] == [State.UP]


def test_next_check_waits_for_the_interval(backend, run_monitor) -> None:
    server = backend("healthy")
    clock = ManualClock()
    monitor, events = run_monitor(http_service(server.url(), interval=5.0), clock=clock)
    events.next_check()
    events.next_transition()
    clock.advance(4.9)
    monitor.check_now()  # a later event proves nothing ran at 4.9 s: only this one arrives
    assert events.next_check().service_state is State.UP
    assert events.events.empty()
    assert server.hits() == 2


def test_a_hung_server_gets_one_check_at_a_time(backend, run_monitor) -> None:
    server = backend("hang")
    clock = ManualClock()
    monitor, events = run_monitor(http_service(server.url(), timeout=0.5, interval=1.0), clock=clock)
    wait_until(lambda: server.hits() == 1, what="the first check to reach the server")
    for _ in range(5):  # impatient clicks on "Check now" while the first check hangs
        monitor.check_now()
    first = events.next_check()
    assert str(first.result.reason) == "timeout"
    second = events.next_check()  # the clicks fold into one follow-up check
    assert str(second.result.reason) == "timeout"
    assert events.next_transition().new is State.DOWN
    server.set_mode("healthy")
    assert server.hits() == 2


def test_degraded_and_down_move_without_a_second_threshold(backend, run_monitor) -> None:
    server = backend("db_down_503")
    clock = ManualClock()
    _, events = run_monitor(http_service(server.url(), interval=1.0), clock=clock)
    events.next_check()
    clock.advance(1.0)
    events.next_check()
    assert events.next_transition().new is State.DEGRADED
    server.set_mode("status_500")
    clock.advance(1.0)
    events.next_check()
    assert events.next_transition().new is State.DOWN


def test_each_service_runs_on_its_own_schedule(backend, run_monitor) -> None:
    fast, slow = backend("healthy"), backend("healthy")
    clock = ManualClock()
    _, events = run_monitor(
        http_service(fast.url(), name="fast", interval=1.0),
        http_service(slow.url(), name="slow", interval=3.0),
        clock=clock,
    )
    for _ in range(4):  # first check and first transition of each
        events.next()
    checked = []
    for expected in (1, 1, 2):  # at t=1 and t=2 only "fast" is due, at t=3 both are
        clock.advance(1.0)
        checked += sorted(events.next_check().result.service for _ in range(expected))
    assert checked == ["fast", "fast", "fast", "slow"]
    assert (fast.hits(), slow.hits()) == (4, 2)


def test_burst_checks_at_once_and_after_each_delay(backend, run_monitor) -> None:
    server = backend("healthy")
    clock = ManualClock()
    monitor, events = run_monitor(http_service(server.url(), interval=60.0), clock=clock)
    events.next_check()
    events.next_transition()
    monitor.burst([0.5, 1.0, 2.0])
    events.next_check()  # at once
    seen = []
    for step in (0.5, 0.5, 1.0):  # t = 0.5, 1, 2 after the burst
        clock.advance(step)
        seen.append(events.next_check().result.service)
    assert seen == ["backend"] * 3
    assert server.hits() == 5  # first check + 4 of the burst; the 60 s interval never fell due


def test_a_stop_holds_stopping_through_failed_checks_until_its_outcome(backend, run_monitor) -> None:
    server = backend("healthy")
    clock = ManualClock()
    monitor, events = run_monitor(http_service(server.url(), name="backend", interval=2.0), clock=clock)
    healthy = events.next_check().result
    events.next_transition()  # unknown -> up

    sent = "SIGTERM sent to backend (pid 4242)."
    monitor.mark_stopping("backend", replace(healthy, state=State.STOPPING, reason=Reason.OK, detail=sent))
    assert events.next_check().service_state is State.STOPPING
    began = events.next_transition()
    assert (began.old, began.new) == (State.UP, State.STOPPING)

    server.set_mode("status_500")  # shutting down: it answers badly, then not at all
    for _ in range(3):
        clock.advance(2.0)
        check = events.next_check()
        assert (check.result.state, check.service_state) == (State.DOWN, State.STOPPING)
    assert events.events.empty()  # no transition: a stop you asked for is not an outage

    monitor.report(replace(healthy, state=State.DOWN, reason=Reason.STOPPED, detail="backend was stopped by you."))
    events.next_check()
    done = events.next_transition()
    assert (done.old, done.new, done.reason) == (State.STOPPING, State.DOWN, Reason.STOPPED)


def test_a_check_that_answered_before_a_stop_does_not_replace_what_the_stop_says(backend, run_monitor) -> None:
    # Stop pressed while a check waits for its answer: the answer is from before the stop, and the
    # refusals after it are the stop's own doing; the window keeps saying "SIGTERM sent ...".
    server = backend("slow", delay=1.0)
    clock = ManualClock()
    service = http_service(server.url(), name="backend", interval=2.0, timeout=5.0, slow_ms=5000)
    monitor, events = run_monitor(service, clock=clock)
    healthy = events.next_check().result
    events.next_transition()  # unknown -> up
    clock.advance(2.0)
    wait_until(lambda: server.hits() == 2, what="the second check to wait for its answer")

    sent = "SIGTERM sent to backend (pid 4242)."
    monitor.mark_stopping("backend", replace(healthy, state=State.STOPPING, reason=Reason.OK, detail=sent))
    assert events.next_check().result.detail == sent
    assert events.next_transition().new is State.STOPPING
    late = events.next_check()  # the answer to the check in flight
    assert (late.result.detail, late.service_state) == (sent, State.STOPPING)

    server.kill()  # the port closes
    clock.advance(2.0)
    refused = events.next_check()
    assert (refused.result.detail, refused.service_state) == (sent, State.STOPPING)


def test_a_subscriber_gets_each_services_events_in_the_order_they_happened(backend, run_monitor) -> None:
    # The worker thread's check (up) is decided first, but its delivery is held up; meanwhile a
    # managed child's exit is reported from another thread (down). The window must end on down,
    # the state the monitor holds, not on the older up delivered last.
    server = backend("healthy")
    monitor = Monitor([http_service(server.url(), interval=60.0)], clock=ManualClock())
    held, release = threading.Event(), threading.Event()

    def slow_subscriber(event: Event) -> None:  # a GUI that is busy for a moment
        if threading.current_thread().name.startswith("trayapp-check-") and not held.is_set():
            held.set()
            release.wait(WAIT)

    seen = Recorder()
    monitor.subscribe(slow_subscriber)
    monitor.subscribe(seen)
    monitor.start()
    try:
        assert held.wait(WAIT)
        first = monitor.status()[0].last
        assert first is not None and first.state is State.UP
        exited = replace(first, state=State.DOWN, reason=Reason.EXITED, detail="backend exited with code 1")
        monitor.report(exited)  # from the supervisor's exit watcher
        release.set()
        events = [seen.next() for _ in range(4)]
    finally:
        release.set()
        monitor.stop()
    states = [e.service_state if isinstance(e, CheckEvent) else (e.old, e.new) for e in events]
    assert states == [State.UP, (State.UNKNOWN, State.UP), State.DOWN, (State.UP, State.DOWN)]


def _workers(name: str) -> list[threading.Thread]:
    """The threads in a check of service ``name`` now (a worker takes the service's name while it checks it)."""
    return [t for t in threading.enumerate() if t.name == f"trayapp-check-{name}"]


def test_a_reload_keeps_unchanged_services_and_retires_replaced_workers_without_waiting(backend, run_monitor) -> None:
    api, hung = backend("healthy"), backend("hang")
    clock = ManualClock()
    monitor, events = run_monitor(
        http_service(api.url(), name="api", interval=60.0),
        http_service(hung.url(), name="hung", timeout=0.5, interval=2.0),
        tcp_service("127.0.0.1", free_port(), name="gone", interval=60.0),
        clock=clock,
    )
    seen: list[Event] = []
    while not any(isinstance(e, Transition) and e.service == "hung" and e.new is State.DOWN for e in seen):
        seen.append(events.next())
        if isinstance(seen[-1], CheckEvent) and seen[-1].result.service == "hung":
            clock.advance(2.0)  # its next check, until two timeouts make it down
    wait_until(lambda: [s.checking for s in monitor.status()] == [False, True, False], what="hung's third check")
    assert events.events.empty()
    api_worker = _workers("api")

    done = monitor.reconfigure(
        [
            http_service(api.url(), name="api", interval=60.0),  # unchanged
            http_service(hung.url(), name="hung", timeout=1.5, interval=2.0),  # a new timeout
            tcp_service("127.0.0.1", api.port, name="web", interval=60.0),  # new
        ]
    )  # "gone" is dropped

    assert (done.added, done.changed, done.removed, done.kept) == (("web",), ("hung",), ("gone",), ("api",))
    assert monitor.status()[1].checking  # the new probe is checked at once, beside the old one's check:
    wait_until(lambda: len(_workers("hung")) == 2, what="hung's new check beside the old one, not waited for")
    assert [s.service.name for s in monitor.status()] == ["api", "hung", "web"]
    after: list[Event] = [events.next() for _ in range(3)]  # hung and web checked at once; web comes up
    wait_until(lambda: not _workers("hung") and not _workers("gone"), what="the retired check to end")
    after += list(events.events.queue)
    hung_checks = [e for e in after if isinstance(e, CheckEvent) and e.result.service == "hung"]
    assert [(e.service_state, e.failures) for e in hung_checks] == [(State.DOWN, 3)]  # the outage goes on
    assert "within 1.5 s" in hung_checks[0].result.detail  # from the new worker only
    transitions = [(e.service, e.old, e.new) for e in after if isinstance(e, Transition)]
    assert transitions == [("web", State.UNKNOWN, State.UP)]  # nothing announced again
    assert not any(e.result.service in ("api", "gone") for e in after if isinstance(e, CheckEvent))
    assert _workers("api") == api_worker  # the unchanged service's worker goes on
    clock.advance(60.0)
    assert {events.next_check().result.service for _ in range(3)} == {"api", "hung", "web"}


def _checks(events: Recorder, n: int) -> list[CheckEvent]:
    """The next ``n`` check events, skipping the transitions between them."""
    checks: list[CheckEvent] = []
    while len(checks) < n:
        event = events.next()
        if isinstance(event, CheckEvent):
            checks.append(event)
    return checks


def _monitor_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("trayapp-")]


def test_a_hung_service_delays_no_other_service_with_a_small_pool(backend, run_monitor) -> None:
    # One worker for six services, the first of them hung with a 30 s timeout: its check is
    # handed to its own thread, and the others are checked, twice, while it is still in flight.
    hung, api = backend("hang"), backend("healthy")
    clock = ManualClock()
    others = [tcp_service("127.0.0.1", api.port, name=f"tcp{i}", interval=60.0) for i in range(5)]
    monitor, events = run_monitor(
        http_service(hung.url(), name="hung", timeout=30.0, interval=60.0),
        *others,
        clock=clock,
        workers=1,
        stall_after=0.2,
    )
    for _ in range(2):
        checked = _checks(events, len(others))  # each within WAIT, far below hung's 30 s
        assert sorted(e.result.service for e in checked) == [s.name for s in others]
        assert all(e.result.state is State.UP for e in checked)
        assert monitor.status()[0].checking and hung.hits() == 1  # hung's one check is still in flight
        clock.advance(60.0)


def test_threads_stay_bounded_with_a_hundred_services(backend, run_monitor) -> None:
    api = backend("healthy")
    clock = ManualClock()
    before = set(threading.enumerate())
    services = [tcp_service("127.0.0.1", api.port, name=f"tcp{i}", interval=60.0) for i in range(100)]
    monitor, events = run_monitor(*services, clock=clock, workers=4)
    for _ in range(2):
        checked = {e.result.service for e in _checks(events, len(services))}
        assert checked == {s.name for s in services}
        threads = _monitor_threads(before)
        assert 1 <= len(threads) <= 5, [t.name for t in threads]  # the scheduler and at most 4 workers
        clock.advance(60.0)


def test_a_popup_about_several_services_lists_each_by_its_headline(run_monitor) -> None:
    """Three services down at start-up make one popup of three short lines, not three sentences
    (a notification is read at a glance; the sentences stay in the window and the tooltip)."""
    from trayapp.monitor.notifier import Notifier

    ports = [free_port() for _ in range(3)]  # reserved, nobody listens: refused
    services = [tcp_service("127.0.0.1", port, name=f"svc{i}", down_after=1) for i, port in enumerate(ports)]
    clock = ManualClock()
    notifier = Notifier(clock)
    _, events = run_monitor(*services, clock=clock)
    downs = []
    while len(downs) < 3:
        event = events.next()
        if isinstance(event, Transition):
            downs.append(event)
            notifier.feed(event)
    clock.advance(notifier.batch_window)
    (popup,) = notifier.poll()

    assert popup.title == "3 services are down"
    lines = popup.message.splitlines()
    assert sorted(lines) == [f"svc{i}: down — nothing listens on port {port}" for i, port in enumerate(ports)]
    assert all(len(line) < 80 for line in lines)
    assert all(t.headline and t.headline != t.detail for t in downs)


def test_a_reload_drops_the_old_schedule_and_a_readded_service_gets_one(backend, run_monitor) -> None:
    # The scheduler keeps (due time, service) items in a heap and skips outdated ones when they
    # come up: a service whose interval a reload lengthened is not checked at its old due time,
    # one dropped is not checked at all, and one added again is checked on its new schedule.
    api = backend("healthy")
    clock = ManualClock()
    tick = tcp_service("127.0.0.1", api.port, name="tick", interval=2.0)  # unchanged throughout
    monitor, events = run_monitor(
        http_service(api.url(), name="api", interval=30.0),
        tcp_service("127.0.0.1", api.port, name="web", interval=30.0),
        tick,
        clock=clock,
    )
    assert {e.result.service for e in _checks(events, 3)} == {"api", "web", "tick"}
    monitor.reconfigure([http_service(api.url(), name="api", interval=60.0), tick])  # "web" is dropped
    assert _checks(events, 1)[0].result.service == "api"  # a changed service is checked at once
    clock.advance(30.0)  # api's and web's old due time: neither is checked
    assert _checks(events, 1)[0].result.service == "tick"  # the scheduler has been through the 30 s items
    wait_until(lambda: not any(s.checking for s in monitor.status()), what="the checks to finish")
    assert [e for e in events.events.queue if isinstance(e, CheckEvent)] == []
    monitor.pause()
    monitor.reconfigure(
        [
            http_service(api.url(), name="api", interval=60.0),
            tick,
            tcp_service("127.0.0.1", api.port, name="web", interval=60.0),
        ]
    )
    monitor.resume()  # the re-added "web" is due at once, then at 90 s; "api" at 60 s, "tick" at 32 s
    assert _checks(events, 1)[0].result.service == "web"
    clock.advance(2.0)
    assert _checks(events, 1)[0].result.service == "tick"
    wait_until(lambda: not any(s.checking for s in monitor.status()), what="the checks to finish")
    assert [e for e in events.events.queue if isinstance(e, CheckEvent)] == []
    assert api.hits() == 2
    clock.advance(60.0)  # everybody's interval has passed
    assert {e.result.service for e in _checks(events, 3)} == {"api", "web", "tick"}


def test_an_exit_reported_after_a_check_found_the_port_closed_still_says_why(run_monitor) -> None:
    """The race of a crash: a check finds the port closed (confirmed at once for a child known to
    be gone) a moment before the supervisor reports the exit. The report still reaches the
    popup: a transition that keeps the state and carries the reason, in the same batch."""
    from trayapp.monitor.notifier import Notifier

    port = free_port()  # nobody listens
    clock = ManualClock()
    notifier = Notifier(clock)
    monitor, events = run_monitor(tcp_service("127.0.0.1", port, name="backend", down_after=1), clock=clock)
    refused = events.next()
    while not isinstance(refused, Transition):
        refused = events.next()
    assert (refused.new, refused.reason) == (State.DOWN, Reason.REFUSED)
    notifier.feed(refused)

    said = "backend was killed by SIGKILL"
    monitor.report(CheckResult("backend", Kind.TCP, "t", State.DOWN, Reason.EXITED, said, None, clock.wall()))
    explained = events.next()
    while not isinstance(explained, Transition):
        explained = events.next()
    assert (explained.old, explained.new, explained.reason) == (State.DOWN, State.DOWN, Reason.EXITED)
    notifier.feed(explained)
    clock.advance(notifier.batch_window)
    (popup,) = notifier.poll()
    assert (popup.title, popup.message) == ("backend is down", said)
    # the same explanation again is no news
    monitor.report(CheckResult("backend", Kind.TCP, "t", State.DOWN, Reason.EXITED, said, None, clock.wall()))
    assert isinstance(events.next(), CheckEvent)
    assert events.events.empty()  # its check, and no transition
