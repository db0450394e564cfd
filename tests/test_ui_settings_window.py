"""The Settings window: opened from the tray menu and the main window, one instance, its tabs."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from tests.kit.services import service_toml
from tests.test_ui import make_config
from tests.test_ui_notify import wait_note
from trayapp.ui.app import TrayApp
from trayapp.ui.general_page import GeneralPage
from trayapp.ui.service_editor import ServicesPage

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
    menu_action(app, "&Settings…").trigger()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    assert window.windowTitle() == "trayapp Settings"
    assert not window.windowIcon().isNull()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["General", "Services"]
    assert window.current_tab() == "general"

    window.showMinimized()
    qtbot.waitUntil(window.isMinimized, timeout=WAIT_MS)
    menu_action(app, "&Settings…").trigger()  # again: the same window, brought back
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
    assert isinstance(services, ServicesPage) and services.isVisible()

    page = QLabel("another page")
    window.set_page("services", page)  # a page set later takes the old one's place, at the same tab
    assert window.page("services") is page and window.current_tab() == "services"
    assert window.tabs.tabText(window.tabs.indexOf(page)) == "Services"


# -- the General tab ---------------------------------------------------------------------------


def general(app: TrayApp) -> GeneralPage:
    app.open_settings()
    page = app.settings_window.page("general")
    assert isinstance(page, GeneralPage)
    return page


def test_start_at_login_in_settings_writes_the_autostart_entry_and_the_tray_menu_follows_both_ways(
    qtbot, tray_app, backend, tmp_path
) -> None:
    entry = tmp_path / "config" / "autostart" / "trayapp.desktop"  # XDG_CONFIG_HOME is the test's (tray_app)
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.5)))
    qtbot.waitUntil(lambda: app.tray.autostart.enabled is not None, timeout=WAIT_MS)  # first read done
    page = general(app)
    assert not page.login.isChecked() and not entry.exists()

    page.login.click()
    qtbot.waitUntil(entry.exists, timeout=WAIT_MS)
    assert "Exec=" in entry.read_text()
    qtbot.waitUntil(lambda: app.tray.autostart.enabled is True, timeout=WAIT_MS)
    assert menu_action(app, "Start at &login").isChecked()

    menu_action(app, "Start at &login").trigger()  # off from the tray menu: the settings follow
    qtbot.waitUntil(lambda: not entry.exists(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not page.login.isChecked(), timeout=WAIT_MS)
    assert page.login_note.text() == ""


def test_start_at_login_that_cannot_be_written_says_why_beside_the_box(qtbot, tray_app, backend, tmp_path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "autostart").write_text("a file where the folder should be\n")
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.5)))
    qtbot.waitUntil(lambda: app.tray.autostart.enabled is not None, timeout=WAIT_MS)
    page = general(app)
    page.login.click()
    qtbot.waitUntil(lambda: page.login_note.text() != "", timeout=WAIT_MS)
    assert page.login_note.text().startswith("Start at login was not changed: ")
    assert str(tmp_path / "config" / "autostart") in page.login_note.text()
    qtbot.waitUntil(lambda: not page.login.isChecked(), timeout=WAIT_MS)  # put back: it is still off
    assert page.login_note.isVisible()


def test_with_recovered_popups_off_a_recovery_makes_no_popup_while_a_down_still_does(
    qtbot, bus, server, tray_app, backend, tmp_path
) -> None:
    api, worker = backend("healthy"), backend("healthy")  # two services: four changes of one would be flapping
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), interval=0.1),
            service_toml("worker", "http", url=worker.url(), interval=0.1),
        ),
        notification_bus=bus.address,
    )
    seen: list = []
    app.tray.announced.connect(seen.append)
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    page = general(app)
    assert [box.text() for box in page.boxes.values()] == [
        "a service goes down or stops working properly",
        "a service is back",
        "a service keeps going up and down, and when it has settled",
    ]
    page.boxes["recovered"].click()  # off

    api.set_mode("status_500")
    wait_note(qtbot, server, "backend is down")
    api.set_mode("healthy")
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: app.notifier.next_due() is None, timeout=WAIT_MS)  # the recovery was dropped
    assert [p.title for p in seen] == ["backend is down"]
    path = tmp_path / "config" / "trayapp" / "preferences.toml"
    qtbot.waitUntil(lambda: path.exists() and "recovered = false" in path.read_text(), timeout=WAIT_MS)

    page.boxes["recovered"].click()  # on again: at once, no restart
    worker.set_mode("status_500")
    wait_note(qtbot, server, "worker is down")
    worker.set_mode("healthy")
    qtbot.waitUntil(lambda: any(n["summary"].startswith("worker is back") for n in server.shown()), timeout=WAIT_MS)
    assert [n["summary"].split(" after ")[0] for n in server.shown()] == [
        "backend is down",
        "worker is down",
        "worker is back",
    ]  # backend's recovery never reached the notification server


def test_do_not_disturb_in_settings_and_in_the_tray_menu_stay_in_step(qtbot, tray_app, backend, tmp_path) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=WAIT_MS)
    page = general(app)
    assert not page.dnd.isChecked() and not menu_action(app, "Do not disturb").isChecked()

    page.dnd.click()
    assert menu_action(app, "Do not disturb").isChecked()
    assert not page.boxes["problem"].isEnabled()  # do not disturb overrides the kinds, which keep their state
    seen: list = []
    app.tray.announced.connect(seen.append)
    api.set_mode("status_500")
    qtbot.waitUntil(lambda: app.tray.icon_name() == "down", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: app.notifier.next_due() is None, timeout=WAIT_MS)
    assert seen == []  # silenced, and the icon still says down
    path = tmp_path / "config" / "trayapp" / "preferences.toml"
    qtbot.waitUntil(lambda: path.exists() and "do_not_disturb = true" in path.read_text(), timeout=WAIT_MS)

    menu_action(app, "Do not disturb").trigger()  # off from the tray menu: the settings follow
    assert not page.dnd.isChecked() and page.boxes["problem"].isEnabled()
    api.set_mode("healthy")
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert seen[0].title.startswith("backend is back")  # popups again, at once


def test_a_saved_preference_keeps_the_users_comment_and_is_read_at_the_next_start(
    qtbot, tray_app, backend, tmp_path
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("# my popups: quiet at the office\n[popups]\nproblem = true  # always\n")
    api = backend("healthy")
    config = make_config(service_toml("backend", "http", url=api.url(), interval=0.5))
    app = tray_app(config, preferences=path)
    qtbot.waitUntil(lambda: app.preferences.is_ready, timeout=WAIT_MS)
    page = general(app)
    page.boxes["flapping"].click()
    page.wait.setValue(30)
    assert app.notifier.batch_window == 30.0  # in force at once
    qtbot.waitUntil(lambda: "wait_s = 30" in path.read_text(), timeout=WAIT_MS)
    text = path.read_text()
    assert text.startswith("# my popups: quiet at the office\n[popups]\nproblem = true  # always\n")
    assert "flapping = false" in text

    app.shutdown()
    again = tray_app(config, preferences=path)
    qtbot.waitUntil(lambda: again.preferences.is_ready, timeout=WAIT_MS)
    page = general(again)
    assert not page.boxes["flapping"].isChecked() and page.boxes["problem"].isChecked()
    assert page.wait.value() == 30 and again.notifier.batch_window == 30.0


def test_a_broken_preferences_file_says_which_file_and_field_and_the_defaults_apply(
    qtbot, tray_app, backend, tmp_path
) -> None:
    path = tmp_path / "preferences.toml"
    path.write_text('[popups]\nrecovered = "nope"\nwait_s = 5\n')
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)), preferences=path)
    seen: list = []
    app.tray.announced.connect(seen.append)
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    [popup] = seen
    sentence = f"{path}: popups.recovered must be true or false, not 'nope'; trayapp uses the default (true)."
    assert (popup.title, popup.message) == ("preferences.toml has a mistake", sentence)
    page = general(app)
    assert page.status.text() == sentence and page.status.isVisible()
    assert page.boxes["recovered"].isChecked() and page.wait.value() == 5  # the default; the good field kept

    path.write_text("[popups\nrecovered = false\n")  # now not TOML at all: a save must not write over it
    page.boxes["flapping"].click()
    qtbot.waitUntil(lambda: page.status.text().startswith("Not saved: "), timeout=WAIT_MS)
    assert f"{path} is not valid TOML" in page.status.text()
    assert path.read_text() == "[popups\nrecovered = false\n"
    assert "flapping" in app.notifier._muted  # the change applies all the same, until trayapp quits
