"""Saving settings and editing trayapp.toml while the tray runs, offscreen, against real servers.

Config files are real files, edited the way editors save them (a new file renamed over the old,
the old one renamed away first); services are real backends, hung ones included. Every wait is
on a condition the window shows.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QThreadPool

from tests.kit.editors import save_like_vim, save_like_vscode
from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.services import service_toml
from trayapp.checks.ports import listeners
from trayapp.config.load import load_config
from trayapp.model import State
from trayapp.ui.app import TrayApp
from trayapp.ui.models import ServicesModel

WAIT_MS = 15_000


def popups(app: TrayApp) -> list:
    seen: list = []
    app.tray.announced.connect(seen.append)
    return seen


def shown_states(app: TrayApp) -> list[tuple[str, str]]:
    """Every (service, State column) the Services table shows from now on."""
    model, seen = app.services_model, []

    def changed(top, bottom, *_args) -> None:
        for row in range(top.row(), bottom.row() + 1):
            seen.append((model.view(row).service.name, model.data(model.index(row, ServicesModel.STATE))))

    model.dataChanged.connect(changed)
    return seen


def test_save_with_three_hung_services_keeps_their_outage_and_history(qtbot, tray_app, backend, tmp_path) -> None:
    # Saving used to stop every worker (joining each hung one on the GUI thread) and start afresh:
    # the window froze, every service showed "unknown" and its outage was announced again.
    hung = [backend("hang") for _ in range(3)]
    path = tmp_path / "trayapp.toml"
    path.write_text(
        "".join(service_toml(f"api{i}", "http", url=h.url(), timeout=0.5, interval=0.2) for i, h in enumerate(hung))
    )
    app = tray_app(load_config(path))
    seen = popups(app)
    qtbot.waitUntil(lambda: all(v.state is State.DOWN for v in app.views.values()), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(seen) and app.notifier.next_due() is None, timeout=WAIT_MS)  # the outage was announced
    announced = len(seen)
    qtbot.waitUntil(lambda: all(s.checking for s in app.monitor.status()), timeout=WAIT_MS)
    before = {name: len(view.history) for name, view in app.views.items()}
    states = shown_states(app)

    app.open_window("api0")
    tab = app.window.services_tab
    tab.interval.setValue(0.3)
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.settings_note.text().startswith(f"Saved to {path}"), timeout=WAIT_MS)
    assert "interval = 0.3" in path.read_text()
    assert app.views["api0"].service.interval == 0.3 and tab.interval.value() == 0.3
    qtbot.waitUntil(lambda: all(len(v.history) >= before[n] + 2 for n, v in app.views.items()), timeout=WAIT_MS)

    assert {state for _, state in states} == {"down"}  # never "unknown", never back to "up"
    assert len(seen) == announced  # nothing announced again
    assert [v.service.name for v in app.services_model._views] == ["api0", "api1", "api2"]
    assert tab.current_name() == "api0"  # the selection stays


def test_after_a_save_and_a_reload_the_logs_view_holds_each_line_once(qtbot, tray_app, backend, tmp_path) -> None:
    api = backend("healthy")
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    server_log.write_text("".join(f"server line {i}\n" for i in range(5)))
    worker_log.write_text("".join(f"worker line {i}\n" for i in range(3)))
    path = tmp_path / "trayapp.toml"
    path.write_text(service_toml("backend", "http", url=api.url(), interval=0.5, log=str(server_log)))
    app = tray_app(load_config(path))
    view = app.window.log_view
    app.window.show_log()
    qtbot.waitUntil(lambda: "server line 4" in view.visible_text(), timeout=WAIT_MS)

    app.open_window("backend")
    tab = app.window.services_tab
    tab.interval.setValue(1.0)
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.settings_note.text().startswith("Saved"), timeout=WAIT_MS)
    # Edited on disk: a second service with its own log, the first one's log unchanged.
    save_like_vscode(
        path,
        path.read_text()
        + service_toml("worker", "tcp", host="127.0.0.1", port=api.port, interval=0.5, log=str(worker_log)),
    )
    qtbot.waitUntil(lambda: app.services_model.rowCount() == 2, timeout=WAIT_MS)
    with server_log.open("a") as out:
        out.write("server line after\n")
    app.window.show_log()
    qtbot.waitUntil(lambda: "server line after" in view.visible_text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "worker line 2" in view.visible_text(), timeout=WAIT_MS)

    lines = [line.split(" | ")[-1] for line in view.visible_text().splitlines() if " line " in line]
    expected = [f"server line {i}" for i in range(5)] + ["server line after"] + [f"worker line {i}" for i in range(3)]
    assert sorted(lines) == sorted(expected)  # each line once


def test_a_config_edited_in_an_editor_shows_in_the_window_edit_after_edit(qtbot, tray_app, backend, tmp_path) -> None:
    api = backend("healthy")
    path = tmp_path / "trayapp.toml"
    first = "# my stack\n" + service_toml("backend", "http", url=api.url(), interval=60.0)
    path.write_text(first)
    app = tray_app(load_config(path))
    seen = popups(app)
    app.open_window("backend")
    tab = app.window.services_tab
    assert tab.interval.value() == 60.0
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)

    save_like_vim(path, first.replace("interval = 60.0", "interval = 0.5"))
    qtbot.waitUntil(lambda: tab.interval.value() == 0.5, timeout=WAIT_MS)
    assert app.views["backend"].service.interval == 0.5
    status = app.window.config_status
    assert status.isVisible() and status.text().startswith(f"Reloaded {path} at ")
    assert status.text().endswith(": backend changed.")
    hits = api.hits()
    qtbot.waitUntil(lambda: api.hits() >= hits + 3, timeout=WAIT_MS)  # checked every 0.5 s now, not every minute

    # A second save, another way: a rename-save must not have lost the watch on the file.
    second = first.replace("interval = 60.0", "interval = 1.0") + service_toml(
        "vite", "tcp", host="127.0.0.1", port=api.port, interval=0.5
    )
    save_like_vscode(path, second)
    qtbot.waitUntil(lambda: app.services_model.rowCount() == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: tab.interval.value() == 1.0, timeout=WAIT_MS)
    assert status.text().endswith(": backend changed; vite added.")
    qtbot.waitUntil(lambda: app.views["vite"].state is State.UP, timeout=WAIT_MS)
    assert app.views["backend"].state is State.UP and seen == []  # a reload is not news


def test_an_invalid_edit_says_why_once_and_the_old_services_keep_being_checked(
    qtbot, tray_app, backend, tmp_path
) -> None:
    api = backend("healthy")
    path = tmp_path / "trayapp.toml"
    good = service_toml("backend", "http", url=api.url(), interval=0.2)
    path.write_text(good)
    app = tray_app(load_config(path))
    seen = popups(app)
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)

    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        save_like_vim(path, good.replace("interval = 0.2", "interval = -1"))
    sentence = f"{path}: service 'backend': field 'interval': must be greater than 0, not -1"
    assert popup.args[0].title == "trayapp.toml not applied"
    assert popup.args[0].message == f"{sentence}\ntrayapp goes on with the settings it had."
    status = app.window.config_status
    assert status.text() == f"{sentence}. Not applied: trayapp goes on with the settings it had."
    hits = api.hits()
    qtbot.waitUntil(lambda: api.hits() >= hits + 3, timeout=WAIT_MS)  # still checked, every 0.2 s
    assert app.views["backend"].service.interval == 0.2 and app.views["backend"].state is State.UP

    save_like_vscode(path, good.replace("interval = 0.2", "interval = 0.3"))  # fixed
    qtbot.waitUntil(lambda: app.views["backend"].service.interval == 0.3, timeout=WAIT_MS)
    assert status.text().endswith(": backend changed.")
    assert [p.title for p in seen] == ["trayapp.toml not applied"]  # one popup for the mistake, none for the fix


def test_a_changed_env_file_says_the_running_service_needs_a_restart(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    env = tmp_path / ".env"
    env.write_text("GREETING=hello\n")
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
    path = tmp_path / "trayapp.toml"
    path.write_text(
        service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", interval=0.2, timeout=0.5)
        + f'start = {json.dumps(argv)}\nenv_file = ".env"\nstart_timeout = 10\n'
    )
    app = tray_app(load_config(path))
    assert app.supervisor.start("backend").ok
    save_like_vim(env, "GREETING=bonjour\n")
    status = app.window.config_status
    qtbot.waitUntil(lambda: "restart backend" in status.text(), timeout=WAIT_MS)
    assert status.text().endswith(
        "backend runs with its old start settings or env_file: restart backend to use the new ones."
    )


def test_two_slow_starts_hold_up_neither_a_port_scan_nor_each_other(qtbot, tray_app, tmp_path) -> None:
    # Qt's global pool has as many threads as cores: 2 here. Two starts waiting for a service that
    # never answers used to take both, and every port scan, kill and save waited behind them.
    pool = QThreadPool.globalInstance()
    threads = pool.maxThreadCount()
    pool.setMaxThreadCount(2)
    try:
        ports = [free_port(), free_port()]
        text = ""
        for name, port in zip(("api", "web"), ports, strict=True):
            argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "hang", "--port", str(port)]
            text += service_toml(name, "http", url=f"http://127.0.0.1:{port}/api/health", interval=0.5, timeout=0.5)
            text += f"start = {json.dumps(argv)}\nstart_timeout = 60\n"
        path = tmp_path / "trayapp.toml"
        path.write_text(text)
        app = tray_app(load_config(path))
        app.services.action("api", "start")
        app.services.action("web", "start")
        qtbot.waitUntil(lambda: all(v.state is State.STARTING for v in app.views.values()), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: {x.port for x in listeners(ports)} == set(ports), timeout=WAIT_MS)  # both listen
        app.window.show_ports()
        with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
            app.ports.refresh()
        assert {app.ports_model.listener(row).port for row in range(app.ports_model.rowCount())} >= set(ports)
        assert all(v.state is State.STARTING for v in app.views.values())  # both still starting meanwhile
    finally:
        pool.setMaxThreadCount(threads)
