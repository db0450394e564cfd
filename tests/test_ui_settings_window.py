"""The Settings window: opened from the tray menu and the main window, one instance, its tabs."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from tests.kit.services import service_toml
from tests.test_ui import make_config
from trayapp.ui.app import TrayApp

WAIT_MS = 15_000


def menu_action(app: TrayApp, text: str):
    app.tray.menu.aboutToShow.emit()  # the menu is rebuilt each time it opens
    [action] = [a for a in app.tray.menu.actions() if a.text() == text]
    return action


def test_settings_from_the_tray_menu_opens_one_window_with_the_app_icon_and_raises_it_again(
    qtbot, tray_app, backend
) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.5)))
    menu_action(app, "Settings…").trigger()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    assert window.windowTitle() == "trayapp Settings"
    assert not window.windowIcon().isNull()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["General", "Services"]
    assert window.current_tab() == "general"

    window.showMinimized()
    qtbot.waitUntil(window.isMinimized, timeout=WAIT_MS)
    menu_action(app, "Settings…").trigger()  # again: the same window, brought back
    assert app.settings_window is window
    qtbot.waitUntil(lambda: not window.isMinimized(), timeout=WAIT_MS)
    assert window.isVisible()


def test_settings_from_the_window_and_at_the_services_tab(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.5)))
    app.open_window()
    app.window.settings_button.click()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    window.close()
    assert not window.isVisible()

    app.open_settings("services")
    assert window.isVisible() and app.settings_window is window
    assert window.current_tab() == "services"
    services = window.page("services")
    assert services.isVisible()

    page = QLabel("the services page")
    window.set_page("services", page)  # the Services page, once it is built, takes the placeholder's place
    assert window.page("services") is page and window.current_tab() == "services"
    assert window.tabs.tabText(window.tabs.indexOf(page)) == "Services"
