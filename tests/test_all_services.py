"""Start all, Stop all, Restart all (issue #11, item 7): in the window, the tray menu and the CLI
(with and without a running tray), on real children; and the Process box after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psutil

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.wait import wait_until
from trayapp.checks.ports import listeners
from trayapp.config.load import parse_config
from trayapp.model import State
from trayapp.supervise.supervisor import SupervisorEvent
from trayapp.supervise.together import dependency_order

WAIT_MS = 30_000
NAMES = ("db", "backend", "web")


def write_config(home: Path, ports: dict[str, int]) -> Path:
    """Three managed backends (real HTTP servers as children), in the config's order ``NAMES``."""
    path = home / "trayapp.toml"
    blocks = ["# my services: comments stay\n"]
    for name, port in ports.items():
        argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
        blocks.append(
            f'[[service]]\nname = "{name}"\nkind = "http"\n'
            f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 0.3\ntimeout = 0.5\n'
            f"start = {json.dumps(argv)}\nstop_timeout = 5\nstart_timeout = 15\n"
        )
    path.write_text("\n".join(blocks))
    return path


def kill_ports(ports: dict[str, int]) -> None:
    for listener in listeners(list(ports.values())):
        if listener.pid:
            try:
                psutil.Process(listener.pid).kill()
            except psutil.Error:
                pass


def test_dependency_order_puts_what_a_service_needs_first_and_keeps_config_order_otherwise() -> None:
    def svc(name: str, *needs: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, depends_on=needs)

    web, backend, db, other = svc("web", "backend"), svc("backend", "db", "cache"), svc("db"), svc("other")
    assert [s.name for s in dependency_order([web, backend, db, other])] == ["db", "backend", "web", "other"]
    # No depends_on at all (a config without the key): the config's order.
    plain = [SimpleNamespace(name=n) for n in ("b", "a", "c")]
    assert [s.name for s in dependency_order(plain)] == ["b", "a", "c"]
    # A cycle never loops: every service comes out once.
    loop = [svc("x", "y"), svc("y", "x")]
    assert sorted(s.name for s in dependency_order(loop)) == ["x", "y"]


def test_start_all_in_the_window_then_stop_all_in_the_menu_stops_real_children_in_reverse_order(
    qtbot, tray_app, tmp_path
) -> None:
    ports = {name: free_port() for name in NAMES}
    path = write_config(tmp_path, ports)
    app = tray_app(parse_config(path.read_text(), str(path)))
    events: list[SupervisorEvent] = []
    app.supervisor.subscribe(events.append)
    try:
        app.open_window()
        tab = app.window.services_tab
        qtbot.waitUntil(lambda: tab.all_box.isVisible(), timeout=WAIT_MS)
        assert [b.text() for b in tab.all_buttons.values()] == ["Start all", "Stop all", "Restart all"]
        tab.all_buttons["start"].click()
        qtbot.waitUntil(lambda: tab.all_status.text().startswith("started 3 services in "), timeout=WAIT_MS)
        assert tab.all_status.text().endswith(": db, backend, web")
        assert [e.service for e in events if e.kind == "started"] == list(NAMES)
        assert {listener.port for listener in listeners(list(ports.values()))} == set(ports.values())
        qtbot.waitUntil(lambda: all(v.state is State.UP for v in app.views.values()), timeout=WAIT_MS)

        app.tray.menu.aboutToShow.emit()
        texts = [a.text() for a in app.tray.menu.actions()]
        assert texts[3:7] == ["", "Start all", "Stop all", "Restart all"]
        [stop_all] = [a for a in app.tray.menu.actions() if a.text() == "Stop all"]
        stop_all.trigger()
        qtbot.waitUntil(lambda: tab.all_status.text().startswith("stopped 3 services in "), timeout=WAIT_MS)
        assert [e.service for e in events if e.kind == "stopped"] == ["web", "backend", "db"]
        assert listeners(list(ports.values())) == []
        assert all(app.supervisor.status(n).state == "stopped" for n in NAMES)
    finally:
        kill_ports(ports)


def test_after_a_crash_the_process_box_says_what_happened_not_started_in(qtbot, tray_app, tmp_path) -> None:
    ports = {"backend": free_port()}
    path = write_config(tmp_path, ports)
    app = tray_app(parse_config(path.read_text(), str(path)))
    try:
        app.open_window("backend")
        tab = app.window.services_tab
        tab.action_buttons["start"].click()
        qtbot.waitUntil(lambda: tab.process_status.text().startswith("backend started in "), timeout=WAIT_MS)
        os.kill(app.supervisor.status("backend").pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: "killed by SIGKILL" in tab.process_status.text(), timeout=WAIT_MS)
        assert tab.process_status.text().startswith("backend was killed by SIGKILL")
        assert "started in" not in tab.process_status.text()
    finally:
        kill_ports(ports)


def test_cli_start_all_and_stop_all_without_a_tray(tmp_path) -> None:
    ports = {name: free_port() for name in NAMES}
    path = write_config(tmp_path, ports)
    try:
        started = run_cli("start", "--all", "--json", "--config", path, home=tmp_path, timeout=90)
        assert started.returncode == 0, started.stderr
        answer = json.loads(started.stdout)
        assert answer["ok"] is True and answer["detail"].startswith("started 3 services in ")
        assert [s["service"] for s in answer["services"]] == list(NAMES)
        assert all(s["detail"].startswith(f"{s['service']} started in ") for s in answer["services"])
        assert {listener.port for listener in listeners(list(ports.values()))} == set(ports.values())

        stopped = run_cli("stop", "--all", "--config", path, home=tmp_path, timeout=90)
        assert stopped.returncode == 0, stopped.stderr
        lines = stopped.stdout.splitlines()
        assert [line.split()[0] for line in lines[:3]] == ["web", "backend", "db"]
        assert lines[-1].startswith("stopped 3 services in ")
        assert listeners(list(ports.values())) == []
    finally:
        kill_ports(ports)


def test_cli_needs_a_name_or_all_but_not_both(tmp_path) -> None:
    path = write_config(tmp_path, {"backend": free_port()})
    neither = run_cli("stop", "--config", path, home=tmp_path)
    both = run_cli("stop", "backend", "--all", "--config", path, home=tmp_path)
    for result in (neither, both):
        assert result.returncode == 2
        assert "name one service or pass --all, not both" in result.stderr


def test_cli_restart_all_with_a_tray_running_is_done_by_the_tray(tmp_path) -> None:
    ports = {name: free_port() for name in NAMES}
    path = write_config(tmp_path, ports)
    env = {**cli_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    tray = subprocess.Popen(
        trayapp_command("--config", path), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: (tmp_path / ".runtime" / "trayapp" / "trayapp.sock").exists(), what="the tray's socket")
        result = run_cli("restart", "--all", "--json", "--config", path, home=tmp_path, timeout=90)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["ok"] is True and answer["detail"].startswith("restarted 3 services in ")
        assert [s["service"] for s in answer["services"]] == list(NAMES)
        holders = listeners(list(ports.values()))
        assert len(holders) == 3
        assert all(psutil.Process(h.pid).ppid() == tray.pid for h in holders)  # the tray's children
    finally:
        tray.terminate()
        tray.wait(timeout=10)
        kill_ports(ports)
