"""What the real Express + mongoose backend's answers mean (issue 9 section 4), read by trayapp status."""

from __future__ import annotations

import json
from pathlib import Path

from tests.kit.cli import run_cli
from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.kit.stack import Stack, get_json
from tests.kit.wait import wait_until


def status(tmp_path: Path, *services: str) -> tuple[int, dict[str, dict[str, object]]]:
    config = tmp_path / "trayapp.toml"
    config.write_text("\n".join(services))
    result = run_cli("status", "--json", "--config", config, home=tmp_path)
    return result.returncode, {s["name"]: s for s in json.loads(result.stdout)["services"]}


def test_a_mongoose_backend_whose_database_is_not_up_yet_reads_as_still_connecting(tmp_path, stack: Stack) -> None:
    db_port = free_port()
    # mongoose's own connect window (server selection) outlasts the test; the database comes late
    backend = stack.backend(f"mongodb://127.0.0.1:{db_port}/app", server_selection_ms=120_000)
    assert get_json(backend.url("/api/health")) == (503, {"status": "error", "db": "connecting"})
    service = service_toml("backend", "http", url=backend.url("/api/health"))

    code, services = status(tmp_path, service)
    assert code == 1
    answer = services["backend"]
    assert (answer["state"], answer["reason"], answer["http_status"]) == ("degraded", "dependency_down", 503)
    assert answer["detail"].startswith("backend answers (503) but a dependency is still connecting: db: connecting.")
    assert "health handler fails" not in answer["detail"]

    stack.db(port=db_port)  # NX-27017 starts late; mongoose's driver finds it on its next heartbeat
    wait_until(lambda: get_json(backend.url("/api/health"))[0] == 200, timeout=30, what="mongoose connected")
    code, services = status(tmp_path, service)
    assert (code, services["backend"]["state"], services["backend"]["reason"]) == (0, "up", "ok")


def test_express_s_own_404_page_is_quoted_by_its_text(tmp_path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    code, services = status(tmp_path, service_toml("backend", "http", url=backend.url("/api/healthz")))
    assert code == 1
    answer = services["backend"]
    assert (answer["state"], answer["reason"], answer["http_status"]) == ("down", "http_status", 404)
    assert answer["detail"].startswith(
        "backend answers 404 Not Found: Cannot GET /api/healthz: the server runs, but the health path is wrong"
    )
    assert "<" not in answer["detail"]
