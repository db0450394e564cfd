"""The wake policy against real servers: quiet across sleep, re-checked at once, one summary popup.

Time in the core tests is a ManualClock (the grace passes without anyone sleeping); the
services are real (the HTTP backend, NX-27017, a real listening socket). Power events come in
through the same ``PowerMonitor.report_*`` calls the native sources use; the tray tests run
the real logind path on a private bus.
"""

from __future__ import annotations

import queue
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtNetwork import QNetworkInformation

from tests.kit.logind import FakeLogind, PrivateBus, start_fake_logind, start_private_bus
from tests.kit.servers import Mongo, start_mongo
from tests.kit.services import http_service, mongo_service, service_toml, tcp_service
from tests.kit.wait import wait_until
from trayapp.clock import ManualClock
from trayapp.config.load import parse_config
from trayapp.model import State, Transition
from trayapp.monitor.notifier import Announcement, Notifier
from trayapp.monitor.scheduler import CheckEvent, Monitor
from trayapp.power.events import ClockPair, PowerMonitor
from trayapp.power.logind import LogindSleepSource
from trayapp.power.wake import WakeCoordinator
from trayapp.ui.models import ServicesModel
from trayapp.ui.network import NetworkWatcher

WAIT = 10.0
WAIT_MS = 10_000
Reachability = QNetworkInformation.Reachability


class Sleeper:
    """Stands in for a native source: "suspends" a fake clock pair and reports like logind does."""

    def __init__(self) -> None:
        self.slept = 0.0
        self.power = PowerMonitor(clocks=ClockPair("awake", "total", lambda: 0.0, lambda: self.slept), tick=None)

    def sleep(self) -> None:
        self.power.report_suspending("test")

    def wake(self, after: float = 3600.0) -> None:
        self.slept += after
        self.power.report_resumed("test")


class Stack:
    """A monitor, notifier and coordinator on a manual clock, with the tray's feed of transitions."""

    def __init__(self, *services, clock: ManualClock) -> None:
        self.clock = clock
        self.monitor = Monitor(list(services), clock=clock)
        self.notifier = Notifier(clock)
        self.wake = WakeCoordinator(self.monitor, self.notifier, clock)
        self.sleeper = Sleeper()
        self.sleeper.power.subscribe(self.wake.on_power)
        self.checks: queue.Queue[CheckEvent] = queue.Queue()
        self.popups: list[Announcement] = []
        self.monitor.subscribe(self._on_event)
        self.monitor.start()
        self.wake.start()

    def _on_event(self, event: object) -> None:
        if isinstance(event, CheckEvent):
            self.checks.put(event)
        elif isinstance(event, Transition):
            self.notifier.feed(event)

    def round(self, n: int | None = None) -> dict[str, CheckEvent]:
        """Wait for one check of each service (or ``n`` checks); returns the latest per service."""
        n = len(self.monitor.services) if n is None else n
        got = [self.checks.get(timeout=WAIT) for _ in range(n)]
        return {e.result.service: e for e in got}

    def advance(self, seconds: float) -> dict[str, CheckEvent]:
        """Move time by ``seconds`` and wait for the checks that falls due."""
        self.clock.advance(seconds)
        return self.round()

    def collect(self) -> list[str]:
        self.popups += self.notifier.poll()
        return [p.title for p in self.popups]

    def stop(self) -> None:
        self.wake.stop()
        self.monitor.stop()


@pytest.fixture
def stack() -> Iterator:
    made: list[Stack] = []

    def build(*services) -> Stack:
        made.append(Stack(*services, clock=ManualClock()))
        return made[-1]

    yield build
    for s in made:
        s.stop()


