"""Open config file from the menu, and a broken config at start that is never a dead end (issue #11, item 2)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from tests.kit.servers import free_port
from trayapp.config.load import BUILTIN, DEFAULT_TOML, ConfigError, load_config, parse_config
from trayapp.ui.config_problem import ConfigProblem

WAIT_MS = 15_000


class Opener(QObject):
    """Stands in for the desktop's file opener (xdg-open has no editor to start here): it records the URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def opener() -> Opener:
    handler = Opener()
    QDesktopServices.setUrlHandler("file", handler, "open")
    return handler


def menu_action(app, text: str):
    app.tray.menu.aboutToShow.emit()
    [action] = [a for a in app.tray.menu.actions() if a.text() == text]
    return action


def test_open_config_file_opens_the_file_in_use(qtbot, tray_app, tmp_path) -> None:
    path = tmp_path / "trayapp.toml"
    path.write_text(f'# mine\n[[service]]\nname = "db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {free_port()}\n')
    app = tray_app(parse_config(path.read_text(), str(path)))
    handler = opener()
    try:
        menu_action(app, "Open config file").trigger()
        qtbot.waitUntil(lambda: bool(handler.urls), timeout=WAIT_MS)
        assert handler.urls == [QUrl.fromLocalFile(str(path))]
        assert path.read_text().startswith("# mine\n")  # opened, not rewritten
    finally:
        QDesktopServices.unsetUrlHandler("file")


def test_open_config_file_with_the_built_in_default_writes_it_first(qtbot, tray_app, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = tray_app(parse_config(DEFAULT_TOML, BUILTIN))
    handler = opener()
    written = tmp_path / "config" / "trayapp" / "trayapp.toml"
    assert not written.exists()
    try:
        menu_action(app, "Open config file").trigger()
        qtbot.waitUntil(lambda: bool(handler.urls), timeout=WAIT_MS)
        assert handler.urls == [QUrl.fromLocalFile(str(written))]
        assert written.read_text() == DEFAULT_TOML
    finally:
        QDesktopServices.unsetUrlHandler("file")


def broken(tmp_path: Path) -> tuple[Path, ConfigError]:
    path = tmp_path / "trayapp.toml"
    path.write_text('[[service]]\nname = "db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 99999\n')
    try:
        load_config(path)
    except ConfigError as exc:
        return path, exc
    raise AssertionError("the config was accepted")


def test_a_broken_config_at_start_shows_the_sentence_and_three_ways_on_and_retry_after_a_fix_goes_on(
    qtbot, tmp_path
) -> None:
    path, error = broken(tmp_path)
    dialog = ConfigProblem(error, lambda: load_config(path))
    qtbot.addWidget(dialog)
    dialog.show()
    assert str(path) in dialog.sentence.text() and "port" in dialog.sentence.text()
    buttons = [dialog.open_button, dialog.retry_button, dialog.default_button]
    assert [b.text() for b in buttons] == ["Open config file", "Retry", "Use the built-in default"]
    assert all(b.isVisible() and b.isEnabled() for b in buttons)

    dialog.retry_button.click()  # still broken: says so again, stays open
    qtbot.waitUntil(lambda: dialog.hint.text().startswith("Still not usable"), timeout=WAIT_MS)
    assert dialog.isVisible() and dialog.config is None

    path.write_text(path.read_text().replace("99999", str(free_port())))
    dialog.retry_button.click()
    qtbot.waitUntil(lambda: dialog.config is not None, timeout=WAIT_MS)
    assert not dialog.isVisible()
    assert [s.name for s in dialog.config.services] == ["db"]


def test_a_broken_config_at_start_can_go_on_with_the_built_in_default(qtbot, tmp_path) -> None:
    path, error = broken(tmp_path)
    dialog = ConfigProblem(error, lambda: load_config(path))
    qtbot.addWidget(dialog)
    dialog.show()
    handler = opener()
    try:
        dialog.open_button.click()
        assert handler.urls == [QUrl.fromLocalFile(str(path.resolve()))]
    finally:
        QDesktopServices.unsetUrlHandler("file")
    dialog.default_button.click()
    assert dialog.config is not None and dialog.config.source == BUILTIN
    assert "port = 99999" in path.read_text()  # the user's file is left as it was
