"""Popups on a real desktop: the real app on Xvfb with trayer, and dunst as the notification server
on a private session bus; or, without a server, Qt's balloon, which never covers the icon's menu."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, Message, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import Proxy, open_dbus_connection
from jeepney.wrappers import unwrap_msg

from tests.kit.logind import PrivateBus, start_private_bus
from tests.kit.services import service_toml
from tests.kit.wait import wait_until
from tests.kit.x11 import Desktop
from tests.test_desktop import _tools_present, desktop, main_window, popups, start_app, tray_icon

__all__ = ["_tools_present", "desktop", "start_app"]  # fixtures, used by name

DUNST_CMD = DBusAddress("/org/freedesktop/Notifications", "org.freedesktop.Notifications", "org.dunstproject.cmd0")


@pytest.fixture
def session_bus() -> Iterator[PrivateBus]:
    bus = start_private_bus()
    yield bus
    bus.stop()


def bus_call(address: str, msg: Message) -> tuple[Any, ...]:
    with open_dbus_connection(bus=address) as conn:
        return tuple(unwrap_msg(conn.send_and_get_reply(msg, timeout=5)))


def has_notification_server(address: str) -> bool:
    with open_dbus_connection(bus=address) as conn:
        return Proxy(message_bus, conn, timeout=5).NameHasOwner("org.freedesktop.Notifications") == (True,)


@pytest.fixture
def dunst(desktop: Desktop, session_bus: PrivateBus, tmp_path: Path) -> Iterator[str]:
    """dunst on the test screen, owning org.freedesktop.Notifications on a private session bus; yields the bus."""
    rc = tmp_path / "dunstrc"
    rc.write_text('[global]\n    markup = full\n    font = "DejaVu Sans 9"\n')
    env = {**os.environ, "DISPLAY": desktop.display, "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(["dunst", "-config", str(rc)], env=env, **quiet)  # type: ignore[call-overload]
    try:
        wait_until(lambda: has_notification_server(session_bus.address), timeout=15, what="dunst on the bus")
        yield session_bus.address
    finally:
        proc.kill()
        proc.wait()


def dunstctl(address: str, *args: str) -> str:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
    return subprocess.run(["dunstctl", *args], env=env, capture_output=True, text=True, timeout=10, check=True).stdout


def dunst_history(address: str) -> list[dict[str, Any]]:
    """What dunst showed and has closed: summary, body, appname, urgency, … (its NotificationListHistory)."""
    (entries,) = bus_call(address, new_method_call(DUNST_CMD, "NotificationListHistory"))
    return [{key: value for key, (_sig, value) in entry.items()} for entry in entries]


def healthy_app(desktop, start_app, backend, tmp_path, session_bus: str | None = None):
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url(), interval=0.2))
    app = start_app(desktop, config, session_bus)
    wait_until(lambda: tray_icon(desktop) is not None, timeout=15, what="the icon to be embedded in trayer")
    icon = tray_icon(desktop)
    wait_until(lambda: desktop.colour(icon) == "green", timeout=10, what="a green (up) icon")
    return app, api, icon


def test_a_popup_goes_to_dunst_not_a_balloon_and_a_click_opens_the_window(
    desktop, dunst, start_app, backend, tmp_path
) -> None:
    app, api, icon = healthy_app(desktop, start_app, backend, tmp_path, dunst)
    api.set_mode("angle_500")  # text/plain: "Error: expected <number>, got <img src=x>"
    wait_until(lambda: desktop.windows("Dunst"), timeout=10, what="dunst's popup window")
    wait_until(lambda: "popup through the notification server" in app.said(), timeout=10, what="the server's id")
    assert popups(desktop) == []  # no balloon of Qt's own
    assert main_window(desktop) is None
    dunstctl(dunst, "action", "0")  # the user clicks the popup: its default action, Open
    wait_until(lambda: main_window(desktop) is not None, timeout=10, what="the window, opened from the popup")
    assert "popup action open for backend" in app.said()
    dunstctl(dunst, "close-all")
    wait_until(lambda: dunst_history(dunst), timeout=10, what="the popup in dunst's history")
    [shown] = [n for n in dunst_history(dunst) if n["summary"] == "backend is down"]
    assert shown["appname"] == "trayapp"
    assert shown["timeout"] == 0  # critical: dunst keeps it until it is dismissed
    assert shown["default_action_name"] == "default"
    assert shown["icon_path"].endswith("down.svg")  # the state's icon
    # dunst reads the body as markup: the health body's own < and > arrive escaped, so they show as themselves
    assert "expected &lt;number&gt;, got &lt;img src=x&gt;" in shown["body"]
    assert app.stop() == 0


def test_without_a_server_no_balloon_covers_the_open_menu_it_comes_after(desktop, start_app, backend, tmp_path):
    app, api, icon = healthy_app(desktop, start_app, backend, tmp_path)
    subprocess.run(["xdotool", "mousemove", "--window", str(icon), "6", "6", "click", "3"],
                   env={**os.environ, "DISPLAY": desktop.display}, check=True, timeout=10)  # fmt: skip
    wait_until(lambda: menus(desktop), timeout=10, what="the icon's menu")
    api.set_mode("status_500")  # news while the menu is open
    wait_until(lambda: "popup: backend is down" in app.said(), timeout=10, what="the outage's popup")
    assert popups(desktop) == [] and menus(desktop)  # no balloon over the menu, which stays open
    subprocess.run(["xdotool", "key", "Escape"], env={**os.environ, "DISPLAY": desktop.display}, check=True, timeout=10)
    wait_until(lambda: not menus(desktop), timeout=10, what="the menu to close")
    wait_until(lambda: popups(desktop), timeout=10, what="the held balloon, once the menu closed")
    assert app.stop() == 0


def menus(desktop: Desktop) -> list[int]:
    return [w for w in desktop.windows("trayapp") if "MENU" in desktop.prop(w, "_NET_WM_WINDOW_TYPE")]
