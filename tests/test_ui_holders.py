"""Issue 9, section 3 in the tray app: the popup and the window name a stale holder and a
stopped one, and the kill confirmation offers to stop the watcher above the app."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QMessageBox, QPushButton

from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.services import service_toml
from tests.kit.wait import wait_until
from tests.test_holders import Procs, holders, nodemon_like, process_name, project, stop_process
from trayapp.config.load import parse_config
from trayapp.model import Reason
from trayapp.ui.models import SentenceRole, ServicesModel

WAIT_MS = 15_000


def popups(app) -> list:
    seen: list = []
    app.tray.announced.connect(seen.append)
    return seen


def test_a_stale_holder_is_named_in_the_popup_and_the_window(qtbot, tray_app, tmp_path) -> None:
    procs = Procs()
    try:
        port = free_port()
        stale = procs.backend("not_found", port=port, cwd=project(tmp_path, "old-checkout"))
        app_dir = project(tmp_path)
        log = app_dir / "nodemon.log"
        procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable, str(BACKEND_SCRIPT),
                     "--port", str(port)], log=log, cwd=app_dir)  # fmt: skip
        wait_until(lambda: "app crashed" in log.read_text(), what="the app to fail with EADDRINUSE")
        path = app_dir / "trayapp.toml"
        path.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", interval=0.2,
                                     timeout=1.0, log=str(log)))  # fmt: skip
        app = tray_app(parse_config(path.read_text(), str(path)))
        seen = popups(app)
        qtbot.waitUntil(lambda: any(p.title == "backend is down" for p in seen), timeout=WAIT_MS)
        [down] = [p for p in seen if p.title == "backend is down"]
        assert down.message.startswith(f"port {port} is answered by {process_name(stale.pid)} (pid {stale.pid}")
        assert "not by backend, whose log says EADDRINUSE; a stale server holds the port" in down.message
        model = app.services_model
        assert model.data(model.index(0, ServicesModel.DETAIL)) == f"stale server on port {port}"
        sentence = model.data(model.index(0, ServicesModel.DETAIL), SentenceRole)
        assert sentence.startswith(f"port {port} is answered by ") and f"`trayapp kill {port}`" in sentence
        assert app.views["backend"].last is not None and app.views["backend"].last.reason is Reason.STALE_HOLDER
    finally:
        procs.close()


def test_a_stopped_frontend_is_paused_in_the_window(qtbot, tray_app) -> None:
    procs = Procs()
    try:
        vite = procs.backend("healthy")
        path = Path("stack.toml")
        text = service_toml("frontend", "tcp", host="127.0.0.1", port=vite.port, interval=0.2, timeout=0.5)
        app = tray_app(parse_config(text, str(path)))
        qtbot.waitUntil(lambda: app.views["frontend"].state.value == "up", timeout=WAIT_MS)
        stop_process(vite.pid)
        qtbot.waitUntil(lambda: app.views["frontend"].state.value == "down", timeout=WAIT_MS)
        model = app.services_model
        assert model.data(model.index(0, ServicesModel.STATE)) == "down"
        assert model.data(model.index(0, ServicesModel.DETAIL)) == f"server on port {vite.port} is paused (stopped)"
        sentence = model.data(model.index(0, ServicesModel.DETAIL), SentenceRole)
        assert f"(kill -CONT {vite.pid}, or fg in its terminal)" in sentence
    finally:
        procs.close()


def test_the_kill_confirmation_offers_to_stop_the_watcher_too(qtbot, tray_app, tmp_path) -> None:
    procs = Procs()
    try:
        port = free_port()
        watcher = procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable,
                               str(BACKEND_SCRIPT), "--port", str(port)], log=tmp_path / "nodemon.log")  # fmt: skip
        wait_until(lambda: holders(port), what="the app to listen")
        [app_pid] = holders(port)
        path = tmp_path / "trayapp.toml"
        path.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", interval=1))
        app = tray_app(parse_config(path.read_text(), str(path)))
        app.window.show_ports(port)
        with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
            app.ports.refresh()
        app.window.ports_tab.kill_buttons.clicked.emit(0)
        qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "kill-confirmation") is not None, timeout=WAIT_MS)
        box = app.window.findChild(QMessageBox, "kill-confirmation")
        assert f"pid {app_pid}" in box.text()
        assert f"Above them runs nodemon (pid {watcher.pid}), which will start them again on the next file save" in (
            box.text()
        )
        also = box.findChild(QCheckBox, "with-watcher")
        assert also is not None and not also.isChecked()  # off unless asked
        also.setChecked(True)
        box.findChild(QPushButton, "confirm-kill").click()
        tab = app.window.ports_tab
        qtbot.waitUntil(lambda: "is free" in tab.status.text(), timeout=20_000)
        assert f"nodemon (pid {watcher.pid})" in tab.status.text()
        assert watcher.wait(timeout=10) is not None  # the watcher is gone: nothing starts the app again
        assert holders(port) == []
    finally:
        procs.close()


def test_without_the_box_checked_the_watcher_lives_and_the_status_says_so(qtbot, tray_app, tmp_path) -> None:
    procs = Procs()
    try:
        port = free_port()
        watcher = procs.spawn([sys.executable, str(nodemon_like(tmp_path)), "--", sys.executable,
                               str(BACKEND_SCRIPT), "--port", str(port)], log=tmp_path / "nodemon.log")  # fmt: skip
        wait_until(lambda: holders(port), what="the app to listen")
        path = tmp_path / "trayapp.toml"
        path.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", interval=1))
        app = tray_app(parse_config(path.read_text(), str(path)))
        app.window.show_ports(port)
        with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
            app.ports.refresh()
        app.window.ports_tab.kill_buttons.clicked.emit(0)
        qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "kill-confirmation") is not None, timeout=WAIT_MS)
        app.window.findChild(QMessageBox, "kill-confirmation").findChild(QPushButton, "confirm-kill").click()
        tab = app.window.ports_tab
        qtbot.waitUntil(lambda: "is free" in tab.status.text(), timeout=20_000)
        assert f"nodemon (pid {watcher.pid}) above it was not stopped and will start it again" in tab.status.text()
        assert watcher.poll() is None
        watcher.send_signal(signal.SIGUSR1)  # a file save: it does
        wait_until(lambda: holders(port), what="the watcher to start the app again")
    finally:
        procs.close()
