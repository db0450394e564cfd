"""Knowing when the machine sleeps: logind on a real private D-Bus, the clock fallback, platform decoding.

Suspending the test machine is impossible, so two things are fakes, each behind the interface
the real thing uses: a fake logind service on a real ``dbus-daemon`` (tests/kit/logind.py), and
a clock pair whose "suspended time" the test moves.
"""

from __future__ import annotations

import ctypes
import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from jeepney import DBusAddress, new_signal

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.logind import FakeLogind, PrivateBus, start_fake_logind
from tests.kit.services import http_service, mongo_service, service_toml
from trayapp.clock import ManualClock
from trayapp.model import Transition
from trayapp.monitor.notifier import Announcement, Notifier
from trayapp.monitor.scheduler import CheckEvent, Monitor
from trayapp.power import macos
from trayapp.power.events import ClockPair, PowerEvent, PowerEventKind, PowerMonitor, system_clock_pair
from trayapp.power.logind import LogindSleepSource, decode_prepare_for_sleep
from trayapp.power.sources import sleep_sources
from trayapp.power.wake import WakeCoordinator, WakeSummary
from trayapp.ui import winpower

WAIT = 10.0
SUSPENDING, RESUMED = PowerEventKind.SUSPENDING, PowerEventKind.RESUMED


