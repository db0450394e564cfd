"""The Settings window of the real app on a real (virtual) X screen with a real tray host (Xvfb + trayer):
opened from the icon's menu, and its General and Services tabs used from the keyboard as a person would."""

from __future__ import annotations

import os
import subprocess
import tomllib

from tests.kit.wait import wait_until
from tests.kit.x11 import Desktop
from tests.test_desktop import _tools_present, desktop, popups, start_app
from tests.test_desktop_popups import healthy_app, menus

__all__ = ["_tools_present", "desktop", "start_app"]  # fixtures, used by name


def settings_window(desktop: Desktop) -> int | None:
    for window in desktop.windows("trayapp"):
        if 'WM_NAME(STRING) = "trayapp Settings"' in desktop.prop(window, "WM_NAME"):
            return window
    return None


def xdotool(desktop: Desktop, *args: str) -> None:
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": desktop.display}, check=True, timeout=10)


def test_settings_from_the_icons_menu_turns_on_start_at_login_and_do_not_disturb(
    desktop, start_app, backend, tmp_path
) -> None:
    app, api, icon = healthy_app(desktop, start_app, backend, tmp_path)
    xdotool(desktop, "mousemove", "--window", str(icon), "6", "6", "click", "3")
    wait_until(lambda: menus(desktop), timeout=10, what="the icon's menu")
    xdotool(desktop, "key", "s")  # &Settings…
    wait_until(lambda: settings_window(desktop) is not None, timeout=10, what="the Settings window")
    window = settings_window(desktop)
    assert window is not None
    assert "Icon (16 x 16)" in desktop.prop(window, "_NET_WM_ICON")  # the app's mark, for a task bar

    entry = tmp_path / ".config" / "autostart" / "trayapp.desktop"  # the test's XDG_CONFIG_HOME
    assert not entry.exists()
    xdotool(desktop, "windowfocus", "--sync", str(window))
    xdotool(desktop, "key", "alt+l")  # Start trayapp when you &log in
    wait_until(entry.exists, timeout=10, what="the XDG autostart entry")
    assert "start at login: on" in app.said()

    preferences = tmp_path / ".config" / "trayapp" / "preferences.toml"
    xdotool(desktop, "key", "alt+d")  # &Do not disturb
    wait_until(
        lambda: preferences.exists() and "do_not_disturb = true" in preferences.read_text(),
        timeout=10,
        what="do not disturb saved",
    )
    api.set_mode("status_500")
    wait_until(lambda: desktop.colour(icon) == "red", timeout=10, what="the icon to turn red")
    wait_until(lambda: "do not disturb: dropped 1 announcement" in app.said(), timeout=10, what="the popup dropped")
    assert popups(desktop) == [] and "popup: backend is down" not in app.said()
    assert app.stop() == 0


def test_a_service_added_in_the_settings_window_is_written_to_the_file_and_watched_at_once(
    desktop, start_app, backend, tmp_path
) -> None:
    app, api, icon = healthy_app(desktop, start_app, backend, tmp_path)
    config = tmp_path / "stack.toml"  # the file the app was started with (--config)
    web = backend("healthy")
    xdotool(desktop, "mousemove", "--window", str(icon), "6", "6", "click", "3")
    wait_until(lambda: menus(desktop), timeout=10, what="the icon's menu")
    xdotool(desktop, "key", "s")  # &Settings…
    wait_until(lambda: settings_window(desktop) is not None, timeout=10, what="the Settings window")
    window = settings_window(desktop)
    assert window is not None
    xdotool(desktop, "windowfocus", "--sync", str(window))
    xdotool(desktop, "key", "ctrl+Tab")  # the next tab: Services
    xdotool(desktop, "key", "alt+a")  # &Add…: the form of a new service, the cursor in Name
    xdotool(desktop, "type", "--delay", "20", "web")
    xdotool(desktop, "key", "Tab", "Tab")  # past Kind (http for a new service) to URL
    xdotool(desktop, "type", "--delay", "20", web.url())
    xdotool(desktop, "key", "alt+s")  # &Save

    def services() -> list[dict[str, object]]:
        return list(tomllib.loads(config.read_text()).get("service", []))

    wait_until(lambda: len(services()) == 2, timeout=10, what="the new service in the config file")
    assert services() == [
        {"name": "backend", "kind": "http", "url": api.url(), "interval": 0.2},
        {"name": "web", "kind": "http", "url": web.url()},
    ]
    # watched at once, no restart: the app asks the new server, and its failure turns the icon red
    wait_until(lambda: web.hits() >= 2, timeout=20, what="the running app to check web")
    web.set_mode("status_500")
    wait_until(lambda: desktop.colour(icon) == "red", timeout=20, what="the icon to turn red")
    wait_until(lambda: "popup: web is down: web answers 500" in app.said(), timeout=10, what="web's popup")
    assert "popup: backend" not in app.said()
    assert app.stop() == 0
