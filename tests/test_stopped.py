"""A managed service that is not running because the user never started it, or stopped it,
is ``stopped`` (grey, no alarm, not counted as down), not red ``down · refused`` (issue 9,
section 5). One that exited while nobody watched stays ``down``. Real children, the real CLI
and the real tray."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from tests.kit.cli import run_cli
from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.wait import wait_until
from trayapp.checks.ports import listeners
from trayapp.config.load import Config, parse_config
from trayapp.model import State
from trayapp.ui.models import ServicesModel

WAIT_MS = 15_000
HINT = "backend is not running: start it with Start or `trayapp start backend`."


def write_config(folder: Path, port: int, *, with_db: int | None = None) -> Path:
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
    text = (
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 0.2\ntimeout = 0.5\n'
        f"start = {json.dumps(argv)}\nstop_timeout = 5\nstart_timeout = 10\n"
    )
    if with_db is not None:
        text += f'\n[[service]]\nname = "web"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {with_db}\n'
    path = folder / "trayapp.toml"
    path.write_text(text)
    return path


def load(path: Path) -> Config:
    return parse_config(path.read_text(), str(path))


def status(config: Path, home: Path) -> tuple[int, dict]:
    done = run_cli("status", "--json", "--config", config, home=home)
    return done.returncode, json.loads(done.stdout)


def test_status_calls_a_never_started_service_stopped_and_exits_0(tmp_path) -> None:
    config = write_config(tmp_path, free_port())
    code, data = status(config, tmp_path)
    [backend] = data["services"]
    assert (backend["state"], backend["reason"], backend["detail"]) == ("stopped", "stopped", HINT)
    assert (data["overall"], code) == ("stopped", 0)  # nothing is wrong: nothing was asked to run
    table = run_cli("status", "--config", config, home=tmp_path)
    assert table.returncode == 0
    assert "backend  stopped" in table.stdout and "overall: stopped" in table.stdout


def test_stopped_is_not_counted_as_down_and_a_crash_unseen_is(tmp_path) -> None:
    port = free_port()
    web = free_port()
    config = write_config(tmp_path, port, with_db=web)
    code, data = status(config, tmp_path)
    assert [s["state"] for s in data["services"]] == ["stopped", "down"]  # web: nothing listens, not managed
    assert (data["overall"], code) == ("down", 1)

    started = run_cli("start", "backend", "--config", config, home=tmp_path)
    assert started.returncode == 0, started.stderr
    [pid] = [x.pid for x in listeners([port])]
    try:
        os.kill(pid, signal.SIGKILL)  # killed while no trayapp watched: its record is left behind
        wait_until(lambda: listeners([port]) == [], what="the port to close")
        _, data = status(config, tmp_path)
        backend = data["services"][0]
        assert backend["state"] == "down" and backend["reason"] == "refused"
    finally:
        if listeners([port]):
            os.kill(pid, signal.SIGKILL)


def test_stop_turns_a_service_stopped_in_status(tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    assert run_cli("start", "backend", "--config", config, home=tmp_path).returncode == 0
    try:
        code, data = status(config, tmp_path)
        assert (data["services"][0]["state"], code) == ("up", 0)
        assert run_cli("stop", "backend", "--config", config, home=tmp_path).returncode == 0
        code, data = status(config, tmp_path)
        assert (data["services"][0]["state"], data["overall"], code) == ("stopped", "stopped", 0)
    finally:
        for holder in listeners([port]):
            if holder.pid:
                os.kill(holder.pid, signal.SIGKILL)


def test_the_tray_shows_a_never_started_service_grey_and_stopped_without_a_popup(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    app = tray_app(load(write_config(tmp_path, port)))
    seen: list = []
    app.tray.announced.connect(seen.append)
    view = app.views["backend"]
    qtbot.waitUntil(lambda: view.state is State.STOPPED and len(view.history) >= 3, timeout=WAIT_MS)  # checked: refused
    assert view.detail == HINT
    assert "backend: stopped" in app.tray.tooltip() and app.tray.overall is State.STOPPED
    model = app.services_model
    assert model.data(model.index(0, ServicesModel.STATE)) == "stopped"
    app.tray.menu.aboutToShow.emit()
    submenu = app.tray.menu.actions()[0].menu()
    assert submenu.title() == "backend · stopped"
    assert "Start" in [a.text() for a in submenu.actions()]
    assert seen == []  # no "backend is down"

    assert app.supervisor.start("backend").ok
    qtbot.waitUntil(lambda: view.state is State.UP, timeout=WAIT_MS)
    assert app.supervisor.stop("backend").ok
    qtbot.waitUntil(lambda: view.state is State.STOPPED, timeout=WAIT_MS)
    assert view.detail == "backend was stopped by you: start it with Start or `trayapp start backend`."
    assert not any(p.title == "backend is down" for p in seen)


def test_watch_prints_stopped_for_a_never_started_service(tmp_path) -> None:
    import subprocess

    from tests.kit.cli import cli_env, trayapp_command

    config = write_config(tmp_path, free_port())
    watch = subprocess.Popen(
        trayapp_command("watch", "--json", "--config", config), cwd=tmp_path, env=cli_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        lines = []
        while not any(json.loads(line).get("event") == "check" for line in lines[1:]):
            lines.append(watch.stdout.readline())
        events = [json.loads(line) for line in lines]
        [transition] = [e for e in events if e.get("event") == "transition"]
        assert (transition["from"], transition["to"], transition["detail"]) == ("unknown", "stopped", HINT)
        checks = [e for e in events if e.get("event") == "check"]
        assert all(c["state"] == "stopped" for c in checks)
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(10)
