"""Who holds the port is never simply trusted (issue 9, section 3), with real processes.

A stale server from another checkout answering 404 while the service's log says EADDRINUSE;
pre-fork workers orphaned to pid 1; a watcher that would start its app again; a stopped
(SIGSTOP) owner behind a tcp, http or mongo check; Docker's port publisher and another
user's process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.servers import BACKEND_SCRIPT, Backend, free_port, start_backend
from tests.kit.services import service_toml, tcp_service
from tests.kit.users import run_as_nobody
from tests.kit.wait import LineReader, wait_until
from trayapp.checks.checker import Checker
from trayapp.checks.ports import listeners, watcher_kind
from trayapp.config.load import parse_config
from trayapp.model import Reason, State
from trayapp.monitor.scheduler import CheckEvent, Monitor
from trayapp.supervise.kill import execute_kill, plan_kill
from trayapp.supervise.marks import marked_processes
from trayapp.supervise.supervisor import Supervisor

KIT = Path(__file__).parent / "kit"
PREFORK = KIT / "prefork.py"
WATCHER = KIT / "watcher.py"
DOCKER_PROXY = KIT / "docker_proxy.py"


# --------------------------------------------------------------------------- helpers


class Procs:
    """Real processes a test starts, each in its own session; all killed (woken first) at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self.backends: list[Backend] = []

    def spawn(self, argv: list[str], *, log: Path | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        out = log.open("ab") if log is not None else subprocess.PIPE
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if log else
                                    None, cwd=cwd, start_new_session=True)  # fmt: skip
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        self.started.append(proc)
        return proc

    def backend(self, mode: str = "healthy", port: int = 0, cwd: Path | None = None) -> Backend:
        server = start_backend(mode, port=port, cwd=cwd)
        self.backends.append(server)
        return server

    def close(self) -> None:
        for server in self.backends:
            _wake(server.pid)
            server.kill()
        for proc in self.started:
            try:
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def _wake(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


@pytest.fixture
def procs() -> Iterator[Procs]:
    made = Procs()
    yield made
    made.close()


def nodemon_like(where: Path) -> Path:
    """tests/kit/watcher.py under the name ``nodemon``, so its command line reads like nodemon's."""
    link = where / "bin" / "nodemon"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(WATCHER)
    return link


def holders(port: int) -> list[int]:
    return sorted(x.pid for x in listeners([port]) if x.pid is not None)


def stop_process(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, what=f"pid {pid} to stop")


def project(tmp_path: Path, name: str = "project") -> Path:
    """A project folder (its package.json makes it one: a trayapp.toml there is the project's own)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "package.json").write_text(json.dumps({"name": name, "private": True}), encoding="utf-8")
    return folder


def status_of(config: Path, home: Path) -> dict:
    result = run_cli("status", "--json", "--config", config, home=home)
    services = json.loads(result.stdout)["services"]
    return services[0] if len(services) == 1 else {s["name"]: s for s in services}


def process_name(pid: int) -> str:
    return psutil.Process(pid).name()


# --------------------------------------------------------------------------- stale holders


def test_a_stale_server_from_another_checkout_answering_404_is_named_with_the_eaddrinuse(tmp_path, procs) -> None:
    """The issue's case: node from ~/old-checkout holds the port and answers 404 to everything;
    the backend's nodemon log, written seconds ago, says EADDRINUSE. Named in status and watch."""
    port = free_port()
    stale = procs.backend("not_found", port=port, cwd=project(tmp_path, "old-checkout"))
    app = project(tmp_path)
    log = app / "nodemon.log"
    procs.spawn(
        [sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable, str(BACKEND_SCRIPT), "--port", str(port)],
        log=log,
        cwd=app,
    )
    wait_until(lambda: "app crashed" in log.read_text(), what="the app to fail with EADDRINUSE")
    config = app / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", timeout=1.0,
                                   interval=0.2, log=str(log)))  # fmt: skip

    backend = status_of(config, tmp_path)
    assert (backend["state"], backend["reason"]) == ("down", "stale_holder")
    name = process_name(stale.pid)
    assert re.fullmatch(
        rf"port {port} is answered by {re.escape(name)} \(pid {stale.pid}, started \d+ s ago in ~/old-checkout\) "
        rf"with 404 Not Found, not by backend, whose log says EADDRINUSE; a stale server holds the port: stop it "
        rf"with `trayapp kill {port}`\. Its log \(nodemon\.log, written \d+ s ago\) says: \[backend \d+\] cannot "
        rf"listen on 127\.0\.0\.1:{port}: \[Errno 98\] Address already in use",
        backend["detail"],
    ), backend["detail"]
    assert [x["cwd"] for x in backend["listeners"]] == [str(tmp_path / "old-checkout")]

    watch = subprocess.Popen(trayapp_command("watch", "--config", config, "--json"), cwd=tmp_path,
                             env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        reader = LineReader(watch.stdout)
        event = json.loads(reader.line(timeout=20))
        while event["event"] != "transition":
            event = json.loads(reader.line(timeout=20))
        assert (event["to"], event["reason"]) == ("down", "stale_holder")
        assert event["detail"].startswith(f"port {port} is answered by {name} (pid {stale.pid}")
    finally:
        watch.kill()
        watch.wait(timeout=10)
        if watch.stdout is not None:
            watch.stdout.close()


def test_a_healthy_answer_from_a_server_older_than_the_eaddrinuse_is_not_the_service(tmp_path, procs) -> None:
    """The code the user edits is not what answers: the log's newest run could not take the
    port from an older server that answers 200."""
    port = free_port()
    stale = procs.backend("healthy", port=port)
    app = project(tmp_path)
    log = app / "nodemon.log"
    procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable, str(BACKEND_SCRIPT), "--port",
                 str(port)], log=log, cwd=app)  # fmt: skip
    wait_until(lambda: "app crashed" in log.read_text(), what="the app to fail with EADDRINUSE")
    config = app / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", log=str(log)))
    backend = status_of(config, tmp_path)
    assert (backend["state"], backend["reason"]) == ("down", "stale_holder")
    assert f"is answered by {process_name(stale.pid)} (pid {stale.pid}" in backend["detail"]
    assert "not by backend, whose log says EADDRINUSE: the code you edit is not what answers" in backend["detail"]


