"""A service is its config plus its name (issue 9, section 2): two projects that each have a
``backend`` keep their own captured output, child records and control requests, and a command
from one never acts on the other's process. Real config folders, real children, the real CLI."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from pathlib import Path

from tests.kit.cli import run_cli
from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.wait import wait_until
from trayapp.checks.ports import listeners
from trayapp.config.load import load_config
from trayapp.identity import config_home, home_folder, project_home, service_identity
from trayapp.paths import captured_output, config_records
from trayapp.supervise.supervisor import ChildState, Supervisor

OLD_ERROR = "Error: listen EADDRINUSE: address already in use :::41040"


def project(folder: Path, port: int, *, error: str | None = None) -> Path:
    """``folder/trayapp.toml`` with a managed http ``backend`` on ``port`` (printing ``error`` first)."""
    folder.mkdir(parents=True, exist_ok=True)
    serve = f"exec {shlex.quote(sys.executable)} {shlex.quote(str(BACKEND_SCRIPT))} --port {port}"
    script = (f"echo {shlex.quote(error)} >&2; " if error else "") + serve
    path = folder / "trayapp.toml"
    path.write_text(
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ntimeout = 0.5\ninterval = 0.5\n'
        f"start = {json.dumps(script)}\nshell = true\nstop_timeout = 5\nstart_timeout = 15\n"
    )
    return path


def holder(port: int) -> int | None:
    found = [x.pid for x in listeners([port]) if x.pid is not None]
    return found[0] if found else None


def kill_holder(port: int) -> None:
    if (pid := holder(port)) is not None:
        os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_stop_in_another_project_leaves_this_projects_backend_and_its_output_alone(tmp_path) -> None:
    """``trayapp start backend`` in folder A, then ``trayapp stop backend`` in folder B: A's
    backend keeps running, and B's status quotes nothing of A's output."""
    port_a, port_b = free_port(), free_port()
    config_a = project(tmp_path / "shop", port_a, error=OLD_ERROR)
    project(tmp_path / "blog", port_b)
    try:
        started = run_cli("start", "backend", home=tmp_path, cwd=tmp_path / "shop")
        assert started.returncode == 0, started.stderr
        pid = holder(port_a)
        assert pid is not None

        stopped = run_cli("stop", "backend", home=tmp_path, cwd=tmp_path / "blog")
        assert (stopped.returncode, stopped.stdout.strip()) == (0, "backend is not running")
        assert holder(port_a) == pid  # A's backend was not touched

        status = run_cli("status", "--json", home=tmp_path, cwd=tmp_path / "blog")
        [backend] = json.loads(status.stdout)["services"]
        assert backend["state"] != "up" and "EADDRINUSE" not in backend["detail"]

        # each project's output is in its own folder, named for people
        services = tmp_path / ".state" / "trayapp" / "log" / "services"
        folder = home_folder(config_home(str(config_a)))
        assert folder.startswith("shop-")
        assert OLD_ERROR in (services / folder / "backend.log").read_text()
        assert not (services / "backend.log").exists()

        again = run_cli("stop", "backend", home=tmp_path, cwd=tmp_path / "shop")
        assert again.returncode == 0 and again.stdout.startswith("backend stopped"), again.stderr
        wait_until(lambda: holder(port_a) is None, what="A's backend to go")
    finally:
        kill_holder(port_a)


def test_a_child_recorded_in_the_old_layout_is_adopted_once_by_its_own_project(tmp_path) -> None:
    """An older trayapp kept ``children/backend.json`` and ``services/backend.log`` for every
    config. The project whose backend it is (same command, same folder) takes them over; the
    other project with a ``backend`` does not, before or after."""
    port = free_port()
    config_a = load_config(project(tmp_path / "shop", port))
    config_b = load_config(project(tmp_path / "blog", free_port()))
    logs, state = tmp_path / "logs", tmp_path / "state"
    first = Supervisor(config_a, log_dir=logs, state_dir=state)
    try:
        assert first.start("backend").ok
        pid = first.status("backend").pid
        first.close()
        # what the old layout had on disk for this very child
        home_a = config_a.services[0].home
        (config_records(home_a, state) / "backend.json").replace(state / "backend.json")
        captured_output(home_a, "backend", logs).replace(logs / "backend.log")

        other = Supervisor(config_b, log_dir=logs, state_dir=state)
        other.close()
        assert other.status("backend").state is ChildState.STOPPED  # not blog's: left alone
        assert (state / "backend.json").exists() and (logs / "backend.log").exists()

        adopting = Supervisor(config_a, log_dir=logs, state_dir=state)
        adopting.close()
        status = adopting.status("backend")
        assert (status.state, status.pid) == (ChildState.RUNNING, pid)
        assert not (state / "backend.json").exists() and not (logs / "backend.log").exists()  # moved, once
        record = json.loads((config_records(home_a, state) / "backend.json").read_text())
        assert record["identity"] == config_a.services[0].identity
        assert "starting backend" in adopting.log_path("backend").read_text()

        later = Supervisor(config_b, log_dir=logs, state_dir=state)
        later.close()
        assert later.status("backend").state is ChildState.STOPPED

        again = Supervisor(config_a, log_dir=logs, state_dir=state)
        assert again.status("backend").pid == pid  # from its new place
        assert again.stop("backend").ok
        again.close()
        assert holder(port) is None
    finally:
        kill_holder(port)


def test_a_discovered_project_is_known_by_its_root_and_keeps_it_after_init(tmp_path) -> None:
    """No config file: the identity comes from the project root (its trayapp.toml-to-be), so
    two checkouts differ and writing trayapp.toml there does not change it."""
    a, b = project_home(tmp_path / "a"), project_home(tmp_path / "b")
    assert service_identity(a, "backend") != service_identity(b, "backend")
    written = project(tmp_path / "a", free_port())
    assert load_config(written).services[0].identity == service_identity(a, "backend")
    assert home_folder(a).startswith("a-") and home_folder("<built-in default>").startswith("default-")
