"""Popups through a real notification server on a private D-Bus, and what their actions do in the real app."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.kit.notifyd import NotificationServer
from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.test_ui import make_config
from tests.test_ui_services import managed
from trayapp.model import State
from trayapp.monitor.notifier import Announcement, Severity
from trayapp.ui.popups import note_for

WAIT_MS = 15_000


def wait_shown(qtbot, server: NotificationServer, count: int) -> list[dict]:
    """The server's Notify calls once there are ``count``, the Qt event loop running meanwhile."""
    qtbot.waitUntil(lambda: len(server.shown()) >= count, timeout=WAIT_MS)
    return server.shown()


def wait_note(qtbot, server: NotificationServer, summary: str) -> dict:
    """The latest Notify call with this summary, once there is one."""
    qtbot.waitUntil(lambda: any(n["summary"] == summary for n in server.shown()), timeout=WAIT_MS)
    return [n for n in server.shown() if n["summary"] == summary][-1]


def shown_how(app) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    app.tray.popups.shown.connect(lambda announcement, how: seen.append((announcement.title, how)))
    return seen


def test_down_is_a_critical_notification_and_recovery_a_normal_one_in_its_place(
    qtbot, bus, server, tray_app, backend
) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(service_toml("backend", "http", url=api.url(), interval=0.1)), notification_bus=bus.address
    )
    how = shown_how(app)
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    api.set_mode("angle_500")  # text/plain: "Error: expected <number>, got <img src=x>"
    [down] = wait_shown(qtbot, server, 1)
    assert down["summary"] == "backend is down"
    assert "expected &lt;number&gt;, got &lt;img src=x&gt;" in down["body"]  # plain text, on a markup server
    assert down["hints"]["urgency"] == 2
    assert down["hints"]["desktop-entry"] == "trayapp"
    assert down["hints"]["image-path"].startswith("file://") and down["hints"]["image-path"].endswith("/down.svg")
    assert down["app_icon"].startswith("file://") and down["app_icon"].endswith("/trayapp.svg")
    assert Path(down["app_icon"].removeprefix("file://")).is_file()
    assert down["actions"] == ["default", "Open", "log", "Show log"]  # not managed: no Restart
    api.set_mode("healthy")
    _, back = wait_shown(qtbot, server, 2)
    assert back["summary"].startswith("backend is back after ")
    assert back["hints"]["urgency"] == 1
    assert back["replaces_id"] == down["id"]  # the recovery takes the outage's place
    qtbot.waitUntil(lambda: len(how) == 2, timeout=WAIT_MS)
    assert [h for _, h in how] == ["server", "server"]  # and no balloon of Qt's own


def test_restart_on_a_popup_restarts_the_managed_service(qtbot, bus, server, tray_app, tmp_path) -> None:
    port = free_port()
    app = tray_app(managed(tmp_path, port), notification_bus=bus.address)
    assert app.supervisor.start("backend").ok
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    first = app.supervisor.status("backend").pid
    os.kill(first, signal.SIGKILL)  # a crash: "backend is down", with Restart
    down = wait_note(qtbot, server, "backend is down")
    assert ["restart", "Restart"] == down["actions"][2:4]
    server.invoke(down["id"], "restart")
    qtbot.waitUntil(lambda: (app.supervisor.status("backend").pid or first) != first, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    second = app.supervisor.status("backend").pid
    assert second is not None and second != first
    os.kill(second, 0)  # a real, running child


def test_show_log_on_a_popup_opens_the_log_at_that_service(qtbot, bus, server, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(
            service_toml("web", "tcp", host="127.0.0.1", port=free_port(), interval=0.1),
            service_toml("backend", "http", url=api.url(), interval=0.1),
        ),
        notification_bus=bus.address,
    )
    wait_note(qtbot, server, "web is down")  # down from the start: announced on its own first
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    api.set_mode("status_500")
    backend_down = wait_note(qtbot, server, "backend is down")
    assert not app.window.isVisible()
    server.invoke(backend_down["id"], "log")
    qtbot.waitUntil(lambda: app.window.isVisible(), timeout=WAIT_MS)
    assert app.window.tabs.currentWidget() is app.window.log_view
    assert app.window.log_view.current_source() == "backend"


def test_clicking_a_notification_opens_the_window_at_its_service(qtbot, bus, server, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), interval=0.1),
            service_toml("vite", "tcp", host="127.0.0.1", port=api.port, interval=0.1),
        ),
        notification_bus=bus.address,
    )
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    api.set_mode("status_500")
    [down] = wait_shown(qtbot, server, 1)
    server.invoke(down["id"], "default")
    qtbot.waitUntil(lambda: app.window.isVisible(), timeout=WAIT_MS)
    assert app.window.services_tab.current_name() == "backend"


def test_without_a_notification_server_the_trays_balloon_shows_it(qtbot, bus, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(
        make_config(service_toml("backend", "http", url=api.url(), interval=0.1)), notification_bus=bus.address
    )
    how = shown_how(app)
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    api.set_mode("status_500")
    qtbot.waitUntil(lambda: how == [("backend is down", "balloon")], timeout=WAIT_MS)


def test_no_balloon_while_the_menu_is_open_it_waits_until_the_menu_closes(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    how = shown_how(app)
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    menu = app.tray.menu
    menu.popup(menu.pos())
    qtbot.waitUntil(menu.isVisible, timeout=WAIT_MS)
    app.tray.announce(Announcement("backend is down", "answers 500", ("backend",), Severity.CRITICAL, "problem"))
    app.tray.announce(Announcement("db is down", "refused", ("db",), Severity.CRITICAL, "problem"))
    qtbot.waitUntil(lambda: len(app.tray.popups._held) == 2, timeout=WAIT_MS)
    assert how == []  # nothing over the open menu
    menu.hide()
    qtbot.waitUntil(lambda: how != [], timeout=WAIT_MS)
    assert how == [("2 updates", "balloon")]  # both, in one balloon, once the menu is gone


def test_a_popup_about_trayapp_itself_shows_its_mark_not_a_state() -> None:
    """The popup "trayapp is watching 3 services" comes before any verdict: a green check there would say
    "up" beside services that may all be down."""
    watching = Announcement("trayapp is watching 3 services", "backend: …", (), Severity.INFO, "settled")
    back = Announcement("backend is back after 42 s", "backend answers 200", ("backend",), Severity.INFO, "recovered")

    assert Path(note_for(watching, lambda _: False).image or "").name == "trayapp.svg"
    assert Path(note_for(back, lambda _: False).image or "").name == "up.svg"