def test_a_404_from_a_server_outside_the_project_folder_is_a_stale_holder(tmp_path, procs) -> None:
    port = free_port()
    stale = procs.backend("not_found", port=port, cwd=project(tmp_path, "old-checkout"))
    app = project(tmp_path)
    config = app / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health"))
    backend = status_of(config, tmp_path)
    assert (backend["state"], backend["reason"]) == ("down", "stale_holder")
    assert backend["detail"] == (
        f"port {port} is answered by {process_name(stale.pid)} (pid {stale.pid}, started "
        f"{backend['detail'].split('started ')[1].split(' ago')[0]} ago in ~/old-checkout) with 404 Not Found, "
        f"not by backend: it runs outside backend's folder (~/project); a stale server holds the port: stop it "
        f"with `trayapp kill {port}`."
    )


def test_a_config_in_an_unrelated_folder_is_no_evidence_of_a_stale_server(tmp_path, stack) -> None:
    """User trial, case 3: a trayapp.toml in a folder that is not the backend's (no project there)
    with a wrong health path. The real backend (Express under nodemon, in its project) answers 404;
    that folder said "stale server …: stop both with trayapp kill PORT --with-watcher", advice that
    kills the user's real backend. A config file's folder is no evidence of where the service runs."""
    backend = stack.nodemon(f"mongodb://127.0.0.1:{free_port()}/app")
    elsewhere = tmp_path / "trial-cfg3"
    elsewhere.mkdir()
    config = elsewhere / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=backend.url("/api/nope")), encoding="utf-8")

    row = status_of(config, tmp_path)

    assert (row["reason"], row["http_status"], row["headline"]) == ("http_status", 404, "health path not found (404)")
    assert row["detail"].endswith(": the server runs, but the health path is wrong or not mounted.")
    assert "kill" not in row["detail"]


