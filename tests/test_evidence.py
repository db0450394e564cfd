"""A failed check quotes the line of the service's own log that says why, if it is new enough."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.servers import BACKEND_SCRIPT, free_port, start_backend
from tests.kit.services import http_service, make_service, service_toml
from tests.kit.wait import LineReader, wait_until
from trayapp.checks.checker import Checker, log_sources
from trayapp.checks.ports import listeners
from trayapp.identity import config_home, home_folder
from trayapp.model import Reason, State

EADDRINUSE = "Error: listen EADDRINUSE: address already in use :::5000"


def node_crash(port: int = 5000) -> list[str]:
    """What Node under nodemon writes when the app's listen() finds ``port`` taken."""
    return [
        "Server starting",
        "node:events:497",
        "      throw er; // Unhandled 'error' event",
        EADDRINUSE.replace("5000", str(port)),
        "    at Server.setupListenHandle [as _listen2] (node:net:1872:16)",
        "[nodemon] app crashed - waiting for file changes before starting...",
    ]


NODE_CRASH = node_crash()
#: Node's last line after an uncaught exception
NODE_FOOTER = "Node.js v22.3.0"


def taken_at_start(port: int) -> str:
    """The sentence for nothing on ``port`` whose log says this run found it taken (the holder is gone)."""
    return (
        f"backend crashed at start because port {port} was taken; the port is free now: restart it (save a file, "
        f"or type rs in nodemon). Its log (app.log, written "
    )


def write_log(path: Path, lines: list[str], age_s: float = 0.0) -> Path:
    path.write_text("\n".join(lines) + "\n")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_refused_quotes_the_error_line_of_a_fresh_log(tmp_path) -> None:
    port = free_port()
    log = write_log(tmp_path / "app.log", node_crash(port))
    result = Checker(http_service(f"http://127.0.0.1:{port}/api/health", log=str(log))).check()
    assert result.reason is Reason.REFUSED
    assert result.detail.startswith(f"Nothing listens on port {port} (127.0.0.1): {taken_at_start(port)}")
    # the line that states the error, not the stack frame or nodemon's notice below it
    said = re.escape(EADDRINUSE.replace("5000", str(port)))
    assert re.search(rf"Its log \(app\.log, written \d+ s ago\) says: {said}$", result.detail)
    assert result.headline == f"crashed at start: port {port} was taken"


