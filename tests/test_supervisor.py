"""Managed services: start, stop, restart, crash detection and crash loops, with real child processes."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.kit.servers import BACKEND_SCRIPT, free_port, start_backend
from tests.kit.wait import wait_until
from trayapp.checks.checker import Checker
from trayapp.checks.ports import listeners
from trayapp.config.load import Config, parse_config
from trayapp.logs.tail import last_lines
from trayapp.model import Reason, State, Transition
from trayapp.monitor.scheduler import CheckEvent, Monitor
from trayapp.paths import captured_output, config_records
from trayapp.supervise.supervisor import ChildState, Supervisor, SupervisorEvent, stopping_text

CRASHER = Path(__file__).parent / "kit" / "crasher.py"


def toml_list(argv: list[str]) -> str:
    return "[" + ", ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in argv) + "]"


def managed_config(tmp_path: Path, port: int, start: list[str], **extra: object) -> Config:
    lines = [
        "[[service]]",
        'name = "backend"',
        'kind = "http"',
        f'url = "http://127.0.0.1:{port}/api/health"',
        "interval = 0.2",
        "timeout = 0.5",
        f"start = {toml_list(start)}",
        f'cwd = "{tmp_path}"',
    ]
    for key, value in extra.items():
        lines.append(
            f"{key} = {value!r}".replace("'", '"') if not isinstance(value, bool) else f"{key} = {str(value).lower()}"
        )
    path = tmp_path / "trayapp.toml"
    path.write_text("\n".join(lines) + "\n")
    return parse_config(path.read_text(), str(path))


def backend_argv(port: int, *flags: str) -> list[str]:
    return [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port), *flags]


@pytest.fixture
def supervisors(tmp_path) -> Iterator:
    made: list[Supervisor] = []

    def make(config: Config, **kwargs) -> Supervisor:
        supervisor = Supervisor(config, log_dir=tmp_path / "logs", state_dir=tmp_path / "state", **kwargs)
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.close()
        for name in ("backend",):
            status = supervisor.status(name)
            if status is not None and status.pid is not None:
                try:
                    os.killpg(os.getpgid(status.pid), signal.SIGKILL)
                except OSError:
                    pass


def events_of(supervisor: Supervisor) -> list[SupervisorEvent]:
    seen: list[SupervisorEvent] = []
    supervisor.subscribe(seen.append)
    return seen


def test_start_waits_until_healthy_and_stop_frees_the_port(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port)))
    events = events_of(supervisor)
    result = supervisor.start("backend")
    assert result.ok, result.detail
    assert result.detail.startswith("backend started in ")
    status = supervisor.status("backend")
    assert status.state is ChildState.RUNNING
    assert [x.pid for x in listeners([port])] == [status.pid]
    assert "[trayapp" in supervisor.log_path("backend").read_text()  # output goes to the service's log

    stopped = supervisor.stop("backend")
    assert stopped.ok and "exited" in stopped.detail and "after SIGTERM" in stopped.detail
    assert listeners([port]) == []
    assert supervisor.status("backend").state is ChildState.STOPPED
    assert [e.kind for e in events] == ["starting", "started", "stop_sent", "stopped"]


def test_stop_of_a_child_that_ignores_sigterm_kills_it_after_stop_timeout(tmp_path, supervisors) -> None:
    port = free_port()
    config = managed_config(tmp_path, port, backend_argv(port, "--ignore-term"), stop_timeout=0.5)
    supervisor = supervisors(config)
    assert supervisor.start("backend").ok
    pid = supervisor.status("backend").pid
    stopped = supervisor.stop("backend")
    assert stopped.ok
    assert "ignored SIGTERM for 0.5 s and was killed" in stopped.detail
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_stop_of_a_stopped_child_wakes_it_to_act_on_sigterm(tmp_path, supervisors) -> None:
    port = free_port()
    # With a SIGTERM handler (a graceful shutdown, as Node servers have), which runs only once it is awake.
    argv = backend_argv(port, "--linger", "0.1")
    supervisor = supervisors(managed_config(tmp_path, port, argv, stop_timeout=30))
    assert supervisor.start("backend").ok
    os.kill(supervisor.status("backend").pid, signal.SIGSTOP)  # Ctrl-Z'd, or left at a breakpoint
    stopped = supervisor.stop("backend")
    assert stopped.ok and "after SIGTERM" in stopped.detail and "killed" not in stopped.detail, stopped.detail


def test_stop_kills_the_whole_group_including_a_forked_child_holding_the_port(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(
        managed_config(tmp_path, port, backend_argv(port, "--fork-child", "--ignore-term"), stop_timeout=0.3)
    )
    assert supervisor.start("backend").ok
    holders = {x.pid for x in listeners([port])}
    assert len(holders) == 2  # parent and forked child share the socket
    assert supervisor.stop("backend").ok
    assert listeners([port]) == []


def test_force_skips_the_rest_of_the_grace(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port, "--ignore-term"), stop_timeout=60))
    assert supervisor.start("backend").ok
    outcome = {}
    stopper = threading.Thread(target=lambda: outcome.update(result=supervisor.stop("backend")))
    stopper.start()
    wait_until(lambda: supervisor.status("backend").stopping_since is not None, what="the stop to begin")
    assert stopping_text(supervisor.status("backend")).startswith("SIGTERM sent ")
    supervisor.force("backend")
    stopper.join(timeout=10)
    assert "was killed (Force)" in outcome["result"].detail


def test_restart_with_a_stale_process_on_the_port_needs_confirmation(tmp_path, supervisors) -> None:
    port = free_port()
    stale = start_backend("healthy", port=port)
    try:
        supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port)))
        refused = supervisor.restart("backend")
        assert not refused.ok
        assert f"port {port} is held by" in refused.detail and f"pid {stale.pid}" in refused.detail
        assert stale.proc.poll() is None  # nothing was killed without confirmation

        asked = []
        result = supervisor.restart("backend", confirm=lambda plan: asked.append(plan) or True)
        assert result.ok, result.detail
        assert result.detail.startswith("backend restarted in ")
        assert [t.pid for t in asked[0].targets] == [stale.pid]
        assert stale.proc.wait(timeout=5) is not None
        assert [x.pid for x in listeners([port])] == [supervisor.status("backend").pid]
    finally:
        stale.kill()


def test_a_child_that_dies_at_start_reports_its_error_line(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, [sys.executable, str(CRASHER)]))
    result = supervisor.start("backend")
    assert not result.ok
    assert result.detail == (
        "backend failed to start: exited with code 1: Error: listen EADDRINUSE: address already in use :::5000"
    )


def test_env_file_and_env_reach_the_child(tmp_path, supervisors) -> None:
    (tmp_path / ".env").write_text('# local settings\nMONGO_URL="mongodb://127.0.0.1:27017/app"\nexport MODE=dev\n')
    port = free_port()
    config = managed_config(
        tmp_path,
        port,
        [sys.executable, str(CRASHER), "--env", "MONGO_URL", "--env", "MODE", "--env", "EXTRA", "bye"],
        env_file=".env",
    )
    config_text = Path(config.source).read_text() + '[service.env]\nEXTRA = "42"\n'
    Path(config.source).write_text(config_text)
    config = parse_config(config_text, config.source)
    supervisor = supervisors(config)
    supervisor.start("backend")
    log = supervisor.log_path("backend").read_text()
    assert "MONGO_URL=mongodb://127.0.0.1:27017/app" in log and "MODE=dev" in log and "EXTRA=42" in log


def test_a_crash_is_seen_at_once_with_exit_signal_and_output(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port)))
    events = events_of(supervisor)
    assert supervisor.start("backend").ok
    os.kill(supervisor.status("backend").pid, signal.SIGKILL)
    wait_until(lambda: any(e.kind == "exited" for e in events), what="the exit to be noticed")
    [exited] = [e for e in events if e.kind == "exited"]
    assert exited.detail.startswith("backend was killed by SIGKILL")
    assert supervisor.status("backend").last_exit.startswith("backend was killed by SIGKILL")


def test_autorestart_backs_off_and_names_a_crash_loop(tmp_path, supervisors) -> None:
    port = free_port()
    argv = [sys.executable, str(CRASHER), "MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017"]
    supervisor = supervisors(managed_config(tmp_path, port, argv, autorestart=True), backoff=lambda n: 0.01)
    events = events_of(supervisor)
    supervisor.start("backend")
    wait_until(lambda: any(e.kind == "crash_loop" for e in events), timeout=30, what="the crash loop")
    [loop] = [e for e in events if e.kind == "crash_loop"]
    assert "crash loop (5 exits in 60 s)" in loop.detail
    assert loop.detail.endswith("MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017")
    assert supervisor.status("backend").state is ChildState.CRASH_LOOP
    assert sum(e.kind == "backoff" for e in events) == 4  # restarted four times, then gave up


def test_a_later_supervisor_adopts_the_running_child(tmp_path, supervisors) -> None:
    port = free_port()
    config = managed_config(tmp_path, port, backend_argv(port))
    first = supervisors(config)
    assert first.start("backend").ok
    pid = first.status("backend").pid
    first.close()
    second = supervisors(config)
    assert (second.status("backend").state, second.status("backend").pid) == (ChildState.RUNNING, pid)
    assert second.start("backend").detail.startswith("backend is already running")
    assert second.stop("backend").ok
    assert listeners([port]) == []


def test_a_reload_keeps_the_running_child_and_says_new_settings_wait_for_a_restart(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port)))
    events = events_of(supervisor)
    assert supervisor.start("backend").ok
    pid = supervisor.status("backend").pid

    assert supervisor.reconfigure(managed_config(tmp_path, port, backend_argv(port))) == []  # the same settings
    # A new stop_timeout: the child runs on as it is, and the caller learns it needs a restart to apply it.
    assert supervisor.reconfigure(managed_config(tmp_path, port, backend_argv(port), stop_timeout=3)) == ["backend"]
    assert (supervisor.status("backend").state, supervisor.status("backend").pid) == (ChildState.RUNNING, pid)

    # Without `start` it is no longer managed, but its server runs on; named again, it is adopted.
    unmanaged = parse_config(f'[[service]]\nname = "backend"\nkind = "tcp"\nport = {port}\n', "x.toml")
    assert supervisor.reconfigure(unmanaged) == []
    assert not supervisor.managed("backend") and psutil.pid_exists(pid)
    supervisor.reconfigure(managed_config(tmp_path, port, backend_argv(port)))
    assert (supervisor.status("backend").state, supervisor.status("backend").pid) == (ChildState.RUNNING, pid)

    os.kill(pid, signal.SIGKILL)  # and its exit is seen
    wait_until(lambda: any(e.kind == "exited" for e in events), what="the exit to be noticed")
    assert supervisor.status("backend").state is ChildState.STOPPED


def test_output_is_in_the_service_log(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, [sys.executable, str(CRASHER), "--json", "boom"]))
    supervisor.start("backend")
    lines = last_lines(supervisor.log_path("backend"), 3)
    assert '"msg": "server starting"' in lines[-2] and lines[-1] == "boom"


CHATTY = r"""
import socket, sys, time
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
i = 0
while True:
    sys.stdout.write(f"line {i:07d} " + "x" * 100 + "\n")
    sys.stdout.flush()
    i += 1
    if i % 20 == 0:
        time.sleep(0.001)  # ok-sleep: the writer's own pace, not a test synchronisation
