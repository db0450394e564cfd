"""The real web stack (tests/stack: Express 5 + mongoose 9, nodemon 3, Vite 8, NX-27017 as MongoDB)
runs here, and trayapp sees it as a user would: ``trayapp status --json`` as a child process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.kit.cli import run_cli
from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.kit.stack import LISTENING, NODEMON_CRASHED, SERVER_SCRIPT, NodeProcess, Stack, get_json
from tests.kit.wait import wait_until

HEALTHY = {"status": "ok", "db": "connected"}


def status(tmp_path: Path, *services: str) -> tuple[int, dict[str, dict]]:
    """``trayapp status --json`` on a config of ``services``: exit code and the services by name."""
    config = tmp_path / "trayapp.toml"
    config.write_text("\n".join(services), encoding="utf-8")
    result = run_cli("status", "--json", "--config", config, home=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, {s["name"]: s for s in json.loads(result.stdout)["services"]}


def wait_connected(backend: NodeProcess) -> None:
    """Until the backend's health check says mongoose is connected."""
    wait_until(lambda: get_json(backend.url("/api/health")) == (200, HEALTHY), what="backend connected to MongoDB")


def test_status_sees_the_real_stack_up_and_names_node_as_the_backends_listener(tmp_path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_connected(backend)

    code, services = status(
        tmp_path,
        service_toml("backend", "http", url=backend.url("/api/health")),
        service_toml("frontend", "http", url=vite.url("/")),
        service_toml("db", "mongo", uri=f"{db.uri}/app"),
    )

    assert code == 0
    assert {name: (s["state"], s["reason"]) for name, s in services.items()} == {
        "backend": ("up", "ok"),
        "frontend": ("up", "ok"),
        "db": ("up", "ok"),
    }
    [listener] = services["backend"]["listeners"]
    assert listener["pid"] == backend.pid and listener["name"] == "node"
    assert listener["cmdline"][1:] == [SERVER_SCRIPT] and listener["cwd"] == str(backend.project)
    assert listener["address"] == "::"  # app.listen(PORT): every address, as the tutorials do


def test_the_browsers_path_through_vites_proxy_reaches_the_backend(stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_connected(backend)

    assert get_json(vite.url("/api/health")) == (200, HEALTHY)
    code, page = get_json(vite.url("/"), accept="text/html")
    assert code == 200 and "/@vite/client" in str(page)  # Vite itself serves the page


def test_database_stopped_backend_answers_503_and_status_says_dependency_down(tmp_path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_connected(backend)

    db.stop()
    down = (503, {"status": "error", "db": "disconnected"})
    wait_until(lambda: get_json(backend.url("/api/health")) == down, what="the backend to notice the database is gone")

    assert get_json(vite.url("/api/health")) == down  # the browser gets the same answer through the proxy
    assert "MongoDB disconnected" in backend.output()
    code, services = status(
        tmp_path,
        service_toml("backend", "http", url=backend.url("/api/health")),
        service_toml("db", "mongo", uri=f"{db.uri}/app", timeout=1.0),
    )
    assert code == 1
    assert (services["backend"]["state"], services["backend"]["reason"]) == ("degraded", "dependency_down")
    assert "disconnected" in services["backend"]["detail"]
    assert (services["db"]["state"], services["db"]["reason"]) == ("down", "refused")


def test_nodemon_restarts_the_app_on_a_change_and_waits_after_a_crash(tmp_path, stack: Stack) -> None:
    db = stack.db()
    nodemon = stack.nodemon(f"{db.uri}/app")
    first = nodemon.app_pid()
    assert first is not None

    nodemon.touch()
    nodemon.wait_for_output(f"{LISTENING} {nodemon.port}", count=2)
    second = nodemon.app_pid()
    assert second is not None and second != first
    assert "[nodemon] restarting due to changes..." in nodemon.output()
    wait_until(lambda: get_json(nodemon.url("/api/health")) == (200, HEALTHY), what="the restarted app connected")

    nodemon.kill_app(signal.SIGKILL)
    nodemon.wait_for_output(NODEMON_CRASHED)
    assert nodemon.running() and nodemon.app_pid() is None  # nodemon stays up; nothing listens
    code, services = status(tmp_path, service_toml("backend", "http", url=nodemon.url("/api/health")))
    assert code == 1
    assert (services["backend"]["state"], services["backend"]["reason"]) == ("down", "refused")


def test_a_second_backend_on_the_same_port_dies_with_nodes_eaddrinuse(tmp_path, stack: Stack) -> None:
    db = stack.db()
    first = stack.backend(f"{db.uri}/app")
    second = stack.backend(f"{db.uri}/app", port=first.port, project="other-checkout", wait=False)

    assert second.wait_exit() == 1
    assert f"Error: listen EADDRINUSE: address already in use :::{first.port}" in second.output()
    code, services = status(tmp_path, service_toml("backend", "http", url=first.url("/api/health")))
    [listener] = services["backend"]["listeners"]
    assert listener["pid"] == first.pid  # the first one still holds the port and answers
    assert code == 0


def test_vite_proxy_to_ipv6_loopback_fails_while_the_backend_listens_on_ipv4_only(stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app", host="127.0.0.1")
    vite = stack.vite(f"http://[::1]:{backend.port}")
    wait_connected(backend)

    assert get_json(vite.url("/api/health"))[0] == 502  # what the browser gets
    assert f"Error: connect ECONNREFUSED ::1:{backend.port}" in vite.output()
    assert get_json(backend.url("/api/health")) == (200, HEALTHY)  # while 127.0.0.1 works


def test_backend_with_retry_connects_once_the_database_comes_up(stack: Stack) -> None:
    db_port = free_port()
    backend = stack.backend(f"mongodb://127.0.0.1:{db_port}/app", server_selection_ms=300, retry_ms=100)
    backend.wait_for_output("Retrying MongoDB connection in 100 ms")
    assert get_json(backend.url("/api/health"))[0] == 503
    assert "MongoDB connection error: MongooseServerSelectionError: connect ECONNREFUSED" in backend.output()

    stack.db(port=db_port)
    wait_connected(backend)
    assert "MongoDB connected" in backend.output()