def test_a_404_from_a_server_in_the_project_folder_stays_a_wrong_health_path(tmp_path, procs) -> None:
    """Nothing says the holder is someone else: the 404 is the service's own, and says so."""
    app = project(tmp_path)
    server = procs.backend("not_found", cwd=app)
    config = app / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=server.url()))
    backend = status_of(config, tmp_path)
    assert (backend["reason"], backend["http_status"]) == ("http_status", 404)
    assert "the health path is wrong or not mounted" in backend["detail"]


def test_a_stale_server_under_a_watcher_is_killed_with_its_watcher(tmp_path, procs) -> None:
    """The stale server runs under nodemon in the old checkout: the sentence says so and
    `trayapp kill PORT --with-watcher` stops both, so nothing starts it again."""
    port = free_port()
    old = project(tmp_path, "old-checkout")
    old_log = old / "nodemon.log"
    old_watcher = procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable,
                               str(BACKEND_SCRIPT), "--mode", "not_found", "--port", str(port)], log=old_log,
                              cwd=old)  # fmt: skip
    wait_until(lambda: holders(port), what="the stale server to listen")
    [stale] = holders(port)
    app = project(tmp_path)
    config = app / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health"))
    backend = status_of(config, tmp_path)
    assert backend["reason"] == "stale_holder"
    assert backend["detail"].endswith(
        f"a stale server holds the port: it runs under nodemon (pid {old_watcher.pid}), which would start it again "
        f"on the next file save, so stop both with `trayapp kill {port} --with-watcher`."
    )

    killed = run_cli("kill", str(port), "--yes", "--with-watcher", "--json", home=tmp_path)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    report = json.loads(killed.stdout)
    assert old_watcher.pid in report["terminated"]  # first, so it cannot start the app again
    # the app too: signalled, or already ended by its watcher's own SIGTERM handler (then skipped)
    assert stale in report["terminated"] + report["skipped"]
    assert "nodemon (pid" in report["detail"]
    assert old_watcher.wait(timeout=10) is not None
    assert holders(port) == []


# --------------------------------------------------------------------------- watchers


def test_kill_says_a_watcher_would_start_the_app_again_and_leaves_it_unless_asked(tmp_path, procs) -> None:
    port = free_port()
    log = tmp_path / "nodemon.log"
    watcher = procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable, str(BACKEND_SCRIPT),
                           "--port", str(port)], log=log)  # fmt: skip
    wait_until(lambda: holders(port), what="the app to listen")
    [app] = holders(port)

    plan = plan_kill(port)
    assert [(t.pid, t.role) for t in plan.targets] == [(app, "listener")]
    assert [(w.pid, w.label) for w in plan.spared_watchers] == [(watcher.pid, f"nodemon (pid {watcher.pid})")]
    report = execute_kill(plan)
    assert report.ok, report.detail
    assert report.detail.endswith(
        f"; nodemon (pid {watcher.pid}) above it was not stopped and will start it again on the next file save: "
        f"`trayapp kill {port} --with-watcher` stops it too"
    )
    assert watcher.poll() is None  # still there, as the sentence says
    os.kill(watcher.pid, signal.SIGUSR1)  # the next file save
    wait_until(lambda: holders(port), what="the watcher to start the app again")

    both = plan_kill(port, with_watcher=True)
    assert {t.role for t in both.targets} == {"listener", "watcher"}
    report = execute_kill(both)
    assert report.ok and f"nodemon (pid {watcher.pid})" in report.detail, report.detail
    assert "--with-watcher" not in report.detail
    assert watcher.wait(timeout=10) is not None