def test_an_eaddrinuse_about_another_port_is_not_the_reason(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", node_crash(5000))
    result = Checker(http_service(f"http://127.0.0.1:{free_port()}/api/health", log=str(log))).check()
    assert result.reason is Reason.REFUSED and "EADDRINUSE" not in result.detail and "taken" not in result.detail
    assert "setupListenHandle" not in result.detail  # nor its stack frame


def test_an_old_log_is_not_passed_off_as_todays_reason(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", NODE_CRASH, age_s=3600)
    result = Checker(http_service(f"http://127.0.0.1:{free_port()}/api/health", log=str(log))).check()
    assert result.reason is Reason.REFUSED
    assert "Its log" not in result.detail


def test_only_what_was_written_since_the_service_was_last_up_counts(tmp_path, backend) -> None:
    server = backend("healthy")
    log = write_log(tmp_path / "app.log", NODE_CRASH, age_s=30)  # an error from before it came up
    checker = Checker(http_service(server.url(), log=str(log)))
    assert checker.check().state is State.UP
    server.kill()
    refused = checker.check()
    assert refused.reason is Reason.REFUSED and "Its log" not in refused.detail  # 30 s old: not this outage
    with log.open("a") as fh:  # an uncaught database error the process died of, after its last answer
        fh.write(f"MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017\n\n{NODE_FOOTER}\n")
    assert checker.check().detail.endswith(
        "says it crashed: MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017"
    )


def test_a_log_without_an_error_adds_nothing(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", ["Server starting", "GET /api/health 200 1 ms"])
    result = Checker(http_service(f"http://127.0.0.1:{free_port()}/api/health", log=str(log))).check()
    assert result.detail.endswith("or has not started listening yet.")


def test_a_wrong_health_path_is_not_blamed_on_the_log(tmp_path, backend) -> None:
    log = write_log(tmp_path / "app.log", NODE_CRASH)
    result = Checker(http_service(backend("not_found").url(), log=str(log))).check()
    assert (result.reason, result.http_status) == (Reason.HTTP_STATUS, 404)
    assert "Its log" not in result.detail  # the probe already says what is wrong


def test_a_500_quotes_the_log(tmp_path, backend) -> None:
    log = write_log(tmp_path / "app.log", ["GET /api/health 500", "TypeError: Cannot read properties of undefined"])
    result = Checker(http_service(backend("status_500").url(), log=str(log))).check()
    assert result.detail.endswith("says: TypeError: Cannot read properties of undefined")


def test_a_managed_service_quotes_its_captured_output_first(tmp_path) -> None:
    log = str(tmp_path / "a.log")
    service = make_service("api", "http", url="http://127.0.0.1:5000/", start="npm run dev", log=log)
    captured = tmp_path / "out" / home_folder(service.home) / "api.log"  # in its config's own folder
    assert log_sources(service, tmp_path / "out") == (str(captured), log)
    assert log_sources(make_service("vite", "tcp", host="127.0.0.1", port=5173)) == ()


def test_status_on_the_command_line_says_it_too(tmp_path) -> None:
    port = free_port()
    log = write_log(tmp_path / "app.log", node_crash(port))
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", log=str(log)))
    result = run_cli("status", "--json", "--config", config, home=tmp_path)
    assert result.returncode == 1
    [backend] = json.loads(result.stdout)["services"]
    assert backend["reason"] == "refused"
    said = re.escape(EADDRINUSE.replace("5000", str(port)))
    assert re.search(rf"Its log \(app\.log, written \d+ s ago\) says: {said}$", backend["detail"])
    assert taken_at_start(port) in backend["detail"]


# ----------------------------------------------- issue 9, section 1: evidence from another time

WATCHER = Path(__file__).parent / "kit" / "watcher.py"
MONGO_ERROR = "MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017"


class Watch:
    """A real ``trayapp watch --json``, read event by event with a deadline."""

    def __init__(self, config: Path, home: Path) -> None:
        self.proc = subprocess.Popen(
            trayapp_command("watch", "--config", config, "--json"),
            cwd=home,
            env=cli_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.reader = LineReader(self.proc.stdout)
        self.seen: list[dict] = []

    def until(self, predicate, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            event = json.loads(self.reader.line(timeout=max(0.1, deadline - time.monotonic())))
            self.seen.append(event)
            if predicate(event):
                return event

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def spawn_logged(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A real process in its own session with stdout and stderr appended to ``log`` (as
    ``nodemon >> app.log 2>&1`` would)."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def holder_pid(port: int) -> int | None:
    found = [x.pid for x in listeners([port]) if x.pid is not None]
    return found[0] if found else None


def test_status_does_not_quote_an_eaddrinuse_that_a_restart_got_past(tmp_path) -> None:
    """A nodemon-like log: EADDRINUSE, a clean restart, then the app is stopped with SIGSTOP.
    The EADDRINUSE belongs to an earlier run: the sentence says paused, and nothing of the log."""
    port = free_port()
    blocker = start_backend("healthy", port=port)
    log = tmp_path / "nodemon.log"
    watcher = spawn_logged(
        [sys.executable, str(WATCHER), "--", sys.executable, str(BACKEND_SCRIPT), "--port", str(port)], log
    )
    try:
        wait_until(lambda: "app crashed" in log.read_text(), what="the first run to fail with EADDRINUSE")
        assert "Address already in use" in log.read_text()
        blocker.kill()
        wait_until(lambda: not listeners([port]), what="the blocker to let go of the port")
        os.kill(watcher.pid, signal.SIGUSR1)  # a file change: the watcher runs the app again
        wait_until(lambda: holder_pid(port) is not None, what="the second run to listen")
        pid = holder_pid(port)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, what="the app to stop")
        config = tmp_path / "stack.toml"
        config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", timeout=0.5,
                                       log=str(log)))  # fmt: skip
        status = run_cli("status", "--json", "--config", config, home=tmp_path)
        [backend] = json.loads(status.stdout)["services"]
        assert backend["reason"] == "paused"
        assert f"which is stopped (SIGSTOP, Ctrl-Z or a debugger): it cannot answer until it continues " \
               f"(kill -CONT {pid}, or fg in its terminal)." in backend["detail"]  # fmt: skip
        assert "EADDRINUSE" not in backend["detail"] and "in use" not in backend["detail"]
        assert "Its log" not in backend["detail"]
    finally:
        blocker.kill()
        kill_group(watcher)


def write_jobs_config(home: Path, port: int, script: str) -> Path:
    """A managed service ``jobs`` whose start command is a shell script (shell = true)."""
    config = home / "stack.toml"
    config.write_text(
        service_toml(
            "jobs",
            "http",
            url=f"http://127.0.0.1:{port}/api/health",
            timeout=0.5,
            interval=0.2,
            start=script,
            shell=True,
            start_timeout=10,
            stop_timeout=2,
        )  # fmt: skip
    )
    return config


def backend_shell(port: int) -> str:
    return f"exec {shlex.quote(sys.executable)} {shlex.quote(str(BACKEND_SCRIPT))} --port {port}"


def test_a_resolved_mongo_error_is_not_quoted_after_an_outside_sigkill(tmp_path) -> None:
    """``jobs`` logs a MongoDB error at start, then that it reconnected, and serves; then it is
    SIGKILLed from outside. A fresh status and a watch started afterwards say it is down, and
    quote nothing: the error was resolved and says nothing about the kill."""
    port = free_port()
    script = f"echo {shlex.quote(MONGO_ERROR)} >&2; echo 'MongoDB reconnected'; {backend_shell(port)}"
    config = write_jobs_config(tmp_path, port, script)
    try:
        started = run_cli("start", "jobs", "--config", config, home=tmp_path)
        assert started.returncode == 0, started.stderr
        services = tmp_path / ".state" / "trayapp" / "log" / "services"
        captured = services / home_folder(config_home(str(config))) / "jobs.log"  # its config's own folder
        assert MONGO_ERROR in captured.read_text()
        up = run_cli("status", "--json", "--config", config, home=tmp_path)
        assert json.loads(up.stdout)["services"][0]["state"] == "up"
        pid = holder_pid(port)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not listeners([port]), what="the port to be free")

        status = run_cli("status", "--json", "--config", config, home=tmp_path)
        [jobs] = json.loads(status.stdout)["services"]
        assert jobs["reason"] == "refused"
        assert jobs["detail"].endswith("jobs is not running, crashed, or has not started listening yet.")

        watch = Watch(config, tmp_path)
        try:
            event = watch.until(lambda e: e.get("event") == "check")
        finally:
            watch.close()
        assert event["reason"] == "refused" and "Mongo" not in event["detail"] and "Its log" not in event["detail"]
    finally:
        if (pid := holder_pid(port)) is not None:
            os.kill(pid, signal.SIGKILL)


def test_an_error_of_an_earlier_run_in_captured_output_is_not_quoted(tmp_path) -> None:
    """A managed backend failed once (Cannot find module), was fixed and started healthy, then
    was SIGKILLed from outside: the failed run's line is before the last start marker."""
    port = free_port()
    broken = tmp_path / "broken"
    broken.touch()
    script = (
        f"if [ -e {shlex.quote(str(broken))} ]; then echo \"Error: Cannot find module './routes/users'\" >&2; "
        f"exit 1; fi; {backend_shell(port)}"
    )
    config = write_jobs_config(tmp_path, port, script)
    try:
        failed = run_cli("start", "jobs", "--config", config, home=tmp_path)
        assert failed.returncode == 1 and "Cannot find module" in failed.stderr
        broken.unlink()  # the fix
        started = run_cli("start", "jobs", "--config", config, home=tmp_path)
        assert started.returncode == 0, started.stderr
        pid = holder_pid(port)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not listeners([port]), what="the port to be free")
        status = run_cli("status", "--json", "--config", config, home=tmp_path)
        [jobs] = json.loads(status.stdout)["services"]
        assert jobs["reason"] == "refused"
        assert "Cannot find module" not in jobs["detail"] and "Its log" not in jobs["detail"]
    finally:
        if (pid := holder_pid(port)) is not None:
            os.kill(pid, signal.SIGKILL)


def test_watch_reads_a_log_rewritten_to_its_earlier_size_afresh(tmp_path, backend) -> None:
    """The log is rewritten with ``>`` after the last healthy check, to more than its earlier
    size, with the new error near its start: watch quotes it (by content, not by size)."""
    server = backend("healthy")
    log = write_log(tmp_path / "app.log", [f"GET /api/health 200 {i} ms" for i in range(20)])
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=server.url(), timeout=0.5, interval=0.2, log=str(log)))
    watch = Watch(config, tmp_path)
    try:
        watch.until(lambda e: e.get("event") == "check" and e["state"] == "up")
        server.kill()  # no healthy check after this
        before = log.stat().st_size
        frames = ["    at Topology.selectServer (node_modules/mongodb/lib/sdam/topology.js:303:38)"] * 8
        with log.open("w") as fh:  # what `node app.js > app.log` does on the next run, which died of it
            fh.write("\n".join([MONGO_ERROR, *frames, "", NODE_FOOTER]) + "\n")
        assert log.stat().st_size >= before
        event = watch.until(lambda e: e.get("event") == "check" and "Its log" in e["detail"])
        assert event["reason"] == "refused"
        assert event["detail"].endswith(f"says it crashed: {MONGO_ERROR}")
    finally:
        watch.close()


