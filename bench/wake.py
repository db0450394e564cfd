"""Sleep/wake: how fast every service has a fresh result after a resume, and how many false popups.

    .venv/bin/python -m bench.wake [--resumes 20] [--scenarios 10]

Part one runs the real logind path: a private ``dbus-daemon``, the fake logind from the test
kit, ``LogindSleepSource`` + ``PowerMonitor`` + ``WakeCoordinator`` + the monitor on the real
clock, against a healthy HTTP backend, a TCP listener and NX-27017. Each resume is timed from
the moment ``PrepareForSleep(false)`` is requested of the fake to the moment every service has
a check result from after the resume.

Part two replays the popup scenarios on a manual clock with real servers and counts popups
that should not have been: any popup but the summary on a healthy wake; a down popup for a
service back 3 s after wake; more than one popup for a service still down after the grace.
Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import queue
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tests.kit.logind import start_fake_logind, start_private_bus
from tests.kit.servers import start_backend, start_mongo
from tests.kit.services import http_service, mongo_service, tcp_service
from trayapp.clock import ManualClock, SystemClock
from trayapp.model import Transition
from trayapp.monitor.notifier import Notifier
from trayapp.monitor.scheduler import CheckEvent, Monitor
from trayapp.power.events import ClockPair, PowerEvent, PowerEventKind, PowerMonitor
from trayapp.power.logind import LogindSleepSource
from trayapp.power.wake import WakeCoordinator, WakeSummary

WAIT = 15.0


def quiet_port() -> int:
    """A free port below Linux's ephemeral range, so a closed one never self-connects."""
    for port in random.sample(range(20000, 32000), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def listen(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   max {ordered[-1]:7.1f} ms"


# -- part one: real resumes on the private bus ------------------------------------------------------


class FreshTracker:
    """Records, per resume, when each service's first check after it arrived."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._lock = threading.Lock()
        self._resumed = False
        self._fresh: dict[str, float] = {}
        self.all_fresh: queue.Queue[float] = queue.Queue()
        self.summaries: queue.Queue[WakeSummary] = queue.Queue()

    def on_wake(self, event: object) -> None:
        if isinstance(event, WakeSummary):
            self.summaries.put(event)
        elif isinstance(event, PowerEvent) and event.kind is PowerEventKind.RESUMED:
            with self._lock:
                self._resumed, self._fresh = True, {}

    def on_check(self, event: object) -> None:
        if not isinstance(event, CheckEvent):
            return
        now = time.perf_counter()
        with self._lock:
            if not self._resumed:
                return
            self._fresh.setdefault(event.result.service, now)
            if len(self._fresh) == len(self.names):
                self._resumed = False
                self.all_fresh.put(max(self._fresh.values()))


def real_resumes(count: int, work: Path) -> tuple[list[float], list[float], int]:
    bus = start_private_bus()
    fake = start_fake_logind(bus.address)
    api = start_backend("healthy")
    db = start_mongo(work, port=quiet_port())
    vite_port = quiet_port()
    vite = listen(vite_port)
    clock = SystemClock()
    services = [
        http_service(api.url(), interval=2.0),
        tcp_service("127.0.0.1", vite_port, name="vite", interval=2.0),
        mongo_service(db.uri, interval=2.0),
    ]
    monitor = Monitor(services, clock=clock)
    notifier = Notifier(clock)
    monitor.subscribe(lambda e: notifier.feed(e) if isinstance(e, Transition) else None)
    wake = WakeCoordinator(monitor, notifier, clock)
    power = PowerMonitor()
    power.add_source(LogindSleepSource(bus.address))
    power.subscribe(wake.on_power)
    tracker = FreshTracker([s.name for s in services])
    wake.subscribe(tracker.on_wake)
    monitor.subscribe(tracker.on_check)
    fresh_ms: list[float] = []
    all_up_ms: list[float] = []
    false_popups = 0
    try:
        monitor.start()
        wake.start()
        power.start()
        fake.wait_for("INHIBIT")
        deadline = time.monotonic() + WAIT
        while not all(s.last is not None for s in monitor.status()):
            if time.monotonic() > deadline:
                raise RuntimeError("services never checked")
            time.sleep(0.01)  # ok-sleep: polling a condition
        for n in range(1, count + 1):
            fake.sleep()
            fake.wait_for("RELEASED", n)
            started = time.perf_counter()
            fake.wake()
            fresh_ms.append((tracker.all_fresh.get(timeout=WAIT) - started) * 1000)
            summary = tracker.summaries.get(timeout=WAIT)
            if summary.all_up_s is None:
                false_popups += 1
            else:
                all_up_ms.append(summary.all_up_s * 1000)
            fake.wait_for("INHIBIT", n + 1)
            popups = notifier.poll()
            false_popups += sum(1 for p in popups if not p.title.startswith("Back from sleep: all up"))
    finally:
        power.stop()
        wake.stop()
        monitor.stop()
        vite.close()
        db.stop()
        api.kill()
        fake.stop()
        bus.stop()
    return fresh_ms, all_up_ms, false_popups


# -- part two: the popup scenarios on a manual clock --------------------------------------------------


class Scenario:
    def __init__(self, services: list) -> None:
        self.clock = ManualClock()
        self.monitor = Monitor(services, clock=self.clock)
        self.notifier = Notifier(self.clock)
        self.wake = WakeCoordinator(self.monitor, self.notifier, self.clock)
        self.slept = 0.0
        self.power = PowerMonitor(clocks=ClockPair("a", "t", lambda: 0.0, lambda: self.slept), tick=None)
        self.power.subscribe(self.wake.on_power)
        self.checks: queue.Queue[CheckEvent] = queue.Queue()
        self.popups: list[str] = []
        self.monitor.subscribe(self._on_event)
        self.monitor.start()
        self.wake.start()
        self.round()

    def _on_event(self, event: object) -> None:
        if isinstance(event, CheckEvent):
            self.checks.put(event)
        elif isinstance(event, Transition):
            self.notifier.feed(event)

    def round(self) -> None:
        for _ in self.monitor.services:
            self.checks.get(timeout=WAIT)

    def step(self, seconds: float, checks: bool = True) -> None:
        self.clock.advance(seconds)
        if checks:
            self.round()
        self.popups += [p.title for p in self.notifier.poll()]

    def sleep_and_wake(self) -> None:
        self.power.report_suspending("bench")
        self.slept += 3600
        self.power.report_resumed("bench")
        self.round()

    def settle(self) -> None:
        deadline = time.monotonic() + WAIT
        while self.wake.in_episode and time.monotonic() < deadline:
            time.sleep(0.005)  # ok-sleep: polling a condition (the summary thread)
        self.popups += [p.title for p in self.notifier.poll()]

    def stop(self) -> None:
        self.wake.stop()
        self.monitor.stop()


def late_service(work: Path) -> int:
    """A backend that needs 3 s after wake: any popup but "all up" is a false one."""
    api = start_backend("healthy")
    db = start_mongo(work, port=quiet_port())
    s = Scenario([http_service(api.url(), interval=2.0), mongo_service(db.uri, interval=2.0)])
    try:
        s.power.report_suspending("bench")
        api.set_mode("status_500")
        s.slept += 3600
        s.power.report_resumed("bench")
        s.round()
        for seconds in (0.5, 0.5, 1.0):
            s.step(seconds)
        s.step(1.0, checks=False)
        api.set_mode("healthy")
        s.step(1.0)
        for _ in range(10):
            s.step(2.0)
        s.settle()
        return sum(1 for p in s.popups if not p.startswith("Back from sleep: all up"))
    finally:
        s.stop()
        db.stop()
        api.kill()


def still_down() -> tuple[int, int]:
    """A dev server gone after wake: (popups beyond the one summary, summaries missing)."""
    api = start_backend("healthy")
    port = quiet_port()
    vite = listen(port)
    s = Scenario([http_service(api.url(), interval=2.0), tcp_service("127.0.0.1", port, name="vite", interval=2.0)])
    try:
        s.power.report_suspending("bench")
        vite.close()
        s.slept += 3600
        s.power.report_resumed("bench")
        s.round()
        for seconds in (0.5, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0):
            s.step(seconds)
        s.settle()
        for _ in range(15):
            s.step(2.0)
        summaries = [p for p in s.popups if p == "Back from sleep: vite still down (refused)"]
        return len(s.popups) - len(summaries), int(len(summaries) != 1)
    finally:
        s.stop()
        vite.close()
        api.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resumes", type=int, default=20)
    parser.add_argument("--scenarios", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayapp-bench-wake-"))

    fresh_ms, all_up_ms, healthy_false = real_resumes(args.resumes, work / "real")
    print(f"{args.resumes} resumes on a private bus, 3 services (http backend, tcp listener, NX-27017):")
    print(f"  PrepareForSleep(false) -> every service fresh   {stats(fresh_ms)}")
    print(f"  resume seen -> all up (the summary's number)    {stats(all_up_ms)}")
    late_false = sum(late_service(work / f"late{i}") for i in range(args.scenarios))
    extra, missing = 0, 0
    for _ in range(args.scenarios):
        e, m = still_down()
        extra, missing = extra + e, missing + m
    print("false popups:")
    print(f"  healthy wake                      {healthy_false} in {args.resumes} wakes")
    print(f"  backend back 3 s after wake       {late_false} in {args.scenarios} wakes")
    print(f"  vite still down after the grace   {extra} extra, {missing} summaries missing, in {args.scenarios} wakes")


if __name__ == "__main__":
    main()