@pytest.mark.parametrize(
    ("name", "cmdline", "kind"),
    [
        ("node", ["node", "/app/node_modules/.bin/nodemon", "server.js"], "nodemon"),
        ("node", ["node", "/app/node_modules/nodemon/bin/nodemon.js", "server.js"], "nodemon"),
        ("node", ["node", "--watch", "server.js"], "node --watch"),
        ("node", ["node", "--watch-path=src", "server.js"], "node --watch"),
        ("node", ["node", "/app/node_modules/.bin/tsx", "watch", "src/index.ts"], "tsx watch"),
        ("node", ["node", "/app/node_modules/tsx/dist/cli.mjs", "watch", "src/index.ts"], "tsx watch"),
        ("node", ["node", "/app/node_modules/ts-node-dev/lib/bin.js", "src/index.ts"], "ts-node-dev"),
        ("PM2 v5.3.1: God", ["PM2 v5.3.1: God Daemon (/home/dev/.pm2)"], "PM2"),
        ("node", ["node", "/app/node_modules/.bin/concurrently", "npm:dev:*"], "concurrently"),
        ("node", ["node", "server.js"], None),
        ("node", ["node", "/app/node_modules/.bin/tsx", "src/index.ts"], None),
        ("npm run dev", ["npm", "run", "dev"], None),
    ],
)
def test_known_watchers_are_recognised_by_their_command_lines(name: str, cmdline: list[str], kind: str | None) -> None:
    assert watcher_kind(name, cmdline) == kind


# --------------------------------------------------------------------------- pre-fork workers


def start_prefork(procs: Procs, workers: int = 2) -> tuple[subprocess.Popen[bytes], LineReader, list[int], int]:
    proc = procs.spawn([sys.executable, str(PREFORK), "--workers", str(workers)])
    reader = LineReader(proc.stdout)
    pids = [int(p) for p in reader.line().split()[1:]]
    port = int(reader.line().split()[2])
    return proc, reader, pids, port


def test_prefork_workers_orphaned_to_pid_1_are_all_listed_and_all_stopped(tmp_path, procs) -> None:
    """The parent of two workers sharing one listening socket is SIGKILLed: both orphans are
    holders, `ports` lists both, `kill --yes` stops both and claims no restart."""
    parent, _, workers, port = start_prefork(procs)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    wait_until(lambda: all(psutil.Process(w).ppid() != parent.pid for w in workers), what="the workers to be orphaned")

    listed = run_cli("ports", str(port), "--json", home=tmp_path)
    rows = json.loads(listed.stdout)["listeners"]
    assert sorted(r["pid"] for r in rows) == sorted(workers)
    table = run_cli("ports", str(port), home=tmp_path)
    assert all(f"pid {w}" in table.stdout for w in workers), table.stdout

    killed = run_cli("kill", str(port), "--yes", "--json", home=tmp_path)
    report = json.loads(killed.stdout)
    assert killed.returncode == 0, report
    assert (report["outcome"], sorted(report["terminated"])) == ("freed", sorted(workers))
    assert report["detail"].startswith(f"port {port} is free: ") and "again" not in report["detail"]
    assert holders(port) == []


def test_a_holder_missed_by_the_plan_is_not_called_a_restart(procs) -> None:
    """A worker forked after the plan shares the planned socket: the port is still held by it,
    and that is said, not "held again … a supervisor may have restarted it"."""
    parent, reader, workers, port = start_prefork(procs)
    plan = plan_kill(port)
    assert sorted(t.pid for t in plan.targets) == sorted([parent.pid, *workers])
    os.kill(parent.pid, signal.SIGUSR1)
    late = int(reader.line().split()[1])
    wait_until(lambda: late in holders(port), what="the late worker to hold the socket")
    report = execute_kill(plan, free_timeout=0.5, settle=0.2)
    assert (report.outcome, report.ok) == ("still_busy", False)
    assert f"is still held by {process_name(late)} (pid {late}" in report.detail
    assert "shares the listening socket" in report.detail and "restarted" not in report.detail


# --------------------------------------------------------------------------- stopped owners


def test_a_stopped_owner_makes_a_tcp_check_paused_and_resuming_brings_it_back(procs) -> None:
    server = procs.backend("healthy")
    checker = Checker(tcp_service("127.0.0.1", server.port, timeout=0.5))
    try:
        assert checker.check().state is State.UP
        stop_process(server.pid)
        paused = checker.check()
        assert (paused.state, paused.reason) == (State.DOWN, Reason.PAUSED)
        assert f"which is stopped (SIGSTOP, Ctrl-Z or a debugger): it cannot answer until it continues (kill -CONT " \
               f"{server.pid}, or fg in its terminal). The kernel still accepts connections for it, but none is " \
               "served." in paused.detail  # fmt: skip
        os.kill(server.pid, signal.SIGCONT)
        wait_until(lambda: psutil.Process(server.pid).status() != psutil.STATUS_STOPPED, what="it to continue")
        assert checker.check().state is State.UP
    finally:
        checker.close()


