"""The tray app names one root cause and offers the restart a stale connection needs, against the
real stack (tests/stack: Express 5 + mongoose 9, NX-27017), offscreen (issue #10 sections 4 and 5)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QPushButton

from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.kit.stack import Stack, backend_command
from trayapp.config.load import parse_config
from trayapp.model import Reason, State
from trayapp.ui.popups import RESTART, note_for

WAIT_MS = 30_000


def test_a_stale_connection_pops_up_and_a_click_restarts_the_managed_backend(qtbot, tray_app, stack: Stack) -> None:
    port, db_port = free_port(), free_port()
    uri = f"mongodb://127.0.0.1:{db_port}/app"
    # The developer ran the backend in a terminal before MongoDB was up: its one connect failed.
    terminal = stack.backend(uri, port=port, server_selection_ms=500)
    terminal.wait_for_output("MongoDB connection error")
    stack.db(port=db_port)  # MongoDB is back; this app never connects again
    env = f'env = {{ PORT = "{port}", MONGODB_URI = "{uri}", MONGO_SERVER_SELECTION_MS = "2000" }}\n'
    config = parse_config(
        service_toml(
            "backend",
            "http",
            url=f"http://127.0.0.1:{port}/api/health",
            depends_on=["db"],
            interval=0.2,
            start=backend_command(),
            cwd=str(terminal.project),
        )
        + env
        + service_toml("db", "mongo", uri=uri, interval=0.2),
        "test.toml",
    )
    app = tray_app(config)
    popups: list = []
    app.tray.announced.connect(popups.append)

    qtbot.waitUntil(lambda: any(p.title == "backend has a stale connection" for p in popups), timeout=WAIT_MS)
    popup = next(p for p in popups if p.title == "backend has a stale connection")
    assert popup.message.startswith("backend still reports db disconnected ")
    assert popup.message.endswith(": its driver gave up or its pool is stale; restart backend.")
    note = note_for(popup, lambda name: app.supervisor.status(name) is not None)
    assert (RESTART, "Restart") in note.actions  # the notification offers Restart for a managed backend
    assert app.views["backend"].last.reason is Reason.STALE_CONNECTION
    assert "backend: degraded (stale database connection; restart it)" in app.tray.tooltip()
    app.open_window("backend")
    assert "Restart backend (the Restart button) so it connects again." in app.window.services_tab.detail.toPlainText()

    app.tray.popups.action.emit("backend", RESTART)  # the user picks Restart on the popup; asked first (not ours)
    qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "kill-confirmation") is not None, timeout=WAIT_MS)
    box = app.window.findChild(QMessageBox, "kill-confirmation")
    assert "then start backend" in box.text() and f"pid {terminal.pid}" in box.text()
    box.findChild(QPushButton, "confirm-kill").click()

    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    assert terminal.proc.poll() is not None  # the stale process is gone, trayapp's own answers
    qtbot.waitUntil(lambda: any(p.title.startswith("backend restarted in ") for p in popups), timeout=WAIT_MS)


def test_the_tooltip_names_the_root_once_when_the_db_stops(qtbot, tray_app, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    fast = {"interval": 0.2, "timeout": 1.0}
    config = parse_config(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"], **fast)
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend", **fast)
        + service_toml("db", "mongo", uri=f"{db.uri}/app", **fast),
        "test.toml",
    )
    app = tray_app(config)
    popups: list = []
    app.tray.announced.connect(popups.append)
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    db.stop()

    qtbot.waitUntil(lambda: len(popups) == 1, timeout=WAIT_MS)
    assert popups[0].title == "db is down (refused); backend and frontend are affected"
    qtbot.waitUntil(lambda: "frontend: degraded (blocked by db)" in app.tray.tooltip(), timeout=WAIT_MS)
    assert app.tray.tooltip().splitlines()[:4] == [
        "trayapp — down",
        "db is down (refused); backend and frontend are affected",
        "backend: degraded (blocked by db)",
        "frontend: degraded (blocked by db)",
    ]
    assert app.tray.tooltip().splitlines()[4].startswith("db: down (nothing listens on port ")  # words, not a code
    app.open_window("backend")
    assert "Blocked by db: its failure explains this one" in app.window.services_tab.detail.toPlainText()
    assert app.tray.icon_name() == "down"
