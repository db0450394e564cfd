"""Managed services in the tray app: start, crash, stop with progress and Force, restart over a stale process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QPushButton

from tests.kit.servers import BACKEND_SCRIPT, free_port, start_backend
from tests.kit.wait import wait_until
from trayapp.checks.ports import listeners
from trayapp.config.load import Config, parse_config
from trayapp.model import State
from trayapp.ui.app import TrayApp
from trayapp.ui.models import SentenceRole, ServicesModel

WAIT_MS = 15_000
WATCHER = Path(__file__).parent / "kit" / "watcher.py"
WRITER = Path(__file__).parent / "kit" / "writer.py"


def managed(tmp_path: Path, port: int, *flags: str, stop_timeout: float = 5) -> Config:
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port), *flags]
    path = tmp_path / "trayapp.toml"
    path.write_text(
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 0.2\ntimeout = 0.5\n'
        f"start = {json.dumps(argv)}\nstop_timeout = {stop_timeout}\nstart_timeout = 10\n"
    )
    return parse_config(path.read_text(), str(path))


def popups(app: TrayApp) -> list:
    seen: list = []
    app.tray.announced.connect(seen.append)
    return seen


def test_start_from_the_window_then_a_crash_is_announced_at_once(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    app = tray_app(managed(tmp_path, port))
    seen = popups(app)
    app.open_window("backend")
    tab = app.window.services_tab
    assert tab.process_box.isVisible()
    tab.action_buttons["start"].click()
    qtbot.waitUntil(lambda: any(p.title.startswith("backend started in ") for p in seen), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    # The start's own result reaches the window separately from the supervisor's event that made the popup.
    qtbot.waitUntil(lambda: tab.process_status.text().startswith("backend started in "), timeout=WAIT_MS)

    os.kill(app.supervisor.status("backend").pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: any(p.title == "backend is down" for p in seen), timeout=WAIT_MS)
    [down] = [p for p in seen if p.title == "backend is down"]
    assert down.message.startswith("backend was killed by SIGKILL (not by trayapp: a kill from another program")
    assert "last output" not in down.message  # its last lines (its own health checks) would not say who did it
    model = app.services_model
    assert model.data(model.index(0, ServicesModel.STATE)) == "down"
    assert model.data(model.index(0, ServicesModel.DETAIL)) == "process killed (SIGKILL)"


def test_stop_shows_progress_and_force_kills_at_once(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    app = tray_app(managed(tmp_path, port, "--ignore-term", stop_timeout=60))
    seen = popups(app)
    assert app.supervisor.start("backend").ok
    app.open_window("backend")
    tab = app.window.services_tab
    tab.refresh_actions()
    tab.action_buttons["stop"].click()
    qtbot.waitUntil(lambda: tab.process_status.text().startswith("SIGTERM sent "), timeout=WAIT_MS)
    assert tab.action_buttons["force"].isVisible()
    app.tray.menu.aboutToShow.emit()
    row = [a.text() for a in app.tray.menu.actions()[0].menu().actions()]
    assert any(text.startswith("Force stop (SIGTERM sent ") for text in row)
    tab.action_buttons["force"].click()
    qtbot.waitUntil(lambda: any(p.title == "backend stopped" for p in seen), timeout=WAIT_MS)
    [stopped] = [p for p in seen if p.title == "backend stopped"]
    assert "was killed (Force)" in stopped.message
    assert listeners([port]) == []
    assert not any(p.title == "backend is down" for p in seen)  # a stop you asked for is not an alarm


def test_a_slow_graceful_stop_shows_stopping_and_never_cries_down(qtbot, tray_app, tmp_path) -> None:
    # The backend closes its port at SIGTERM and exits 3 s later, as an Express server draining its pool does.
    port = free_port()
    app = tray_app(managed(tmp_path, port, "--linger", "3"))
    seen = popups(app)
    assert app.supervisor.start("backend").ok
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    seen.clear()  # "backend started in 0.1 s"
    model, view = app.services_model, app.views["backend"]
    app.open_window("backend")
    app.window.services_tab.refresh_actions()
    app.window.services_tab.action_buttons["stop"].click()

    qtbot.waitUntil(lambda: model.data(model.index(0, ServicesModel.STATE)) == "stopping", timeout=WAIT_MS)
    assert model.data(model.index(0, ServicesModel.DETAIL)) == "stopping…"
    assert model.data(model.index(0, ServicesModel.DETAIL), SentenceRole).startswith("SIGTERM sent to backend (pid ")
    report = app.window.services_tab.detail.toPlainText()
    assert "SIGKILL follows if it is still running after 5 s.\n(checked at " in report  # no "reason ok" for a stop
    qtbot.waitUntil(lambda: listeners([port]) == [], timeout=WAIT_MS)
    checked = len(view.history)
    qtbot.waitUntil(lambda: len(view.history) >= checked + 3, timeout=WAIT_MS)  # refused, refused, refused...
    assert view.state is State.STOPPING  # ... and still "stopping", not "down"
    assert "backend: stopping" in app.tray.tooltip()

    qtbot.waitUntil(lambda: any(p.title == "backend stopped" for p in seen), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: model.data(model.index(0, ServicesModel.STATE)) == "stopped", timeout=WAIT_MS)
    assert [p.title for p in seen] == ["backend stopped"]
    assert seen[0].message.startswith("It exited 3.") and seen[0].message.endswith(" s after SIGTERM")


def test_restart_over_a_stale_process_asks_once_then_starts(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    stale = start_backend("healthy", port=port)
    try:
        app = tray_app(managed(tmp_path, port))
        seen = popups(app)
        app.services.action("backend", "restart")
        qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "kill-confirmation") is not None, timeout=WAIT_MS)
        box = app.window.findChild(QMessageBox, "kill-confirmation")
        assert "then start backend" in box.text() and f"pid {stale.pid}" in box.text()
        box.findChild(QPushButton, "confirm-kill").click()
        qtbot.waitUntil(lambda: any(p.title.startswith("backend restarted in ") for p in seen), timeout=WAIT_MS)
        assert stale.proc.wait(timeout=5) is not None
        assert [x.pid for x in listeners([port])] == [app.supervisor.status("backend").pid]
    finally:
        stale.kill()


def test_menu_offers_start_when_stopped_and_stop_when_running(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    app = tray_app(managed(tmp_path, port))

    def row() -> list[str]:
        app.tray.menu.aboutToShow.emit()
        return [a.text() for a in app.tray.menu.actions()[0].menu().actions()]

    assert "Start" in row() and "Stop" not in row()
    assert app.supervisor.start("backend").ok
    assert "Stop" in row() and "Start" not in row() and "Restart" in row()


def test_logs_tab_follows_the_file_and_jumps_to_a_state_change(qtbot, tray_app, tmp_path, backend) -> None:
    api = backend("healthy")
    log = tmp_path / "server.log"
    log.write_text('{"level":30,"time":1700000000000,"msg":"listening on 5000"}\n')
    path = tmp_path / "trayapp.toml"
    path.write_text(
        f'[[service]]\nname = "backend"\nkind = "http"\nurl = "{api.url()}"\ninterval = 0.1\nlog = "{log}"\n'
    )
    app = tray_app(parse_config(path.read_text(), str(path)))
    view = app.window.log_view
    app.window.show_log()
    qtbot.waitUntil(lambda: "listening on 5000" in view.visible_text(), timeout=WAIT_MS)  # the file's last lines
    with log.open("a") as out:
        out.write("MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017\n")
    qtbot.waitUntil(lambda: "MongoServerSelectionError" in view.visible_text(), timeout=WAIT_MS)

    api.set_mode("status_500")
    qtbot.waitUntil(lambda: app.views["backend"].state is State.DOWN, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "backend: up → down (http_status)" in view.visible_text(), timeout=WAIT_MS)
    app.open_window("backend")
    app.window.services_tab.log_button.click()
    assert app.window.tabs.currentWidget() is view
    marker = view.seq_at(view.current_line())
    assert marker is not None
    assert "backend: up → down (http_status)" in view.text.textCursor().block().text()
    # the marker says when: "── 12:03:04 backend: up → down (http_status) ──"
    block = view.text.textCursor().block().text()
    assert re.fullmatch(r"── \d\d:\d\d:\d\d backend: up → down \(http_status\) ──", block)


def test_the_logs_tab_opened_late_shows_the_lines_and_changes_from_before(qtbot, tray_app, tmp_path, backend) -> None:
    # The log view is built only when the Logs tab is first chosen: what was tailed and marked
    # before then must be in it all the same, and what comes after must follow.
    api = backend("healthy")
    log = tmp_path / "server.log"
    log.write_text('{"level":30,"time":1700000000000,"msg":"listening on 5000"}\n')
    path = tmp_path / "trayapp.toml"
    path.write_text(
        f'[[service]]\nname = "backend"\nkind = "http"\nurl = "{api.url()}"\ninterval = 0.1\nlog = "{log}"\n'
    )
    app = tray_app(parse_config(path.read_text(), str(path)))
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    api.set_mode("status_500")
    qtbot.waitUntil(lambda: app.views["backend"].state is State.DOWN, timeout=WAIT_MS)
    stored = lambda: " ".join(e.text for e in app.log_store.entries())  # noqa: E731
    qtbot.waitUntil(lambda: "listening on 5000" in stored() and "up → down" in stored(), timeout=WAIT_MS)

    app.window.show()
    app.window.tabs.setCurrentIndex(2)  # the user clicks "Logs"
    view = app.window.tabs.currentWidget()
    assert view is app.window.log_view
    qtbot.waitUntil(lambda: "listening on 5000" in view.visible_text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "backend: up → down (http_status)" in view.visible_text(), timeout=WAIT_MS)
    with log.open("a") as out:
        out.write("MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017\n")
    qtbot.waitUntil(lambda: "MongoServerSelectionError" in view.visible_text(), timeout=WAIT_MS)


def test_a_crash_under_a_watcher_is_explained_by_the_line_the_app_wrote(qtbot, tray_app, tmp_path) -> None:
    # Hot reload: nodemon stays up when the app dies, so there is no exit to see; only a port
    # that stopped answering, and the reason in the output nobody is looking at.
    port = free_port()
    app_argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
    path = tmp_path / "trayapp.toml"
    path.write_text(
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 0.2\ntimeout = 0.5\n'
        f"start = {json.dumps([sys.executable, str(WATCHER), '--', *app_argv])}\n"
    )
    app = tray_app(parse_config(path.read_text(), str(path)))
    seen = popups(app)
    assert app.supervisor.start("backend").ok
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    watcher_pid = app.supervisor.status("backend").pid
    [served] = listeners([port])
    assert served.pid != watcher_pid  # the app is the watcher's child

    os.kill(served.pid, signal.SIGKILL)  # the app dies; the watcher lives on
    qtbot.waitUntil(lambda: any(p.title == "backend is down" for p in seen), timeout=WAIT_MS)
    [down] = [p for p in seen if p.title == "backend is down"]
    assert down.message.startswith(f"Nothing listens on port {port}")
    assert "Its log (backend.log, written " in down.message
    assert down.message.endswith("says: [nodemon] app crashed - waiting for file changes before starting...")

    # A stale process takes the port; the next reload dies with EADDRINUSE, and the row says so.
    stale = socket.create_server(("127.0.0.1", port))
    try:
        os.kill(watcher_pid, signal.SIGUSR1)  # a file changed
        model = app.services_model

        def row_detail() -> str:
            return str(model.data(model.index(0, ServicesModel.DETAIL), SentenceRole))

        def after_the_stale_socket() -> bool:
            return row_detail().startswith(f"port {port} is held by ") and "Address already in use" in row_detail()

        # A check whose probe ran just before the stale socket listened says "Nothing listens" and may
        # already quote the new line (its log is read after the probe): wait for a check made after.
        qtbot.waitUntil(after_the_stale_socket, timeout=WAIT_MS)
        detail = row_detail()  # who holds it: this test, not answering
        assert f"pid {os.getpid()}" in detail
        assert "cannot listen on 127.0.0.1:" in detail and detail.endswith("[Errno 98] Address already in use")
    finally:
        stale.close()


def test_the_logs_tab_shows_each_line_of_a_growing_log_once(qtbot, tray_app, tmp_path) -> None:
    # The tab starts with the file's last lines and follows it; a file that grows meanwhile
    # must show up in it once, in order: no line repeated, none lost.
    log = tmp_path / "app.log"
    log.touch()
    writer = subprocess.Popen([sys.executable, str(WRITER), str(log)])
    try:
        wait_until(lambda: log.stat().st_size > 10_000, what="the writer to be under way")
        path = tmp_path / "trayapp.toml"
        path.write_text(f'[[service]]\nname = "api"\nkind = "tcp"\nport = {free_port()}\nlog = "{log}"\n')
        app = tray_app(parse_config(path.read_text(), str(path)))

        def numbers() -> list[int]:
            return [int(e.text.split()[1]) for e in app.log_store.entries({"api"}) if e.text.startswith("line ")]

        qtbot.waitUntil(lambda: len(numbers()) >= 3000, timeout=WAIT_MS)
    finally:
        writer.kill()
        writer.wait()
    seen = numbers()
    assert seen == list(range(seen[0], seen[0] + len(seen)))