def test_stopped_owners_are_paused_under_every_kind_of_check(tmp_path, procs, mongo) -> None:
    api, vite, db = procs.backend("healthy"), procs.backend("healthy"), mongo()
    for pid in (api.pid, vite.pid, db.pid):
        stop_process(pid)
    config = tmp_path / "stack.toml"
    config.write_text(
        service_toml("backend", "http", url=api.url(), timeout=0.5)
        + service_toml("frontend", "tcp", host="127.0.0.1", port=vite.port, timeout=0.5)
        + service_toml("db", "mongo", uri=db.uri, timeout=0.5)
    )
    try:
        services = status_of(config, tmp_path)
    finally:
        db.resume()
    for name, pid in (("backend", api.pid), ("frontend", vite.pid), ("db", db.pid)):
        assert (services[name]["state"], services[name]["reason"]) == ("down", "paused"), services[name]
        assert f"(kill -CONT {pid}, or fg in its terminal)" in services[name]["detail"]


def test_a_stopped_owner_older_than_a_failed_newer_run_is_to_be_killed_not_resumed(tmp_path, procs) -> None:
    port = free_port()
    old = procs.backend("healthy", port=port)
    stop_process(old.pid)
    app = project(tmp_path)
    log = app / "nodemon.log"
    procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable, str(BACKEND_SCRIPT), "--port",
                 str(port)], log=log, cwd=app)  # fmt: skip
    wait_until(lambda: "app crashed" in log.read_text(), what="the newer run to fail with EADDRINUSE")
    config = app / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", timeout=0.5,
                                   log=str(log)))  # fmt: skip
    backend = status_of(config, tmp_path)
    assert backend["reason"] == "paused"
    assert (
        f"which is stopped (SIGSTOP, Ctrl-Z or a debugger), and backend's log says a newer run failed with "
        f"EADDRINUSE: it is a stale run, so resuming it would not help; stop it with `trayapp kill {port}`. "
        f"Its log (nodemon.log, written "
    ) in backend["detail"]
    assert "kill -CONT" not in backend["detail"]


# --------------------------------------------------------------------------- other users, Docker


@pytest.fixture
def docker_proxy(tmp_path: Path, procs: Procs) -> tuple[int, int]:
    """A root process named docker-proxy publishing a free port: (port, pid)."""
    link = tmp_path / "docker-proxy"
    link.symlink_to(sys.executable)
    port = free_port()
    proc = procs.spawn([str(link), str(DOCKER_PROXY), "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port",
                        str(port), "-container-ip", "172.17.0.2", "-container-port", "80"])  # fmt: skip
    assert LineReader(proc.stdout).line().startswith("LISTENING")
    assert psutil.Process(proc.pid).name() == "docker-proxy"
    return port, proc.pid


NOBODY_IMPORTS = "trayapp.checks.checker, trayapp.checks.probes, trayapp.config.load"
#: what the interpreter would look up under /root later: package metadata, codecs
NOBODY_BEFORE = "from trayapp import package_version; package_version(); 'x'.encode('idna'); b''.decode('ascii')"
NOBODY_STATUS = (
    "from trayapp.checks.checker import check_once\n"
    "from trayapp.config.load import parse_config\n"
    "from trayapp.supervise.kill import plan_kill\n"
    "config = parse_config(sys.argv[1], 'test.toml')\n"
    "[result] = check_once(config.services)\n"
    "plan = plan_kill(config.services[0].port)\n"
    "print(json.dumps({'result': result.to_json(), 'kill': plan.problem}))\n"
)