def test_a_dependency_down_is_explained_only_by_a_dependency_line(tmp_path, backend) -> None:
    log = write_log(tmp_path / "app.log", ["Server listening on 5000", "TypeError: x is not a function"])
    service = http_service(backend("db_down_503").url(), log=str(log))
    assert "Its log" not in Checker(service).check().detail  # a crash line does not say why the db is down
    with log.open("a") as fh:
        fh.write(MONGO_ERROR + "\n")
    assert Checker(service).check().detail.endswith(f"says: {MONGO_ERROR}")


def test_a_line_saying_the_problem_passed_clears_the_error_before_it(tmp_path, backend) -> None:
    url = backend("db_down_503").url()  # answers, reporting its database down: a database line explains it
    log = write_log(tmp_path / "app.log", [MONGO_ERROR, "MongoDB connected", "Server listening on port 5000"])
    assert "Its log" not in Checker(http_service(url, log=str(log))).check().detail
    # "connected" does not clear a crash, nor "listening" a dependency's error
    refused = f"http://127.0.0.1:{free_port()}/api/health"
    log = write_log(tmp_path / "b.log", ["TypeError: boom", "MongoDB connected"])
    assert Checker(http_service(refused, log=str(log))).check().detail.endswith("says: TypeError: boom")
    log = write_log(tmp_path / "c.log", ["TypeError: boom", MONGO_ERROR, "Server listening on port 5000"])
    assert Checker(http_service(url, log=str(log))).check().detail.endswith(f"says: {MONGO_ERROR}")
    # a line that only sounds like it ("not connected") clears nothing
    log = write_log(tmp_path / "d.log", [MONGO_ERROR, "MongoDB not connected yet"])
    assert Checker(http_service(url, log=str(log))).check().detail.endswith(f"says: {MONGO_ERROR}")


def test_lines_stamped_before_the_port_owner_started_are_not_its_reason(tmp_path, backend) -> None:
    server = backend("status_500")
    owner_started = psutil.Process(server.pid).create_time()
    old = {"level": 50, "time": int((owner_started - 60) * 1000), "msg": "TypeError: old crash"}
    log = write_log(tmp_path / "app.log", [json.dumps(old)])
    result = Checker(http_service(server.url(), log=str(log))).check()
    assert (result.http_status, "Its log" in result.detail) == (500, False)
    new = {"level": 50, "time": int((owner_started + 5) * 1000), "msg": "TypeError: new crash"}
    with log.open("a") as fh:
        fh.write(json.dumps(new) + "\n")
    assert Checker(http_service(server.url(), log=str(log))).check().detail.endswith("says: TypeError: new crash")