class FakeClocks:
    """A clock pair the test moves: ``awake`` stops while "suspended", ``total`` does not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._awake = 100.0
        self._total = 100.0

    def pair(self) -> ClockPair:
        return ClockPair("fake-awake", "fake-total", self.awake, self.total)

    def awake(self) -> float:
        with self._lock:
            return self._awake

    def total(self) -> float:
        with self._lock:
            return self._total

    def run(self, seconds: float) -> None:
        """The machine is awake for ``seconds`` (both clocks move)."""
        with self._lock:
            self._awake += seconds
            self._total += seconds

    def suspend(self, seconds: float) -> None:
        """The machine was suspended for ``seconds`` (only the total clock moves)."""
        with self._lock:
            self._total += seconds


class Events:
    """Collects events from any thread; ``next()`` waits with a bound."""

    def __init__(self) -> None:
        self.queue: queue.Queue[object] = queue.Queue()
        self.seen: list[object] = []

    def __call__(self, event: object) -> None:
        self.seen.append(event)
        self.queue.put(event)

    def next(self, timeout: float = WAIT) -> object:
        return self.queue.get(timeout=timeout)

    def power(self, kind: PowerEventKind | None = None) -> list[PowerEvent]:
        return [e for e in self.seen if isinstance(e, PowerEvent) and (kind is None or e.kind is kind)]


@pytest.fixture
def logind(bus: PrivateBus) -> Iterator[FakeLogind]:
    fake = start_fake_logind(bus.address)
    yield fake
    fake.stop()


@pytest.fixture
def stack() -> Iterator:
    """``stack(*services, clock=, clocks=, source=)``: monitor + power + coordinator + notifier, stopped at teardown."""
    stoppers: list = []

    def build(*services, clock: ManualClock, clocks: ClockPair | None = None, source=None, tick=None):
        monitor = Monitor(list(services), clock=clock)
        notifier = Notifier(clock)
        wake = WakeCoordinator(monitor, notifier, clock)
        power = PowerMonitor(clocks=clocks, tick=tick)
        if source is not None:
            power.add_source(source)
        power.subscribe(wake.on_power)
        checks = Events()
        monitor.subscribe(checks)
        monitor.subscribe(lambda e: notifier.feed(e) if isinstance(e, Transition) else None)
        told = Events()
        wake.subscribe(told)
        stoppers.extend([monitor.stop, wake.stop, power.stop])
        monitor.start()
        wake.start()
        power.start()
        return monitor, notifier, wake, power, checks, told

    yield build
    for stop in reversed(stoppers):
        stop()


def next_check(checks: Events, service: str | None = None) -> CheckEvent:
    deadline = time.monotonic() + WAIT
    while True:
        event = checks.next(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(event, CheckEvent) and (service is None or event.result.service == service):
            return event


def drain_popups(notifier: Notifier, into: list[Announcement]) -> list[Announcement]:
    into += notifier.poll()
    return into


# -- logind, end to end on a private bus ---------------------------------------------------------


def test_logind_sleep_pauses_before_releasing_the_lock_and_wake_rechecks_at_once(
    logind: FakeLogind, bus: PrivateBus, stack, backend, mongo
) -> None:
    api, db = backend("healthy"), mongo()
    clock = ManualClock()
    monitor, notifier, wake, power, checks, told = stack(
        http_service(api.url(), interval=2.0),
        mongo_service(db.uri, interval=2.0),
        clock=clock,
        source=LogindSleepSource(bus.address),
    )
    assert power.sources == ["logind"]
    startup = {next_check(checks).result.service for _ in range(2)}
    assert startup == {"backend", "db"}
    assert logind.wait_for("INHIBIT") == ["INHIBIT 1 sleep delay trayapp"]  # a delay lock from the start

    paused_while_lock_held: list[tuple[bool, list[int]]] = []

    def look(event: PowerEvent) -> None:  # runs after the coordinator, before the source lets go
        if event.kind is SUSPENDING:
            paused_while_lock_held.append((monitor.paused, logind.held()))

    power.subscribe(look)
    logind.sleep()
    logind.wait_for("RELEASED 1")  # the lock is let go ...
    assert paused_while_lock_held == [(True, [1])]  # ... only after checks were paused
    assert monitor.paused and wake.asleep
    assert [e.to_json()["event"] for e in told.power()] == ["suspend"]

    hits_asleep = api.hits()
    api.set_mode("status_500")  # breaks while the lid is closed: nobody may hear of it yet
    clock.advance(120.0)
    assert api.hits() == hits_asleep
    assert sum(isinstance(e, CheckEvent) for e in checks.seen) == 2  # only the start-up checks

    api.set_mode("healthy")
    logind.wake()
    resumed = told.next()
    while not isinstance(resumed, PowerEvent) or resumed.kind is not RESUMED:
        resumed = told.next()
    assert resumed.source == "logind" and resumed.to_json()["event"] == "resume"
    assert logind.wait_for("INHIBIT", 2)[1] == "INHIBIT 2 sleep delay trayapp"  # a fresh lock after resume
    assert logind.held() == [2]

    # Checked at once, then on the burst 0.5, 1, 2, 4 s after the resume (the interval alone is 2 s).
    first = {next_check(checks).result.service for _ in range(2)}
    assert first == {"backend", "db"}
    summary = told.next()
    assert isinstance(summary, WakeSummary)
    assert summary.announcement.title == "Back from sleep: all up in 0 ms"
    for step in (0.5, 0.5, 1.0, 2.0):
        before = api.hits()
        clock.advance(step)
        assert {next_check(checks).result.service for _ in range(2)} == {"backend", "db"}
        assert api.hits() == before + 1

    clock.advance(20.0)  # well past the grace
    assert [p.title for p in drain_popups(notifier, [])] == ["Back from sleep: all up in 0 ms"]


def test_logind_and_the_clocks_seeing_one_resume_make_one_event(logind: FakeLogind, bus: PrivateBus) -> None:
    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=None)
    events = Events()
    power.subscribe(events)
    power.add_source(LogindSleepSource(bus.address))
    power.start()
    try:
        # logind first: its resume carries the clocks' gap; the clocks then have nothing new.
        logind.sleep()
        assert events.next().kind is SUSPENDING
        clocks.suspend(30.0)
        logind.wake()
        resumed = events.next()
        assert (resumed.kind, resumed.source, resumed.slept_s) == (RESUMED, "logind", pytest.approx(30.0))
        assert power.poll() is None

        # The clocks first (the ticker woke before logind's signal was read): logind's is dropped.
        logind.sleep()
        assert events.next().kind is SUSPENDING
        clocks.suspend(45.0)
        by_clock = power.poll()
        assert by_clock is not None and (by_clock.source, by_clock.slept_s) == ("clock", pytest.approx(45.0))
        logind.wake()
        logind.wait_for("INHIBIT", 3)  # logind's resume has been handled (a new lock follows it)
        assert [e.kind for e in events.power()] == [SUSPENDING, RESUMED, SUSPENDING, RESUMED]
        assert events.power(RESUMED)[1].source == "clock"
    finally:
        power.stop()
    logind.wait_for("RELEASED", 3)
    assert logind.held() == []  # stopping lets go of the lock


def test_without_a_system_bus_logind_is_unavailable_and_the_clocks_still_see_a_resume(tmp_path: Path) -> None:
    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=0.01)
    events = Events()
    power.subscribe(events)
    (source,) = sleep_sources(gui=False, system_bus=f"unix:path={tmp_path}/no-bus-here")
    power.add_source(source)
    try:
        assert power.start() == ["clock (fake-total - fake-awake)"]
        clocks.suspend(60.0)
        resumed = events.next()
        assert (resumed.kind, resumed.source, resumed.slept_s) == (RESUMED, "clock", pytest.approx(60.0))
    finally:
        power.stop()


def test_watch_json_shows_suspend_and_resume_then_the_rechecks(
    logind: FakeLogind, bus: PrivateBus, backend, tmp_path: Path
) -> None:
    api = backend("healthy")
    config = tmp_path / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=api.url(), interval=60.0, timeout=1.0))
    env = cli_env(tmp_path)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address  # only this child sees the private bus
    proc = subprocess.Popen(
        trayapp_command("watch", "--json", "--config", config),
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()

    def next_line() -> dict:
        """The next line that is not a transition (start-up's unknown -> up comes right after its check)."""
        while (line := lines.get(timeout=WAIT))["event"] == "transition":
            pass
        return line

    try:
        assert next_line()["event"] == "check"  # the start-up check
        logind.wait_for("INHIBIT")  # watch holds a delay lock too
        logind.sleep()
        suspend = next_line()
        assert (suspend["event"], suspend["source"]) == ("suspend", "logind")
        logind.wait_for("RELEASED 1")
        logind.wake()
        resume = next_line()
        assert resume["event"] == "resume" and resume["source"] == "logind"
        assert isinstance(resume["slept_s"], float)
        after = [next_line() for _ in range(4)]  # the burst: now, +0.5 s, +1 s, with the summary among them
        assert [e["event"] for e in after].count("check") >= 3
        assert all(e["state"] == "up" for e in after if e["event"] == "check")
        summaries = [e for e in after if e["event"] == "wake_summary"]
        assert len(summaries) == 1 and summaries[0]["title"].startswith("Back from sleep: all up in ")
        assert summaries[0]["still_down"] == []
        logind.wait_for("INHIBIT", 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    logind.wait_for("RELEASED 2")  # the lock is not left behind


# -- the clock fallback -------------------------------------------------------------------------


def test_a_clock_gap_is_a_resume_and_scheduling_jitter_is_not() -> None:
    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=None, threshold=5.0)
    events = Events()
    power.subscribe(events)

    clocks.run(2.0)
    assert power.poll() is None
    clocks.run(2.3)  # a tick 0.3 s late: both clocks moved alike
    assert power.poll() is None
    clocks.run(2.0)
    clocks.suspend(0.3)  # even a 0.3 s disagreement (a wall clock nudged by NTP) is no sleep
    assert power.poll() is None
    for _ in range(30):  # nor do many small ones add up
        clocks.suspend(0.3)
        assert power.poll() is None

    clocks.suspend(42.0)
    resumed = power.poll()
    assert resumed is not None
    assert (resumed.kind, resumed.source, resumed.slept_s) == (RESUMED, "clock", pytest.approx(42.0))
    assert resumed.to_json()["event"] == "resume" and resumed.to_json()["slept_s"] == 42.0
    assert power.poll() is None  # reported once
    assert events.seen == [resumed]


def test_the_ticker_notices_a_gap_on_its_own() -> None:
    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=0.01)
    events = Events()
    power.subscribe(events)
    power.start()
    try:
        clocks.suspend(600.0)
        resumed = events.next()
        assert (resumed.source, resumed.slept_s) == ("clock", pytest.approx(600.0))
    finally:
        power.stop()
    assert len(events.seen) == 1