def test_dockers_port_publisher_is_named_as_such_to_a_normal_user(docker_proxy: tuple[int, int]) -> None:
    port, pid = docker_proxy
    toml = service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", timeout=1.0)
    seen = run_as_nobody(f"sys.argv[1:] = [{toml!r}]\n" + NOBODY_STATUS, imports=NOBODY_IMPORTS, before=NOBODY_BEFORE)
    result = seen["result"]
    assert isinstance(result, dict)
    assert result["reason"] == "reset", result["detail"]
    assert result["detail"] == (
        f"docker-proxy (pid {pid}, user root) on port {port} closed the connection without answering: it is "
        f"Docker's port publisher (docker-proxy), which forwards to a container (172.17.0.2:80): the container "
        f"behind it is not answering; see `docker ps --filter publish={port}`."
    )
    assert seen["kill"] == (
        f"port {port} is held by docker-proxy (pid {pid}, user root), Docker's port publisher, which forwards to a "
        f"container (172.17.0.2:80): stop or fix the container instead; see `docker ps --filter publish={port}`"
    )


def test_another_users_listener_is_said_to_be_out_of_reach(procs) -> None:
    server = procs.backend("reset")
    toml = service_toml("backend", "http", url=server.url(), timeout=1.0)
    seen = run_as_nobody(f"sys.argv[1:] = [{toml!r}]\n" + NOBODY_STATUS, imports=NOBODY_IMPORTS, before=NOBODY_BEFORE)
    result = seen["result"]
    assert isinstance(result, dict)
    assert result["reason"] == "reset"
    assert result["detail"].endswith(
        "it belongs to another user, so trayapp can neither read its logs nor stop it without that user's rights."
    )
    assert "check its log" not in result["detail"]


# --------------------------------------------------------------------------- a managed child's own processes

RUNNER = KIT / "runner.js"


def runner_config(home: Path, port: int, **extra: object) -> Path:
    """A managed backend whose start command (runner.js) starts the real server detached and
    exits on SIGTERM, leaving it running."""
    config = home / "stack.toml"
    argv = ["node", str(RUNNER), sys.executable, str(BACKEND_SCRIPT), "--port", str(port)]
    config.write_text(
        service_toml(
            "backend",
            "http",
            url=f"http://127.0.0.1:{port}/api/health",
            timeout=1.0,
            interval=0.2,
            start=json.dumps(argv)[1:-1].replace('", "', " ").replace('"', ""),
            stop_timeout=2,
            start_timeout=10,
            **extra,
        )  # fmt: skip
    )
    return config


def kill_holders(port: int, config: Path | None = None) -> None:
    """SIGKILL what holds ``port`` and, with ``config``, every process carrying the mark of its
    services (a runner and its detached server alike)."""
    doomed = set(holders(port))
    if config is not None:
        for service in parse_config(config.read_text(), str(config)).services:
            doomed |= {p.pid for p in marked_processes(service.identity)}
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_detached_grandchild_is_the_services_own_in_status_ports_and_stop(tmp_path) -> None:
    port = free_port()
    config = runner_config(tmp_path, port)
    try:
        started = run_cli("start", "backend", "--config", config, home=tmp_path)
        assert started.returncode == 0, started.stderr
        [server] = holders(port)
        assert os.getsid(server) == server  # it left the runner's session and group

        backend = status_of(config, tmp_path)
        assert (backend["state"], backend["reason"]) == ("up", "ok"), backend["detail"]
        table = run_cli("ports", str(port), "--config", config, home=tmp_path)
        assert f"pid {server}" in table.stdout and "started by trayapp for backend" in table.stdout, table.stdout
        [row] = json.loads(run_cli("ports", "--config", config, "--json", home=tmp_path).stdout)["listeners"]
        assert (row["pid"], row["service"]) == (server, "backend")

        stopped = run_cli("stop", "backend", "--config", config, "--json", home=tmp_path)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert json.loads(stopped.stdout)["detail"].startswith("backend stopped: it exited ")
        assert holders(port) == []
        wait_until(lambda: not psutil.pid_exists(server) or psutil.Process(server).status() == "zombie",
                   what="the detached server to be gone")  # fmt: skip
    finally:
        kill_holders(port, config)


