"""The tray app's window, menu, popups and kill flow, offscreen, against the real engine and servers."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.kit.stall import Stall
from trayapp.checks import ports
from trayapp.checks.checker import Checker
from trayapp.config.load import Config, parse_config
from trayapp.model import State
from trayapp.ui.app import TrayApp
from trayapp.ui.models import PortsModel, SentenceRole, ServicesModel

WAIT_MS = 10_000


def make_config(*services: str, path: Path | None = None) -> Config:
    text = "\n".join(services)
    if path is not None:
        path.write_text(text)
    return parse_config(text, str(path) if path else "test.toml")


def state_of(app: TrayApp, name: str) -> State:
    return app.views[name].state


def test_window_shows_each_service_with_state_and_sentence(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    port = free_port()
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), interval=0.2),
            service_toml("vite", "tcp", host="127.0.0.1", port=port, interval=0.2),
        )
    )
    qtbot.waitUntil(
        lambda: state_of(app, "backend") is State.UP and state_of(app, "vite") is State.DOWN, timeout=WAIT_MS
    )
    model = app.services_model
    assert model.data(model.index(0, ServicesModel.STATE)) == "up"
    assert model.data(model.index(1, ServicesModel.STATE)) == "down"
    # The table: state and headline in words; the sentence in the row's tooltip and the report.
    assert model.data(model.index(1, ServicesModel.DETAIL)) == f"nothing listens on port {port}"
    assert f"Nothing listens on port {port}" in model.data(model.index(1, ServicesModel.DETAIL), SentenceRole)
    tip = model.data(model.index(1, ServicesModel.DETAIL), Qt.ItemDataRole.ToolTipRole)
    assert f"Nothing listens on port {port}" in tip
    assert model.data(model.index(1, ServicesModel.LATENCY)) == ""  # refused: nothing answered
    assert model.data(model.index(0, ServicesModel.LATENCY)).endswith("ms")
    assert app.tray.icon_name() == "down"
    assert app.tray.tooltip().splitlines() == [
        "trayapp — down",
        "backend: up",
        f"vite: down (nothing listens on port {port})",
    ]

    app.open_window("vite")
    assert app.window.isVisible()
    assert app.window.services_tab.current_name() == "vite"
    assert f"Nothing listens on port {port}" in app.window.services_tab.detail.toPlainText()


def test_one_failed_check_is_shown_but_is_not_an_outage(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.2, down_after=100)))
    qtbot.waitUntil(lambda: state_of(app, "backend") is State.UP, timeout=WAIT_MS)
    seen: list = []
    app.tray.announced.connect(seen.append)
    api.set_mode("status_500")
    model = app.services_model
    qtbot.waitUntil(lambda: model.data(model.index(0, ServicesModel.STATE)) != "up", timeout=WAIT_MS)
    assert model.data(model.index(0, ServicesModel.STATE)) == "up · last check failed"
    assert model.data(model.index(0, ServicesModel.DETAIL)) == "health check fails (500)"
    assert model.data(model.index(0, ServicesModel.DETAIL), SentenceRole).startswith("backend answers 500")
    assert (state_of(app, "backend"), app.tray.icon_name(), seen) == (State.UP, "up", [])


def test_backend_going_down_changes_the_icon_and_raises_one_popup(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        api.set_mode("status_500")
    assert popup.args[0].title == "backend is down"
    assert "500" in popup.args[0].message
    assert app.tray.icon_name() == "down"
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        api.set_mode("healthy")
    assert popup.args[0].title.startswith("backend is back after ")
    assert app.tray.icon_name() == "up"


def test_clicking_a_popup_opens_the_window_at_that_service(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), interval=0.1),
            service_toml("vite", "tcp", host="127.0.0.1", port=api.port, interval=0.1),
        )
    )
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS):
        api.set_mode("status_500")
    app.tray.icon.messageClicked.emit()
    assert app.window.isVisible()
    assert app.window.services_tab.current_name() == "backend"


def test_do_not_disturb_silences_popups_but_not_the_icon(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    app.set_dnd(True)
    popups = []
    app.tray.announced.connect(popups.append)
    api.set_mode("status_500")
    qtbot.waitUntil(lambda: app.tray.icon_name() == "down", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: app.notifier.next_due() is None, timeout=WAIT_MS)  # the batch was dropped
    assert popups == []


def test_pause_shows_paused_and_stops_checks(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    app.set_paused(True)
    assert app.tray.icon_name() == "paused"
    assert app.services_model.data(app.services_model.index(0, ServicesModel.STATE)) == "paused"
    assert app.tray.tooltip().startswith("trayapp — paused")
    hits = api.hits()
    qtbot.waitUntil(lambda: not app.monitor.status()[0].checking, timeout=WAIT_MS)
    settled = api.hits()
    assert settled - hits <= 1  # at most the check that was already in flight
    app.set_paused(False)
    qtbot.waitUntil(lambda: api.hits() > settled, timeout=WAIT_MS)
    assert app.tray.icon_name() == "up"


def test_menu_has_a_row_per_service_and_the_actions(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(
            service_toml("back&end", "http", url=api.url(), interval=0.2),
            service_toml("db", "tcp", host="127.0.0.1", port=free_port(), interval=0.2),
        )
    )
    qtbot.waitUntil(lambda: app.tray.icon_name() == "down", timeout=WAIT_MS)
    app.tray.menu.aboutToShow.emit()  # the menu is rebuilt each time it opens
    texts = [a.text() for a in app.tray.menu.actions()]
    assert texts[0].startswith("back&&end · up · ") and texts[0].endswith(" ms")  # '&' shown, not a shortcut
    assert " ok " not in texts[0]  # "up" says it
    assert texts[1].startswith("db · down · nothing listens on port ")  # words, not a reason code
    assert [t for t in texts if t][2:] == [
        "Check now", "Pause monitoring", "Do not disturb", "Start at &login", "Monochrome icon", "Open window",
        "&Settings…", "Open config file", "Quit",
    ]  # fmt: skip
    http_row = [a.text() for a in app.tray.menu.actions()[0].menu().actions()]
    assert http_row == [
        "Check now",
        "Open in browser",
        "Copy diagnosis",
        f"Show port owner ({api.port})",
        "Show log",
        "Open in window",
    ]
    tcp_row = [a.text() for a in app.tray.menu.actions()[1].menu().actions()]
    assert "Open in browser" not in tcp_row

    [copy] = [a for a in app.tray.menu.actions()[1].menu().actions() if a.text() == "Copy diagnosis"]
    copy.trigger()
    assert "Nothing listens on port" in QApplication.clipboard().text()


def test_outside_text_is_shown_as_plain_characters(qtbot, tray_app, backend) -> None:
    api = backend("angle_500")  # text/plain: "Error: expected <number>, got <img src=x>"
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        pass
    said = "Error: expected <number>, got <img src=x>"
    assert said in popup.args[0].message
    model = app.services_model
    assert said in model.data(model.index(0, ServicesModel.DETAIL), SentenceRole)
    app.open_window("backend")
    assert said in app.window.services_tab.detail.toPlainText()
    # Qt tooltips render rich text, so the diagnosis goes into one escaped: shown as its characters.
    tip = model.data(model.index(0, ServicesModel.DETAIL), Qt.ItemDataRole.ToolTipRole)
    assert "<img" not in tip and "<number>" not in tip
    shown = QTextDocument()
    shown.setHtml(tip)
    assert said in shown.toPlainText()
    assert "<" not in app.tray.tooltip()


def test_an_html_error_page_shows_as_its_text_in_popup_table_and_report(qtbot, tray_app, backend) -> None:
    api = backend("express_404")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        pass
    model = app.services_model
    app.open_window("backend")
    shown = [
        popup.args[0].message,
        model.data(model.index(0, ServicesModel.DETAIL), SentenceRole),
        app.window.services_tab.detail.toPlainText(),
    ]
    for text in shown:
        assert "answers 404 Not Found: Cannot GET /api/health: the server runs, but the health path is wrong" in text
        assert "<" not in text and "DOCTYPE" not in text


def test_hung_backend_and_hung_mongo_never_stall_the_gui(qtbot, tray_app, backend, mongo, monkeypatch) -> None:
    # The contract is that the GUI thread does no I/O and waits for none: every probe and every
    # port scan runs on another thread, and the event loop never stops for as long as a hung check
    # lasts (its 1 s timeout). How short the stalls are is measured by bench.hung_stall, not here.
    threads: dict[str, list[threading.Thread]] = {"probe": [], "port scan": []}
    real_probe, real_collect = Checker.probe, ports._collect

    def probe(self: Checker) -> object:
        threads["probe"].append(threading.current_thread())
        return real_probe(self)

    def collect(*args: object) -> object:
        threads["port scan"].append(threading.current_thread())
        return real_collect(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(Checker, "probe", probe)
    monkeypatch.setattr(ports, "_collect", collect)
    api, db = backend("hang"), mongo()
    db.pause()
    timeout = 1.0
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), timeout=timeout, interval=0.1),
            service_toml("db", "mongo", uri=db.uri, timeout=timeout, interval=0.1),
        )
    )
    app.open_window()
    app.window.tabs.setCurrentWidget(app.window.ports_tab)  # port scans run too
    stall = Stall()
    qtbot.waitUntil(lambda: all(v.last is not None and len(v.history) >= 3 for v in app.views.values()), timeout=20_000)
    qtbot.waitUntil(lambda: len(threads["port scan"]) >= 2, timeout=WAIT_MS)  # the Ports tab's and a check's
    stall.timer.stop()
    assert {name: str(v.last.reason) for name, v in app.views.items()} == {"backend": "timeout", "db": "paused"}
    for what, seen in threads.items():
        assert threading.main_thread() not in seen, f"a {what} ran on the GUI thread"
    print(f"longest event-loop stall: {stall.longest * 1000:.1f} ms")
    assert stall.longest < timeout, "the GUI thread waited for a hung check"


def test_ports_tab_lists_owners_watched_first_and_filters(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), interval=1),
            service_toml("api-tcp", "tcp", host="127.0.0.1", port=api.port, interval=1),
        )
    )
    app.window.show_ports()
    with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
        app.ports.refresh()
    model = app.ports_model
    first = model.listener(0)
    assert (first.port, first.pid) == (api.port, api.pid)
    assert model.data(model.index(0, PortsModel.PORT)) == f"{api.port}  ★ backend, api-tcp"  # every watcher named
    assert "backend.py" in model.data(model.index(0, PortsModel.COMMAND))
    tab = app.window.ports_tab
    tab.filter.setText("backend.py")
    # Other test runs' backends may be listening too: every row shown matches, and ours is one of them.
    proxy = tab.proxy
    shown = [model.listener(proxy.mapToSource(proxy.index(row, 0)).row()) for row in range(proxy.rowCount())]
    assert api.pid in {x.pid for x in shown}
    assert all("backend.py" in " ".join(x.cmdline or ()) for x in shown)
    tab.filter.setText("no-such-process-anywhere")
    assert tab.proxy.rowCount() == 0


def _confirmation(app: TrayApp) -> QMessageBox:
    box = app.window.findChild(QMessageBox, "kill-confirmation")
    assert box is not None
    return box


def _kill_row_of(app: TrayApp, port: int) -> int:
    tab = app.window.ports_tab
    tab.filter.setText(str(port))
    return 0


def test_kill_asks_with_command_line_and_cwd_then_frees_the_port(qtbot, tray_app, backend) -> None:
    api = backend("healthy", ignore_term=True)
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=1)))
    app.window.show_ports(api.port)
    with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
        app.ports.refresh()
    tab = app.window.ports_tab
    tab.kill_buttons.clicked.emit(0)  # the Kill… button of the (filtered) first row
    qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "kill-confirmation") is not None, timeout=WAIT_MS)
    box = _confirmation(app)
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert f"pid {api.pid}" in box.text() and "backend.py" in box.text() and "cwd: " in box.text()
    assert " ago" in box.text()  # its age: a process started hours ago is likely a stale one
    assert api.proc.poll() is None  # nothing happens before the answer

    kill_button = box.findChild(QPushButton, "confirm-kill")
    kill_button.click()
    qtbot.waitUntil(lambda: "is free" in tab.status.text(), timeout=20_000)
    assert "killed" in tab.status.text()  # it ignored SIGTERM, so it was force-killed after the grace
    assert api.proc.wait(timeout=5) is not None


def test_kill_cancelled_kills_nothing(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=1)))
    app.window.show_ports(api.port)
    with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
        app.ports.refresh()
    app.window.ports_tab.kill_buttons.clicked.emit(0)
    qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "kill-confirmation") is not None, timeout=WAIT_MS)
    _confirmation(app).reject()
    qtbot.waitUntil(lambda: app.window.ports_tab.status.text() == "Nothing was killed.", timeout=WAIT_MS)
    assert api.proc.poll() is None


def test_settings_are_saved_to_the_file_keeping_comments(qtbot, tray_app, backend, tmp_path) -> None:
    api = backend("healthy")
    path = tmp_path / "trayapp.toml"
    config = make_config(
        "# my stack\n" + service_toml("backend", "http", url=api.url(), interval=2.0) + "# keep me\n", path=path
    )
    app = tray_app(config)
    app.open_window("backend")
    tab = app.window.services_tab
    tab.interval.setValue(0.5)
    tab.timeout.setValue(1.25)
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.settings_note.text().startswith("Saved"), timeout=WAIT_MS)
    text = path.read_text()
    assert "# my stack" in text and "# keep me" in text
    assert "interval = 0.5" in text and "timeout = 1.25" in text
    assert app.views["backend"].service.interval == 0.5
    assert app.monitor.services[0].timeout == 1.25


def test_kill_of_a_process_that_already_exited_says_so(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=1)))
    app.window.show_ports(api.port)
    with qtbot.waitSignal(app.ports.refreshed, timeout=WAIT_MS):
        app.ports.refresh()
    api.kill()  # gone between the listing and the click
    app.window.ports_tab.kill_buttons.clicked.emit(0)
    status = app.window.ports_tab.status
    qtbot.waitUntil(lambda: str(api.port) in status.text() and "Looking" not in status.text(), timeout=WAIT_MS)
    assert app.window.findChild(QMessageBox, "kill-confirmation") is None  # nothing to confirm
    assert status.text() == f"nothing is listening on port {api.port}"
