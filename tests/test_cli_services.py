"""`trayapp start|stop|restart|logs` end to end, with and without a running tray."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.pidfd import pidfds
from tests.kit.servers import BACKEND_SCRIPT, free_port, start_backend
from tests.kit.wait import LineReader, wait_until
from trayapp.checks.ports import listeners

CRASHER = Path(__file__).parent / "kit" / "crasher.py"
WRITER = Path(__file__).parent / "kit" / "writer.py"


def toml_list(argv: list[str]) -> str:
    return "[" + ", ".join(json.dumps(a) for a in argv) + "]"


def write_config(home: Path, port: int, argv: list[str], extra: str = "") -> Path:
    path = home / "stack.toml"
    path.write_text(
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 0.2\ntimeout = 0.5\n'
        f"start = {toml_list(argv)}\nstop_timeout = 2\nstart_timeout = 10\n{extra}"
    )
    return path


def backend_argv(port: int) -> list[str]:
    return [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]


def kill_port(port: int) -> None:
    for listener in listeners([port]):
        if listener.pid:
            psutil.Process(listener.pid).kill()


def test_restart_without_a_tray_starts_detached_and_stop_stops_it(tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, backend_argv(port))
    try:
        started = run_cli("restart", "backend", "--config", config, home=tmp_path)
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("backend restarted in ")
        [holder] = listeners([port])  # still serving after the command exited: it was detached
        assert psutil.Process(holder.pid).cmdline()[1:3] == [str(BACKEND_SCRIPT), "--mode"]

        again = run_cli("start", "backend", "--config", config, home=tmp_path)
        assert again.returncode == 0 and again.stdout.startswith("backend is already running")

        stopped = run_cli("stop", "backend", "--config", config, "--json", home=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert json.loads(stopped.stdout)["detail"].startswith("backend stopped: it exited")
        assert listeners([port]) == []
    finally:
        kill_port(port)


def test_restart_over_a_stale_process_asks_for_yes(tmp_path) -> None:
    port = free_port()
    stale = start_backend("healthy", port=port)
    config = write_config(tmp_path, port, backend_argv(port))
    try:
        refused = run_cli("restart", "backend", "--config", config, home=tmp_path)
        assert refused.returncode == 1
        assert f"port {port} is held by" in refused.stderr and f"pid {stale.pid}" in refused.stderr
        assert "--yes" in refused.stderr
        assert stale.proc.poll() is None

        forced = run_cli("restart", "backend", "--config", config, "--yes", home=tmp_path)
        assert forced.returncode == 0, forced.stderr
        assert stale.proc.wait(timeout=5) is not None
        assert [x.pid for x in listeners([port])] != [stale.pid]
    finally:
        stale.kill()
        kill_port(port)


def test_a_start_that_crashes_exits_1_with_the_error_line(tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, [sys.executable, str(CRASHER)])
    result = run_cli("start", "backend", "--config", config, home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "backend failed to start: exited with code 1: Error: listen EADDRINUSE: address already in use :::5000"
    )


def test_a_service_without_a_start_command_is_a_usage_error(tmp_path) -> None:
    config = tmp_path / "stack.toml"
    config.write_text('[[service]]\nname = "db"\nkind = "tcp"\nport = 27017\n')
    result = run_cli("restart", "db", "--config", config, home=tmp_path)
    assert result.returncode == 2
    assert "has no 'start' command" in result.stderr
    unknown = run_cli("stop", "nope", "--config", config, home=tmp_path)
    assert unknown.returncode == 2 and "no service named 'nope'" in unknown.stderr


def test_logs_prints_the_last_lines_and_follows(tmp_path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    config = tmp_path / "stack.toml"
    config.write_text(f'[[service]]\nname = "api"\nkind = "tcp"\nport = 1\nlog = "{log}"\n')
    last = run_cli("logs", "api", "-n", "3", "--config", config, home=tmp_path)
    assert last.stdout.splitlines() == ["line 47", "line 48", "line 49"]

    proc = subprocess.Popen(
        trayapp_command("logs", "api", "-f", "-n", "0", "--config", config),
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        following = psutil.Process(proc.pid)
        wait_until(lambda: any(f.path == str(log) for f in following.open_files()), what="`logs -f` to open the log")
        reader = LineReader(proc.stdout)
        with log.open("a") as out:
            out.write("fresh <b>line</b>\n")
        assert reader.line() == "fresh <b>line</b>"
        log.rename(tmp_path / "app.log.1")  # rotation: the new file is read from its start
        log.write_text("after rotation\n")
        assert reader.line() == "[trayapp] log rotated; reading the new file from the start"
        assert reader.line() == "after rotation"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.wait()


def test_with_a_tray_running_the_tray_does_the_restart_and_owns_the_child(tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, backend_argv(port))
    env = {**cli_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    tray = subprocess.Popen(
        trayapp_command("--config", config), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: (tmp_path / ".runtime" / "trayapp" / "trayapp.sock").exists(), what="the tray's socket")
        result = run_cli("restart", "backend", "--config", config, home=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("backend restarted in ")
        [holder] = listeners([port])
        assert psutil.Process(holder.pid).ppid() == tray.pid  # started by the tray, not by the command
        stopped = run_cli("stop", "backend", "--config", config, home=tmp_path)
        assert stopped.returncode == 0 and listeners([port]) == []
    finally:
        tray.terminate()
        tray.wait(timeout=10)
        kill_port(port)


def test_logs_follow_neither_loses_nor_repeats_the_lines_written_while_it_starts(tmp_path) -> None:
    # app.log grows while `logs -f` prints the last lines of app.log, then of a big other.log,
    # and then starts following: what app.log got meanwhile must come once, in order.
    log, other = tmp_path / "app.log", tmp_path / "other.log"
    log.touch()
    other.write_text("".join(f"other {i} {'x' * 200}\n" for i in range(3000)))
    config = tmp_path / "stack.toml"
    config.write_text(f'[[service]]\nname = "api"\nkind = "tcp"\nport = 1\nlog = ["{log}", "{other}"]\n')
    writer = subprocess.Popen([sys.executable, str(WRITER), str(log)])
    proc = None
    try:
        wait_until(lambda: log.stat().st_size > 10_000, what="the writer to be under way")
        proc = subprocess.Popen(
            trayapp_command("logs", "api", "-f", "-n", "3000", "--config", config),
            cwd=tmp_path,
            env=cli_env(tmp_path),
            stdout=subprocess.PIPE,
            text=True,
        )
        reader = LineReader(proc.stdout)
        numbers: list[int] = []
        while len(numbers) < 6000:
            line = reader.line().removeprefix("app.log: ")
            if line.startswith("line "):
                numbers.append(int(line.split()[1]))
        assert numbers == list(range(numbers[0], numbers[0] + 6000))  # its last lines, then every line once
    finally:
        writer.kill()
        writer.wait()
        if proc is not None:
            proc.kill()
            proc.wait()


def test_watch_without_a_tray_sees_a_started_child_exit_at_once(tmp_path) -> None:
    # `trayapp start` in one process, `trayapp watch` in another: watch has no supervisor, yet the
    # child's exit is reported at once. The checks run every 60 s, and down needs two of them,
    # so only the exit path can report the crash within the read's bound, and reason "exited"
    # is not one a check gives.
    port = free_port()
    config = write_config(tmp_path, port, backend_argv(port)).read_text().replace("interval = 0.2", "interval = 60")
    (tmp_path / "stack.toml").write_text(config)
    watch = None
    try:
        started = run_cli("start", "backend", "--config", tmp_path / "stack.toml", home=tmp_path)
        assert started.returncode == 0, started.stderr
        [holder] = listeners([port])
        watch = subprocess.Popen(
            trayapp_command("watch", "--config", tmp_path / "stack.toml", "--json"),
            cwd=tmp_path,
            env=cli_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        reader = LineReader(watch.stdout)
        first = [json.loads(reader.line()) for _ in range(2)]
        assert [(e["event"], e.get("state"), e.get("to")) for e in first] == [
            ("check", "up", None),
            ("transition", None, "up"),
        ]
        wait_until(lambda: pidfds(watch.pid) == {holder.pid}, what="watch to follow the child by its pidfd")

        psutil.Process(holder.pid).kill()

        seen = json.loads(reader.line(timeout=20))  # far below the 60 s to the next check
        assert (seen["event"], seen["state"], seen["reason"]) == ("check", "down", "exited")
        down = json.loads(reader.line(timeout=20))
        assert (down["event"], down["from"], down["to"], down["reason"]) == ("transition", "up", "down", "exited")
        assert down["detail"].startswith("backend exited")  # no exit status to read: no code or signal made up
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=5) == 1  # something was down when it stopped
    finally:
        if watch is not None:
            watch.kill()
            watch.wait()
        kill_port(port)