"""


def numbers_in(path: Path) -> list[int]:
    return [int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("line ")]


def test_a_running_childs_output_is_rotated_by_size_without_a_hole(tmp_path, supervisors) -> None:
    port = free_port()
    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    config = parse_config(
        f'[[service]]\nname = "backend"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {port}\n'
        f"start = {toml_list([sys.executable, str(script), str(port)])}\n",
        str(tmp_path / "t.toml"),
    )
    supervisor = supervisors(config, log_max_bytes=64 * 1024, log_check_interval=0.05)
    assert supervisor.start("backend").ok
    logs = supervisor.log_path("backend").parent
    wait_until(lambda: (logs / "backend.log.3").exists() and numbers_in(logs / "backend.log.1"), timeout=30)
    assert supervisor.stop("backend").ok

    files = [logs / name for name in ("backend.log.3", "backend.log.2", "backend.log.1", "backend.log")]
    assert sorted(p.name for p in logs.iterdir()) == sorted(p.name for p in files)  # three backups, no more
    runs = [numbers_in(path) for path in files]
    for path, run in zip(files, runs, strict=True):
        assert b"\0" not in path.read_bytes()  # the child appends at the new start: no sparse hole of zeros
        if run:
            assert run == list(range(run[0], run[0] + len(run)))  # nothing lost within a file
    for path in files[1:]:  # each starts by saying where the output before it went
        assert re.search(r"rotated: the [\d,]+ bytes before this line went to backend\.log\.1 ", path.read_text())
    numbers = [n for run in runs for n in run]
    assert numbers == sorted(set(numbers))  # oldest to newest across the files, in order, nothing twice
    # copytruncate loses only what is written between the copy and the truncation
    lost = [b[0] - a[-1] - 1 for a, b in itertools.pairwise(run for run in runs if run)]
    print(f"lines lost at each rotation: {lost}")


def test_a_stop_that_comes_as_the_child_crashes_wins_over_autorestart(tmp_path, supervisors) -> None:
    # Stop pressed at the moment the backend dies: the crash is being handled when the stop
    # arrives. The user's stop must win; the automatic restart must not bring it back.
    port = free_port()
    config = managed_config(tmp_path, port, backend_argv(port), autorestart=True)
    supervisor = supervisors(config, backoff=lambda n: 0.5)
    stops: list = []
    watchers: list[threading.Thread] = []

    def stop_on_exit(event: SupervisorEvent) -> None:
        if event.kind == "exited" and not stops:
            watchers.append(threading.current_thread())  # the thread that saw the exit
            stops.append(supervisor.stop("backend"))

    supervisor.subscribe(stop_on_exit)
    assert supervisor.start("backend").ok
    os.kill(supervisor.status("backend").pid, signal.SIGKILL)
    wait_until(lambda: watchers and not watchers[0].is_alive(), what="the exit to be handled")
    assert stops[0].ok, stops[0].detail
    status = supervisor.status("backend")
    assert (status.state, status.pid) == (ChildState.STOPPED, None)
    assert listeners([port]) == []


def test_a_crash_is_seen_even_when_its_output_file_is_gone(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port)))
    events = events_of(supervisor)
    assert supervisor.start("backend").ok
    supervisor.log_path("backend").unlink()  # someone cleaned up the log directory
    os.kill(supervisor.status("backend").pid, signal.SIGKILL)
    wait_until(lambda: any(e.kind == "exited" for e in events), what="the exit to be noticed")
    assert supervisor.status("backend").state is ChildState.STOPPED
    assert supervisor.status("backend").last_exit == "backend was killed by SIGKILL"


def test_output_rotation_goes_on_after_a_rotation_fails(tmp_path, supervisors, caplog) -> None:
    port = free_port()
    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    config = parse_config(
        f'[[service]]\nname = "backend"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {port}\n'
        f"start = {toml_list([sys.executable, str(script), str(port)])}\n",
        str(tmp_path / "t.toml"),
    )
    logs = captured_output(config.services[0].home, "backend", tmp_path / "logs").parent
    (logs / "backend.log.3" / "keep").mkdir(parents=True)  # a backup name taken by a full directory:
    (logs / "backend.log.2").mkdir()  # moving .2 up to .3 fails
    supervisor = supervisors(config, log_max_bytes=64 * 1024, log_check_interval=0.05)
    assert supervisor.start("backend").ok
    wait_until(lambda: any("cannot rotate" in r.getMessage() for r in caplog.records), what="a failed rotation")
    [failed, *_] = [r for r in caplog.records if "cannot rotate" in r.getMessage()]
    assert failed.exc_info is not None  # logged with its traceback
    # .2 first: while the full .3 is there, the rotator (every 0.05 s) cannot move .2 up into
    # it; removed the other way round, it may move .2 to .3 between the two calls
    shutil.rmtree(logs / "backend.log.2")
    shutil.rmtree(logs / "backend.log.3")
    wait_until(lambda: (logs / "backend.log.1").is_file() and numbers_in(logs / "backend.log.1"), timeout=30,
               what="the next rotation")  # fmt: skip
    assert supervisor.stop("backend").ok


WATCHER = Path(__file__).parent / "kit" / "watcher.py"
CRASH_LINE = "[nodemon] app crashed - waiting for file changes before starting..."


def set_mode(port: int, mode: str) -> None:
    httpx.post(f"http://127.0.0.1:{port}/_control/mode/{mode}", timeout=5).raise_for_status()


def test_a_start_that_never_gets_healthy_stops_what_it_started_and_the_next_start_fails_too(
    tmp_path, supervisors
) -> None:
    port = free_port()
    config = managed_config(tmp_path, port, backend_argv(port, "--mode", "status_500"), start_timeout=1)
    supervisor = supervisors(config)
    first = supervisor.start("backend")
    assert not first.ok
    assert first.detail.startswith("backend failed to start: not healthy within 1 s; last check: ")
    assert first.detail.endswith("; trayapp stopped it (SIGTERM).")
    assert listeners([port]) == []  # nothing left running
    assert supervisor.status("backend").state is ChildState.STOPPED

    second = supervisor.start("backend")
    assert not second.ok and second.detail.startswith("backend failed to start: not healthy within 1 s")


def test_a_start_of_a_running_service_that_is_not_healthy_fails_and_says_why(tmp_path, supervisors) -> None:
    port = free_port()
    supervisor = supervisors(managed_config(tmp_path, port, backend_argv(port)))
    assert supervisor.start("backend").ok
    pid = supervisor.status("backend").pid
    set_mode(port, "status_500")  # it runs, but its health check fails now
    again = supervisor.start("backend")
    assert not again.ok
    assert again.detail.startswith(f"backend is running (pid {pid}) but not healthy: ")
    assert again.detail.endswith("; `trayapp restart backend` starts it afresh")


def test_under_a_watcher_a_start_fails_at_its_crash_line_and_quotes_it(tmp_path, supervisors) -> None:
    # nodemon stays up when the app dies at start: no exit to see, nothing on the port. The
    # start must not wait out its start_timeout (100 s here) but fail at nodemon's line.
    port = free_port()
    argv = [sys.executable, str(WATCHER), "--", sys.executable, str(CRASHER)]
    supervisor = supervisors(managed_config(tmp_path, port, argv, start_timeout=100))
    events = events_of(supervisor)
    result = supervisor.start("backend")
    assert not result.ok
    assert result.detail.startswith(f"backend failed to start: its watcher says: {CRASH_LINE}")
    assert "Error: listen EADDRINUSE: address already in use :::5000" in result.detail  # what the app said
    assert result.detail.endswith("; trayapp stopped it (SIGTERM).")
    watcher = [e for e in events if e.kind == "starting"][0].detail.split("pid ")[1].rstrip(")")
    assert not psutil.pid_exists(int(watcher)) or psutil.Process(int(watcher)).status() == psutil.STATUS_ZOMBIE


def test_a_password_in_the_start_command_is_hidden_in_the_output_header_and_the_record(tmp_path, supervisors) -> None:
    port = free_port()
    command = "DATABASE_URL=mongodb://app:s3cret-pw@127.0.0.1:27017/app?proxyPassword=pr0xy-pw " + shlex.join(
        backend_argv(port)
    )
    path = tmp_path / "trayapp.toml"
    path.write_text(
        f'[[service]]\nname = "backend"\nkind = "http"\nurl = "http://127.0.0.1:{port}/api/health"\n'
        f"start = {json.dumps(command)}\nshell = true\n"
    )
    supervisor = supervisors(parse_config(path.read_text(), str(path)))
    assert supervisor.start("backend").ok
    header = supervisor.log_path("backend").read_text().splitlines()[0]
    assert "DATABASE_URL=mongodb://***@127.0.0.1:27017/app?proxyPassword=***" in header
    record = (config_records(str(path), tmp_path / "state") / "backend.json").read_text()
    assert "mongodb://***@127.0.0.1:27017/app?proxyPassword=***" in record
    for text in (header, record):
        assert "s3cret-pw" not in text and "pr0xy-pw" not in text


# ------------------------------------------------- issue 9, section 1: the exit and start sentences quote this run only

MODULE_ERROR = "Error: Cannot find module './routes/users'"
MONGO_ERROR = "MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017"
NOT_BY_TRAYAPP = "(not by trayapp: a kill from another program or a terminal, or the kernel's out-of-memory killer)"


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def serve(port: int, mode: str = "healthy") -> str:
    """The shell words that run the test backend in place of the shell."""
    return f"exec {shlex.quote(sys.executable)} {shlex.quote(str(BACKEND_SCRIPT))} --mode {mode} --port {port}"


def transitions_of(monitor: Monitor) -> list[Transition]:
    seen: list[Transition] = []
    monitor.subscribe(lambda e: seen.append(e) if isinstance(e, Transition) else None)
    return seen


def test_an_outside_sigkill_is_explained_by_the_signal_not_by_a_failed_earlier_run(tmp_path, supervisors) -> None:
    """Once failed with "Cannot find module", fixed, healthy, then SIGKILLed from outside: the
    popup and the table say it was killed by a signal trayapp did not send, and nothing of the
    failed run."""
    port = free_port()
    broken = tmp_path / "broken"
    broken.touch()
    script = f'if [ -e {shlex.quote(str(broken))} ]; then echo "{MODULE_ERROR}" >&2; exit 1; fi; {serve(port)}'
    config = managed_config(tmp_path, port, sh(script))
    monitor = Monitor(config.services)
    supervisor = supervisors(config, monitor=monitor)
    failed = supervisor.start("backend")
    assert not failed.ok and MODULE_ERROR in failed.detail  # the failed run's own error, at its own start
    broken.unlink()
    assert supervisor.start("backend").ok
    downs = transitions_of(monitor)
    events = events_of(supervisor)
    os.kill(supervisor.status("backend").pid, signal.SIGKILL)
    wait_until(lambda: any(t.new is State.DOWN for t in downs), what="the exit to be reported")
    [exited] = [e for e in events if e.kind == "exited"]
    assert exited.detail == "backend was killed by SIGKILL"
    [down] = [t for t in downs if t.new is State.DOWN]
    assert (down.reason, down.detail) == (Reason.EXITED, f"backend was killed by SIGKILL {NOT_BY_TRAYAPP}")
    [snapshot] = monitor.status()
    assert snapshot.last is not None and "Cannot find module" not in snapshot.last.detail


def test_a_start_that_answers_404_is_not_blamed_on_any_output_line(tmp_path, supervisors) -> None:
    """The health path is wrong: the start fails with the last check's 404, not with the error
    of an earlier run, nor with a line of this run that a 404 cannot be explained by."""
    port = free_port()
    broken = tmp_path / "broken"
    broken.touch()
    script = (
        f'if [ -e {shlex.quote(str(broken))} ]; then echo "{MODULE_ERROR}" >&2; exit 1; fi; '
        f"echo 'TypeError: Cannot read properties of undefined' >&2; {serve(port, 'not_found')}"
    )
    supervisor = supervisors(managed_config(tmp_path, port, sh(script), start_timeout=1.5))
    assert not supervisor.start("backend").ok
    broken.unlink()
    result = supervisor.start("backend")
    assert not result.ok
    assert result.detail.startswith(
        "backend failed to start: not healthy within 1.5 s; last check: backend answers 404 Not Found"
    ), result.detail
    assert "the health path is wrong or not mounted" in result.detail
    assert "Cannot find module" not in result.detail and "TypeError" not in result.detail


def test_a_resolved_mongo_error_is_not_the_reason_for_a_later_kill(tmp_path, supervisors) -> None:
    """``jobs`` logged a MongoDB error at start, then that it reconnected, passed three healthy
    checks, and was SIGKILLed: popup and table say the signal, not the Mongo error."""
    port = free_port()
    script = f"echo '{MONGO_ERROR}' >&2; echo 'MongoDB reconnected'; {serve(port)}"
    config = managed_config(tmp_path, port, sh(script))
    monitor = Monitor(config.services)
    ups: list[CheckEvent] = []
    monitor.subscribe(lambda e: ups.append(e) if isinstance(e, CheckEvent) and e.result.state is State.UP else None)
    downs = transitions_of(monitor)
    supervisor = supervisors(config, monitor=monitor)
    assert supervisor.start("backend").ok
    monitor.start()
    try:
        wait_until(lambda: len(ups) >= 3, what="three healthy checks")
        os.kill(supervisor.status("backend").pid, signal.SIGKILL)
        wait_until(lambda: any(t.new is State.DOWN for t in downs), what="the exit to be reported")
    finally:
        monitor.stop()
    [down] = [t for t in downs if t.new is State.DOWN]
    assert down.detail == f"backend was killed by SIGKILL {NOT_BY_TRAYAPP}"
    [snapshot] = monitor.status()
    assert snapshot.last is not None and "Mongo" not in snapshot.last.detail


def test_an_exit_after_healthy_checks_quotes_only_what_came_after_them(tmp_path, supervisors) -> None:
    """The Mongo error before the healthy checks is not quoted for a later silent exit; an
    error written after them is."""
    port = free_port()
    script = (
        f"echo '{MONGO_ERROR}' >&2; {sys.executable} {BACKEND_SCRIPT} --port {port} & app=$!; "
        "trap 'kill $app; [ -e quiet ] || echo \"TypeError: boom\" >&2; exit 1' USR1; wait $app"
    )
    config = managed_config(tmp_path, port, sh(script))
    # The monitor is not started: its healthy check is made here and reported through it, so
    # that no check is in flight when the child writes its last words (the supervisor takes its
    # healthy mark when a check's result arrives, so one in flight would move it past them).
    monitor = Monitor(config.services)
    checker = Checker(config.services[0])
    supervisor = supervisors(config, monitor=monitor)
    events = events_of(supervisor)
    said = [(True, "backend exited with code 1"), (False, "backend exited with code 1: TypeError: boom")]
    try:
        for runs, (quiet, expected) in enumerate(said, start=1):
            if quiet:
                (tmp_path / "quiet").touch()
            else:
                (tmp_path / "quiet").unlink()
            assert supervisor.start("backend").ok
            healthy = checker.check()
            assert healthy.state is State.UP, healthy.detail
            monitor.report(healthy)
            os.kill(supervisor.status("backend").pid, signal.SIGUSR1)
            wait_until(lambda n=runs: sum(e.kind == "exited" for e in events) == n, what="the exit")
            assert [e.detail for e in events if e.kind == "exited"][-1] == expected
    finally:
        checker.close()
