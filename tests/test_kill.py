"""Safe kill of whatever holds a port: real processes, real signals, real sockets."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.kit.servers import Backend, free_port
from tests.kit.users import nobody_ids
from tests.kit.wait import wait_until
from trayapp.checks.ports import listeners
from trayapp.supervise.kill import (
    KillPlan,
    KillReport,
    KillTarget,
    execute_kill,
    is_planned_process,
    kill_port,
    plan_kill,
    refusal,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

BackendFactory = Callable[..., Backend]


def gone(pid: int) -> bool:
    """The pid no longer names a live process (a zombie counts as gone: it holds nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def run_python(code: str, as_nobody: bool = False) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (optionally dropping to user ``nobody`` first); its
    last stdout line is JSON. Dropping happens after the imports because this venv's
    interpreter lives under /root, which ``nobody`` may not read (so ``user=`` cannot work)."""
    prelude = (
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "import psutil, trayapp.checks.ports, trayapp.supervise.kill\n"
    )
    if as_nobody:
        uid, gid = nobody_ids()
        prelude += f"os.setgroups([]); os.setgid({gid}); os.setuid({uid})\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60, cwd="/", check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def group_child() -> Iterator[Callable[..., tuple[subprocess.Popen[str], list[str]]]]:
    """``start(*args)`` runs ``python -c args...`` in its own process group and returns it with the
    words of its first output line; every group is SIGKILLed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
        proc = subprocess.Popen(
            [sys.executable, "-c", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        started.append(proc)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().split()

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def parent_with_child(group_child) -> Callable[[], tuple[int, int, int]]:
    """``start()`` -> (port, parent pid, child pid): a listener whose child does not hold the socket."""
    code = (
        "import signal, socket, subprocess, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal; signal.pause()'])\n"
        "print(s.getsockname()[1], child.pid, flush=True)\n"
        "signal.pause()\n"
    )

    def start() -> tuple[int, int, int]:
        proc, (port, child) = group_child(code)
        return int(port), proc.pid, int(child)

    return start


@pytest.fixture
def respawning(group_child) -> Callable[[], tuple[int, int, int]]:
    """``start()`` -> (port, supervisor pid, first worker pid): a supervisor (not listening
    itself) that restarts its listening worker on the same port whenever it exits."""
    worker = (
        "import signal, socket, sys\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
        "print('up', flush=True); signal.pause()\n"
    )
    supervisor = (
        "import subprocess, sys\n"
        "port = sys.argv[2]\n"
        "while True:\n"
        "    w = subprocess.Popen([sys.executable, '-c', sys.argv[1], str(port)], stdout=subprocess.PIPE, text=True)\n"
        "    w.stdout.readline()\n"
        "    print(port, w.pid, flush=True)\n"
        "    w.wait()\n"
    )

    def start() -> tuple[int, int, int]:
        proc, (port, pid) = group_child(supervisor, worker, str(free_port()))
        return int(port), proc.pid, int(pid)

    return start


# --------------------------------------------------------------------------- stopping


def test_healthy_listener_is_freed_by_sigterm(backend: BackendFactory) -> None:
    server = backend()
    name = psutil.Process(server.pid).name()
    report = kill_port(server.port, grace=5.0, free_timeout=5.0)
    assert (report.outcome, report.ok) == ("freed", True), report.detail
    assert report.terminated == (server.pid,) and report.forced == ()
    assert re.fullmatch(
        rf"port {server.port} is free: {re.escape(name)} \(pid {server.pid}\) exited [0-9.]+ s after SIGTERM",
        report.detail,
    ), report.detail
    assert server.proc.wait(timeout=5) == -signal.SIGTERM
    assert listeners([server.port]) == []
    assert 0 < report.elapsed_s < 5
    assert report.to_json()["outcome"] == "freed" and report.to_json()["terminated"] == [server.pid]


def test_a_stopped_listener_is_woken_to_act_on_sigterm_not_killed_after_the_grace(backend: BackendFactory) -> None:
    server = backend()
    os.kill(server.pid, signal.SIGSTOP)  # as Ctrl-Z or a debugger leaves it
    report = kill_port(server.port, grace=30.0, free_timeout=5.0)
    assert (report.outcome, report.ok, report.forced) == ("freed", True, ()), report.detail
    assert server.proc.wait(timeout=5) == -signal.SIGTERM  # it ended by SIGTERM, handled once awake


def test_ipv6_listener_is_freed(backend: BackendFactory) -> None:
    server = backend(host="::1")
    report = kill_port(server.port)
    assert (report.outcome, report.ok) == ("freed", True), report.detail
    assert listeners([server.port]) == []


def test_listener_ignoring_sigterm_is_killed_after_grace(backend: BackendFactory) -> None:
    server = backend(ignore_term=True)
    name = psutil.Process(server.pid).name()
    report = kill_port(server.port, grace=0.5, free_timeout=5.0)
    assert (report.outcome, report.ok) == ("forced", True), report.detail
    assert report.terminated == (server.pid,) and report.forced == (server.pid,)
    assert report.detail == (
        f"port {server.port} is free: {name} (pid {server.pid}) ignored SIGTERM for 0.5 s and was killed"
    )
    assert server.proc.wait(timeout=5) == -signal.SIGKILL
    assert listeners([server.port]) == []
    assert report.elapsed_s >= 0.5


def test_forked_child_sharing_the_socket_is_stopped_too(backend: BackendFactory) -> None:
    server = backend(fork_child=True)
    assert server.child_pid is not None
    plan = plan_kill(server.port)
    assert plan.problem is None
    assert {(t.pid, t.role) for t in plan.targets} == {(server.pid, "listener"), (server.child_pid, "listener")}
    report = execute_kill(plan, grace=5.0, free_timeout=5.0)
    assert (report.outcome, report.ok) == ("freed", True), report.detail
    assert set(report.terminated) == {server.pid, server.child_pid}
    wait_until(lambda: gone(server.pid) and gone(server.child_pid or 0), what="both processes to be gone")
    assert listeners([server.port]) == []


def test_forked_child_ignoring_sigterm_is_forced(backend: BackendFactory) -> None:
    server = backend(fork_child=True, ignore_term=True)
    report = kill_port(server.port, grace=0.3, free_timeout=5.0)
    assert (report.outcome, report.ok) == ("forced", True), report.detail
    assert set(report.forced) == {server.pid, server.child_pid}
    assert "were killed" in report.detail
    assert listeners([server.port]) == []


def test_descendants_of_the_listener_are_stopped(parent_with_child: Callable[[], tuple[int, int, int]]) -> None:
    port, parent, child = parent_with_child()
    plan = plan_kill(port)
    assert [(t.pid, t.role) for t in plan.targets] == [(parent, "listener"), (child, "child")]
    report = execute_kill(plan, grace=5.0)
    assert (report.outcome, report.ok) == ("freed", True), report.detail
    assert set(report.terminated) == {parent, child}
    assert "and 1 child process" in report.detail
    wait_until(lambda: gone(parent) and gone(child), what="parent and child to be gone")


def test_listener_restarted_by_a_supervisor_is_still_busy(respawning: Callable[[], tuple[int, int, int]]) -> None:
    port, supervisor, first = respawning()
    # settle is generous so a slow restart on a loaded machine is still seen; the wait ends
    # as soon as the port is taken again, which is what the last assertion checks
    settle = 30.0
    report = kill_port(port, grace=5.0, free_timeout=5.0, settle=settle)
    assert (report.outcome, report.ok) == ("still_busy", False), report.detail
    assert report.terminated == (first,)
    (holder,) = listeners([port])
    assert holder.pid not in (first, supervisor) and holder.ppid == supervisor
    name = psutil.Process(supervisor).name()
    assert report.detail.startswith(f"port {port} is held again by {holder.name} (pid {holder.pid}, started ")
    assert report.detail.endswith(f"its parent {name} (pid {supervisor}) probably restarted it, stop that instead")
    assert report.elapsed_s < settle  # reported when the port was taken again, not after the whole settle


def test_nothing_listening() -> None:
    port = free_port()
    plan = plan_kill(port)
    assert plan.targets == () and plan.blocked == "not_listening"
    report = execute_kill(plan)
    assert (report.outcome, report.ok) == ("not_listening", True)
    assert report.detail == f"nothing is listening on port {port}"
    assert report.terminated == report.forced == ()


def test_target_that_exited_after_planning_is_gone_not_an_error(backend: BackendFactory) -> None:
    server = backend()
    plan = plan_kill(server.port)
    server.kill()  # exits (and is reaped) between planning and executing
    report = execute_kill(plan, free_timeout=2.0)
    assert (report.outcome, report.ok) == ("gone", True), report.detail
    assert report.skipped == (server.pid,) and report.terminated == ()
    assert "had already exited" in report.detail


# --------------------------------------------------------------------------- PID reuse guard


def test_pid_reuse_guard_skips_a_process_whose_start_time_differs(backend: BackendFactory) -> None:
    server = backend()
    plan = plan_kill(server.port)
    (target,) = plan.targets
    assert target.started is not None
    proc = plan.processes[server.pid]
    assert is_planned_process(target, proc)
    # The plan recorded another process that used to have this pid (started 100 s earlier).
    impostor = dataclasses.replace(target, started=target.started - 100)
    assert not is_planned_process(impostor, proc)
    stale = dataclasses.replace(plan, targets=(impostor,))
    report = execute_kill(stale, grace=0.5, free_timeout=0.2)
    assert report.terminated == () and report.forced == ()
    assert report.skipped == (server.pid,)
    assert (report.outcome, report.ok) == ("still_busy", False)
    assert "nothing was signalled" in report.detail
    assert server.proc.poll() is None  # never signalled
    assert [lst.pid for lst in listeners([server.port])] == [server.pid]


# --------------------------------------------------------------------------- refusals


def _target_for(pid: int, role: str = "listener") -> KillTarget:
    proc = psutil.Process(pid)
    return KillTarget(pid, proc.name(), tuple(proc.cmdline()), None, None, proc.create_time(), role)


def test_refusal_of_system_ourselves_and_ancestors() -> None:
    assert "system process" in (refusal(1, (_target_for(1),)) or "")
    assert "system process" in (refusal(1, (KillTarget(0, None, None, None, None, None, "listener"),)) or "")
    assert "this program itself" in (refusal(1, (_target_for(os.getpid()),)) or "")
    assert "started this program" in (refusal(1, (_target_for(os.getppid()),)) or "")
    # an ancestor met as a descendant of another listener is refused just the same
    grandparent = psutil.Process().parents()[-1].pid
    assert refusal(1, (_target_for(grandparent, "child"),)) is not None


def test_our_own_listening_socket_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        plan = plan_kill(port)
        assert plan.blocked == "refused"
        assert [t.pid for t in plan.targets] == [os.getpid()]
        me = f"{psutil.Process().name()} (pid {os.getpid()})"
        assert plan.problem == f"port {port} is held by this program itself ({me}); refusing to kill it"
        report = execute_kill(plan, grace=0.1, free_timeout=0.1)
        assert (report.outcome, report.ok, report.terminated) == ("refused", False, ())
        # a hand-made plan without the verdict is refused at execution all the same
        unguarded = KillPlan(port, plan.targets, None, None, plan.processes)
        assert execute_kill(unguarded, grace=0.1, free_timeout=0.1).outcome == "refused"
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # still listening


def test_socket_of_our_parent_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        seen = run_python(f"print(json.dumps(trayapp.supervise.kill.kill_port({port}, grace=0.1).to_json()))")
        assert seen["outcome"] == "refused" and seen["ok"] is False and seen["terminated"] == []
        assert f"(pid {os.getpid()}), which started this program" in str(seen["detail"])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # still listening


# --------------------------------------------------------------------------- other users


def test_another_users_listener_is_access_denied(backend: BackendFactory) -> None:
    server = backend()
    seen = run_python(
        f"plan = trayapp.supervise.kill.plan_kill({server.port})\n"
        "report = trayapp.supervise.kill.execute_kill(plan, grace=0.1, free_timeout=0.1)\n"
        "print(json.dumps(dict(report.to_json(), problem=plan.problem, targets=len(plan.targets))))\n",
        as_nobody=True,
    )
    assert seen["outcome"] == "access_denied" and seen["ok"] is False
    assert seen["terminated"] == [] and seen["targets"] == 0
    assert seen["detail"] == seen["problem"]
    detail = str(seen["detail"])
    assert detail.startswith(f"port {server.port} is held by a process of another user")
    assert f"sudo ss -ltnp 'sport = :{server.port}'" in detail
    assert server.proc.poll() is None


def test_signal_denied_at_execution_says_so(backend: BackendFactory) -> None:
    """A plan naming another user's process (here built by hand, as nobody cannot see the
    owner) is refused by the kernel; the report says who and what to run."""
    server = backend()
    seen = run_python(
        "from trayapp.supervise.kill import KillPlan, KillTarget, execute_kill\n"
        f"proc = psutil.Process({server.pid})\n"
        "target = KillTarget(proc.pid, proc.name(), None, None, None, proc.create_time(), 'listener')\n"
        f"plan = KillPlan({server.port}, (target,), None, None, {{proc.pid: proc}})\n"
        "print(json.dumps(execute_kill(plan, grace=0.1, free_timeout=0.1).to_json()))\n",
        as_nobody=True,
    )
    assert seen["outcome"] == "access_denied" and seen["ok"] is False
    assert seen["terminated"] == [] and seen["forced"] == []
    assert f"it belongs to another user; run `sudo kill {server.pid}`" in str(seen["detail"])
    assert server.proc.poll() is None


def test_report_json_shape() -> None:
    report = KillReport(5000, "forced", True, "port 5000 is free", (1, 2), (2,), 0.12345)
    assert report.to_json() == {
        "port": 5000,
        "outcome": "forced",
        "ok": True,
        "detail": "port 5000 is free",
        "terminated": [1, 2],
        "forced": [2],
        "skipped": [],
        "elapsed_s": 0.123,
    }