def quiet_port() -> int:
    """A free port below the ephemeral range (32768+ on Linux).

    Dialling a closed port inside that range now and then connects the socket to itself (the
    kernel picks the same port as the source: TCP simultaneous open), which would look like the
    service coming back for one check.
    """
    for port in random.sample(range(20000, 32000), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port between 20000 and 32000")


class Listener:
    """A real TCP listener that can be closed and reopened on the same port."""

    def __init__(self) -> None:
        self.port = quiet_port()
        self.sock: socket.socket | None = None
        self.open()

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.sock = sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def quiet_mongo(tmp_path: Path) -> Iterator[Mongo]:
    """NX-27017 on a port below the ephemeral range (see :func:`quiet_port`)."""
    db = start_mongo(tmp_path, port=quiet_port())
    yield db
    db.stop()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


# -- the policy (core, manual clock) -------------------------------------------------------------


def test_a_service_back_3_s_after_wake_raises_no_alarm_only_the_summary(stack, backend, mongo) -> None:
    api, db = backend("healthy"), mongo()
    s = stack(http_service(api.url(), interval=2.0), mongo_service(db.uri, interval=2.0))
    assert {e.service_state for e in s.round().values()} == {State.UP}
    assert s.collect() == []  # a healthy start is not news

    s.sleeper.sleep()
    api.set_mode("status_500")  # the backend needs a moment after the machine wakes
    s.sleeper.wake()
    assert s.round()["backend"].result.state is State.DOWN  # checked at once
    assert s.advance(0.5)["backend"].service_state is State.DOWN  # confirmed down, and held back
    s.advance(0.5)
    s.advance(1.0)
    s.clock.advance(1.0)  # 3 s after wake: it is back; nothing falls due until the 4 s re-check
    api.set_mode("healthy")
    assert s.advance(1.0)["backend"].service_state is State.UP
    wait_until(lambda: s.collect(), WAIT, "the wake summary")
    assert s.collect() == ["Back from sleep: all up in 4.0 s"]

    for _ in range(10):  # through the grace's end and well past it
        s.advance(2.0)
    assert s.collect() == ["Back from sleep: all up in 4.0 s"]
    assert s.popups[0].kind == "wake" and s.popups[0].services == ()
    assert not s.wake.in_episode


def test_services_still_down_after_the_grace_are_announced_once(stack, backend, listener, quiet_mongo) -> None:
    api, db = backend("healthy"), quiet_mongo
    s = stack(
        http_service(api.url(), interval=2.0),
        tcp_service("127.0.0.1", listener.port, name="vite", interval=2.0),
        mongo_service(db.uri, interval=2.0),
    )
    assert {e.service_state for e in s.round().values()} == {State.UP}

    s.sleeper.sleep()
    listener.close()  # the dev server and the database did not survive the night
    db.stop()
    s.sleeper.wake()
    s.round()
    for step in (0.5, 0.5, 1.0, 2.0, 2.0, 2.0):  # 8 s after wake: confirmed down, nothing said yet
        s.advance(step)
        assert s.collect() == []
    assert s.monitor.status()[1].state is State.DOWN

    s.advance(2.0)  # 10 s: the grace is over
    wait_until(lambda: s.collect(), WAIT, "the wake summary")
    title = "Back from sleep: vite still down (refused), db still down (refused)"
    assert s.collect() == [title]
    assert s.popups[0].services == ("vite", "db")
    assert "Nothing listens on port" in s.popups[0].message

    for _ in range(15):  # 30 s more of failing checks: no second popup
        s.advance(2.0)
    assert s.collect() == [title]

    listener.open()  # the recovery is ordinary news again
    s.advance(2.0)
    s.clock.advance(0.6)  # past the notifier's batch window (no check falls due)
    wait_until(lambda: len(s.collect()) == 2, WAIT, "the recovery popup")
    assert s.collect()[1].startswith("vite is back after ")


def test_a_failure_after_everything_was_back_is_not_swallowed_by_the_grace(stack, backend) -> None:
    api = backend("healthy")
    s = stack(http_service(api.url(), interval=2.0))
    s.round()
    s.sleeper.sleep()
    s.sleeper.wake()
    s.round()
    wait_until(lambda: s.collect(), WAIT, "the wake summary")
    assert s.collect() == ["Back from sleep: all up in 0 ms"]

    s.advance(0.5)
    api.set_mode("status_500")  # a real failure, 1 s after wake: held back by the grace ...
    s.advance(0.5)
    assert s.advance(1.0)["backend"].service_state is State.DOWN
    s.advance(2.0)
    assert s.collect() == ["Back from sleep: all up in 0 ms"]
    for _ in range(3):
        s.advance(2.0)  # ... and announced when it ends, once
    wait_until(lambda: len(s.collect()) == 2, WAIT, "the announcement at the grace's end")
    for _ in range(5):
        s.advance(2.0)
    assert s.collect() == ["Back from sleep: all up in 0 ms", "Back from sleep: backend down again (http_status)"]


def test_a_problem_from_before_sleep_fixed_during_it_is_summed_up_without_a_back_popup(stack, backend) -> None:
    api = backend("status_500")
    s = stack(http_service(api.url(), interval=2.0))
    s.round()
    s.advance(2.0)
    s.clock.advance(0.6)  # past the notifier's batch window (no check falls due)
    wait_until(lambda: s.collect(), WAIT, "the start-up problem popup")
    assert s.collect() == ["backend is down"]

    s.sleeper.sleep()
    api.set_mode("healthy")
    s.sleeper.wake(after=7200.0)
    assert s.round()["backend"].service_state is State.UP
    wait_until(lambda: len(s.collect()) == 2, WAIT, "the wake summary")
    for _ in range(8):
        s.advance(2.0)
    assert s.collect() == ["backend is down", "Back from sleep: all up in 0 ms"]
    assert s.popups[1].message == "Slept 2 h. backend answered after waking."


def test_nothing_is_checked_or_announced_while_asleep_and_a_users_pause_outlasts_the_wake(stack, backend) -> None:
    api = backend("healthy")
    s = stack(http_service(api.url(), interval=2.0))
    s.round()
    s.sleeper.sleep()
    hits = api.hits()
    api.set_mode("status_500")
    s.clock.advance(300.0)
    assert api.hits() == hits and s.checks.empty()
    s.sleeper.wake()
    s.round()
    api.set_mode("healthy")

    s.monitor.pause()  # the user pauses monitoring, then closes the lid
    s.sleeper.sleep()
    s.sleeper.wake()
    hits = api.hits()
    s.clock.advance(60.0)
    assert s.monitor.paused and s.wake.user_paused
    assert api.hits() == hits and s.checks.empty()
    assert not s.wake.in_episode
    assert s.collect() == []  # the first wake's episode ended with the second sleep; nothing was said


# -- the tray: sleep on a private bus, network changes ---------------------------------------------


@pytest.fixture
def logind() -> Iterator[tuple[PrivateBus, FakeLogind]]:
    bus = start_private_bus()
    fake = start_fake_logind(bus.address)
    yield bus, fake
    fake.stop()
    bus.stop()


def test_tray_shows_paused_while_asleep_and_one_summary_after_wake(qtbot, tray_app, logind, backend) -> None:
    bus, fake = logind
    api = backend("healthy")
    power = PowerMonitor()
    power.add_source(LogindSleepSource(bus.address))
    app = tray_app(parse_config(service_toml("backend", "http", url=api.url(), interval=0.2), "test.toml"), power=power)
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    fake.wait_for("INHIBIT")
    popups: list[Announcement] = []
    app.tray.announced.connect(popups.append)

    fake.sleep()
    qtbot.waitUntil(lambda: app.tray.icon_name() == "paused", timeout=WAIT_MS)
    assert app.services_model.data(app.services_model.index(0, ServicesModel.STATE)) == "paused"
    assert app.tray.tooltip().startswith("trayapp — paused")
    fake.wait_for("RELEASED 1")

    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        fake.wake()
    assert popup.args[0].title.startswith("Back from sleep: all up in ")
    assert app.tray.icon_name() == "up"
    assert app.services_model.data(app.services_model.index(0, ServicesModel.STATE)) == "up"
    fake.wait_for("INHIBIT", 2)
    assert [p.title for p in popups] == [popup.args[0].title]


def test_a_network_change_rechecks_at_once_without_a_grace(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(parse_config(service_toml("backend", "http", url=api.url(), interval=600.0), "test.toml"))
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    assert app.network.watching  # the platform's QNetworkInformation backend (glib here) is loaded
    network = QNetworkInformation.instance()
    reachability = network.reachability()
    other = Reachability.Disconnected if reachability is not Reachability.Disconnected else Reachability.Local

    # The machine's network cannot be changed from a test, so the backend's own signals are emitted.
    api.set_mode("status_500")  # the next interval check is 10 minutes away
    started = time.monotonic()
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        network.reachabilityChanged.emit(other)
    assert popup.args[0].title == "backend is down"  # no grace: a real problem is news at once
    assert time.monotonic() - started < 5.0

    hits = api.hits()
    api.set_mode("healthy")
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        network.reachabilityChanged.emit(reachability)
    assert popup.args[0].title.startswith("backend is back after ")
    assert api.hits() > hits


def test_without_a_network_backend_the_watcher_stays_out_of_the_way(qtbot) -> None:
    watcher = NetworkWatcher()
    assert watcher.start("no-such-backend") is False
    assert not watcher.watching
