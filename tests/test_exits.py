"""Seeing a recorded child's exit without a supervisor (trayapp/supervise/exits.py), with real processes."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import psutil
import pytest

from tests.kit.pidfd import pidfds
from tests.kit.services import make_service
from tests.kit.wait import wait_until
from trayapp.config.load import ServiceConfig
from trayapp.model import Reason, State, Transition
from trayapp.monitor.scheduler import CheckEvent, Event, Monitor
from trayapp.paths import captured_output, config_records
from trayapp.supervise.exits import ExitReporter, ExitWatcher
from trayapp.supervise.output import write_header
from trayapp.supervise.records import ChildRecord, RecordStore

WAIT = 10.0  # upper bound for an exit to be reported; never a fixed sleep


def managed(name: str, port: int) -> ServiceConfig:
    return make_service(name, "tcp", host="127.0.0.1", port=port, start="node server.js")


def record(state_dir: Path, service: ServiceConfig, pid: int, started: float) -> None:
    """What `trayapp start` writes for a child it started (pid and start time)."""
    store = RecordStore(config_records(service.home, state_dir))
    store.save(ChildRecord(service.name, pid, pid, started, ("node", "server.js"), "", service.identity))


@pytest.fixture
def watch(tmp_path: Path):
    watchers: list[ExitWatcher] = []

    def start(services: list[ServiceConfig], **options: object) -> tuple[ExitWatcher, queue.Queue[str]]:
        exits: queue.Queue[str] = queue.Queue()
        watcher = ExitWatcher(services, lambda s, r: exits.put(f"{s.name}:{r.pid}"), state_dir=tmp_path, **options)
        watchers.append(watcher)
        watcher.start()
        return watcher, exits

    yield start
    for watcher in watchers:
        watcher.stop()


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polled"])
def test_a_recycled_pid_in_a_stale_record_is_not_followed(tmp_path, backend, watch, pidfd) -> None:
    # "stale"'s record names a pid that a later process got: the same pid, another start time.
    impostor, child = backend("healthy"), backend("healthy")
    stale, genuine = managed("stale", impostor.port), managed("genuine", child.port)
    record(tmp_path, stale, impostor.pid, psutil.Process(impostor.pid).create_time() - 3600)
    record(tmp_path, genuine, child.pid, psutil.Process(child.pid).create_time())
    watcher, exits = watch([stale, genuine], pidfd=pidfd)
    wait_until(lambda: watcher.scans >= 1, what="the watcher's first look at the records")
    assert watcher.following() == {"genuine": child.pid}

    impostor.kill()  # reaped: had it been followed, its exit would be the first one reported
    child.kill()
    assert exits.get(timeout=WAIT) == f"genuine:{child.pid}"
    watcher.stop()
    assert exits.empty()


def test_a_child_started_after_the_watch_began_is_followed(tmp_path, backend, watch) -> None:
    first = backend("healthy")
    service = managed("api", first.port)
    record(tmp_path, service, first.pid, psutil.Process(first.pid).create_time())
    watcher, exits = watch([service], rescan=0.05)
    wait_until(lambda: watcher.following() == {"api": first.pid}, what="the first child to be followed")
    first.kill()
    assert exits.get(timeout=WAIT) == f"api:{first.pid}"
    assert watcher.following() == {}

    second = backend("healthy")  # a restart: a new child, a new record
    record(tmp_path, service, second.pid, psutil.Process(second.pid).create_time())
    wait_until(lambda: watcher.following() == {"api": second.pid}, what="the new child to be followed")
    second.kill()
    assert exits.get(timeout=WAIT) == f"api:{second.pid}"
    assert exits.empty()  # each exit once; the record left behind is not followed again


def test_stop_ends_the_watcher_thread_and_closes_its_pidfds(tmp_path, backend, watch) -> None:
    child = backend("healthy")
    service = managed("api", child.port)
    record(tmp_path, service, child.pid, psutil.Process(child.pid).create_time())
    watcher, exits = watch([service])
    wait_until(lambda: watcher.following() == {"api": child.pid}, what="the child to be followed")
    assert pidfds(os.getpid()) == {child.pid}
    watcher.stop(timeout=WAIT)
    assert not any(t.name == "trayapp-exits" for t in threading.enumerate())
    assert pidfds(os.getpid()) == set()
    assert watcher.following() == {}


def test_the_report_quotes_the_error_its_output_printed_since_it_last_answered(tmp_path, backend) -> None:
    # What `trayapp watch` shows: down at once with reason "exited" and the line of the child's
    # own output that explains it; a line from before its last healthy check does not.
    child = backend("healthy")
    service = make_service("api", "tcp", host="127.0.0.1", port=child.port, start="node server.js", interval=60)
    output = captured_output(service.home, "api", tmp_path)  # where `trayapp start` puts it
    output.parent.mkdir(parents=True)
    with output.open("wb") as out:
        write_header(out, "api", ["node", "server.js"], str(tmp_path))
        out.write(b"Error: an old problem that the server got over\n")
    store = RecordStore(config_records(service.home, tmp_path))
    started = psutil.Process(child.pid).create_time()
    store.save(ChildRecord("api", child.pid, child.pid, started, ("node", "server.js"), str(output), service.identity))
    monitor = Monitor([service])
    reporter = ExitReporter(monitor, [service], state_dir=tmp_path, log_dir=tmp_path)
    events: queue.Queue[Event] = queue.Queue()
    monitor.subscribe(events.put)  # after the reporter's: it has marked the output when we get a check
    monitor.start()
    reporter.start()
    try:
        up = events.get(timeout=WAIT)
        assert isinstance(up, CheckEvent) and up.result.state is State.UP
        wait_until(lambda: reporter.watcher.following() == {"api": child.pid}, what="the child to be followed")
        with output.open("ab") as out:
            out.write(b"Error: connect ECONNREFUSED 127.0.0.1:27017\n")
        child.kill()
        down = next(
            e for e in iter(lambda: events.get(timeout=WAIT), None) if isinstance(e, Transition) and e.new is State.DOWN
        )
        assert (down.old, down.reason) == (State.UP, Reason.EXITED)
        assert down.detail == "api exited: Error: connect ECONNREFUSED 127.0.0.1:27017"
        assert [s.state for s in monitor.status()] == [State.DOWN]
    finally:
        reporter.stop()
        monitor.stop()
