"""The window on a discovered project: where each service came from, and re-discovery when the
project's files change (issue #10 section 1), against real servers."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port
from tests.kit.projects import copy_project
from trayapp.model import State
from trayapp.project.load import load_stack

WAIT_MS = 10_000


def test_the_window_says_where_a_service_came_from_and_follows_the_project(
    qtbot, tray_app, backend, tmp_path: Path
) -> None:
    first = backend("healthy", only_path="/api/health")
    root = copy_project("backend3001", tmp_path, {3001: first.port, 5173: free_port(), 27017: free_port()})
    app = tray_app(load_stack(cwd=root))
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    app.open_window("backend")
    report = app.window.services_tab.detail.toPlainText()
    assert f'discovered: server/package.json:13 "express": "^4.21.0"; server/.env:1 PORT={first.port};' in report

    second = backend("healthy", only_path="/api/health")
    env = root / "server" / ".env"
    env.write_text(env.read_text().replace(f"PORT={first.port}", f"PORT={second.port}"))
    qtbot.waitUntil(lambda: app.views["backend"].service.port == second.port, timeout=WAIT_MS)
    first.kill()  # the old port goes quiet; the watched one is the new
    qtbot.waitUntil(
        lambda: (
            app.views["backend"].state is State.UP
            and app.views["backend"].last is not None
            and app.views["backend"].last.port == second.port
        ),
        timeout=WAIT_MS,
    )
    app.open_window("backend")
    assert f"server/.env:1 PORT={second.port}" in app.window.services_tab.detail.toPlainText()