def test_sources_that_repeat_themselves_make_one_event_each_way() -> None:
    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=None)
    events = Events()
    power.subscribe(events)
    assert power.report_resumed("windows") is None  # a resume nobody slept before: nothing
    assert power.report_suspending("windows") is not None
    assert power.report_suspending("macos") is None
    clocks.suspend(8.0)
    assert power.report_resumed("windows") is not None  # PBT_APMRESUMEAUTOMATIC
    assert power.report_resumed("windows") is None  # PBT_APMRESUMESUSPEND for the same resume
    assert power.poll() is None
    assert [(e.kind, e.source) for e in events.power()] == [(SUSPENDING, "windows"), (RESUMED, "windows")]
    assert events.power(RESUMED)[0].slept_s == pytest.approx(8.0)


def test_a_sleep_that_never_comes_does_not_pause_checks_forever() -> None:
    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=None, stuck_after=30.0)
    events = Events()
    power.subscribe(events)
    power.report_suspending("logind")  # and then the suspend is cancelled, its "false" lost
    clocks.run(20.0)
    assert power.poll() is None and power.asleep  # logind may hold the sleep back a while
    clocks.run(15.0)
    resumed = power.poll()
    assert resumed is not None and (resumed.kind, resumed.source) == (RESUMED, "clock")
    assert resumed.slept_s == pytest.approx(0.0)
    assert not power.asleep