def test_a_server_left_by_a_killed_runner_is_restarted_as_the_services_own(tmp_path) -> None:
    """The runner is SIGKILLed and its detached server keeps the port: a restart stops that
    server as the service's own, without asking, instead of calling it a stranger."""
    port = free_port()
    config = runner_config(tmp_path, port)
    try:
        assert run_cli("start", "backend", "--config", config, home=tmp_path).returncode == 0
        [left] = holders(port)
        runner = json.loads(next((tmp_path / ".state").rglob("backend.json")).read_text())["pid"]
        os.kill(runner, signal.SIGKILL)
        wait_until(lambda: not psutil.pid_exists(runner) or psutil.Process(runner).status() == "zombie",
                   what="the runner to die")  # fmt: skip
        restarted = run_cli("restart", "backend", "--config", config, home=tmp_path)
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.startswith("backend restarted in ")
        assert "did not start" not in restarted.stdout + restarted.stderr
        [now] = holders(port)
        assert now != left
    finally:
        kill_holders(port, config)


def test_stop_exits_1_naming_whatever_still_holds_the_port(tmp_path, procs) -> None:
    """The managed child stops, but another process listens on the port (on ::1): `stop` says
    who, and exits 1."""
    port = free_port()
    config = tmp_path / "stack.toml"
    argv = [sys.executable, str(BACKEND_SCRIPT), "--port", str(port)]
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", timeout=1.0,
                                   start=" ".join(argv), stop_timeout=2, start_timeout=10))  # fmt: skip
    try:
        assert run_cli("start", "backend", "--config", config, home=tmp_path).returncode == 0
        other = start_backend("healthy", host="::1", port=port)
        procs.backends.append(other)
        stopped = run_cli("stop", "backend", "--config", config, home=tmp_path)
        assert stopped.returncode == 1
        name = process_name(other.pid)
        assert re.search(
            rf"^backend stopped: it exited [0-9.]+ s after SIGTERM; but port {port} is still held by "
            rf"{re.escape(name)} \(pid {other.pid}, started \d+ s ago in .*\), which is not backend's: "
            rf"`trayapp kill {port}` stops it$",
            stopped.stderr.strip(),
        ), stopped.stderr
    finally:
        kill_holders(port, config)


def test_a_healthy_answer_after_the_services_own_child_exited_is_a_stale_holder(tmp_path) -> None:
    """The managed child crashed; something else answers 200 on its port: that is not the
    code the user edits. The service stays down, and the table's sentence says why."""
    from tests.test_supervisor import managed_config

    port = free_port()
    config = managed_config(tmp_path, port, [sys.executable, str(BACKEND_SCRIPT), "--port", str(port)])
    monitor = Monitor(config.services)
    supervisor = Supervisor(config, monitor=monitor, log_dir=tmp_path / "logs", state_dir=tmp_path / "state")
    checks: list[CheckEvent] = []
    monitor.subscribe(lambda e: checks.append(e) if isinstance(e, CheckEvent) else None)
    other: Backend | None = None
    try:
        assert supervisor.start("backend").ok
        monitor.start()
        wait_until(lambda: any(c.service_state is State.UP for c in checks), what="backend to be up")
        os.kill(supervisor.status("backend").pid, signal.SIGKILL)
        wait_until(lambda: supervisor.child_running("backend") is False, what="the crash to be seen")
        other = start_backend("healthy", port=port)
        wait_until(lambda: checks[-1].result.reason is Reason.STALE_HOLDER, what="the stale holder to be named")
        stale = checks[-1]
        assert (stale.result.state, stale.service_state) == (State.DOWN, State.DOWN)
        assert stale.result.detail.startswith(f"port {port} is answered by {process_name(other.pid)} (pid {other.pid}")
        assert "not by backend, whose own process has exited: the code you edit is not what answers" in (
            stale.result.detail
        )
        [snapshot] = monitor.status()
        assert snapshot.last is not None and snapshot.last.reason is Reason.STALE_HOLDER
    finally:
        monitor.stop()
        supervisor.close()
        if other is not None:
            other.kill()
        kill_holders(port)