def test_the_real_clock_pair_is_named_and_stays_quiet_while_awake() -> None:
    pair = system_clock_pair()
    assert (pair.total_name, pair.awake_name) == ("CLOCK_BOOTTIME", "CLOCK_MONOTONIC")
    power = PowerMonitor(clocks=pair, tick=None)
    deadline = time.monotonic() + 0.3
    polls = 0
    while time.monotonic() < deadline:  # real time passing, looked at as often as we can
        assert power.poll() is None
        polls += 1
    assert polls > 100


# -- platform decoding (the paths this machine cannot run) -------------------------------------------


def test_windows_power_broadcasts_are_decoded_from_a_real_msg_struct(qapp) -> None:
    decode = winpower.decode_power_broadcast
    assert decode(winpower.WM_POWERBROADCAST, winpower.PBT_APMSUSPEND) is SUSPENDING
    assert decode(winpower.WM_POWERBROADCAST, winpower.PBT_APMRESUMEAUTOMATIC) is RESUMED
    assert decode(winpower.WM_POWERBROADCAST, winpower.PBT_APMRESUMESUSPEND) is RESUMED
    assert decode(winpower.WM_POWERBROADCAST, 0x000A) is None  # PBT_APMPOWERSTATUSCHANGE
    assert decode(0x0010, winpower.PBT_APMSUSPEND) is None  # WM_CLOSE

    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=None)
    events = Events()
    power.subscribe(events)
    native_filter = winpower.WindowsPowerFilter(power)
    msg = winpower.MSG(message=winpower.WM_POWERBROADCAST, wParam=winpower.PBT_APMSUSPEND)
    assert native_filter.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(msg)) == (False, 0)
    assert native_filter.nativeEventFilter(b"xcb_generic_event_t", ctypes.addressof(msg)) == (False, 0)
    clocks.suspend(20.0)
    msg.wParam = winpower.PBT_APMRESUMEAUTOMATIC
    native_filter.nativeEventFilter(b"windows_generic_MSG", shiboken6.VoidPtr(ctypes.addressof(msg)))
    assert [(e.kind, e.source) for e in events.power()] == [(SUSPENDING, "windows"), (RESUMED, "windows")]

    source = winpower.WindowsPowerSource(qapp)  # not Windows: unavailable, the clocks remain
    power.add_source(source)
    assert power.start() == ["clock (fake-total - fake-awake)"]
    power.stop()


def test_macos_workspace_notifications_are_decoded_and_the_source_degrades_without_pyobjc() -> None:
    assert macos.decode_workspace_notification("NSWorkspaceWillSleepNotification") is SUSPENDING
    assert macos.decode_workspace_notification("NSWorkspaceDidWakeNotification") is RESUMED
    assert macos.decode_workspace_notification("NSWorkspaceScreensDidSleepNotification") is None

    clocks = FakeClocks()
    power = PowerMonitor(clocks=clocks.pair(), tick=None)
    events = Events()
    power.subscribe(events)
    macos.report(power, "NSWorkspaceWillSleepNotification")
    clocks.suspend(9.0)
    macos.report(power, "NSWorkspaceDidWakeNotification")
    assert [(e.kind, e.source) for e in events.power()] == [(SUSPENDING, "macos"), (RESUMED, "macos")]
    assert macos.MacWorkspaceSource().start(power) is False


def test_prepare_for_sleep_signals_are_decoded() -> None:
    emitter = DBusAddress("/org/freedesktop/login1", interface="org.freedesktop.login1.Manager")
    assert decode_prepare_for_sleep(new_signal(emitter, "PrepareForSleep", "b", (True,))) is True
    assert decode_prepare_for_sleep(new_signal(emitter, "PrepareForSleep", "b", (False,))) is False
    assert decode_prepare_for_sleep(new_signal(emitter, "PrepareForShutdown", "b", (True,))) is None
    other = DBusAddress("/org/freedesktop/login1/session/_31", interface="org.freedesktop.login1.Session")
    assert decode_prepare_for_sleep(new_signal(other, "PrepareForSleep", "b", (True,))) is None
