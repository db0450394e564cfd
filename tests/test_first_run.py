"""First run (issue #11, item 3): with nothing configured the window says what is watched and why,
Choose project folder… writes a [[project]] entry and watches the project's services (a real
server answers its health check), and one popup says "watching N services"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from tests.conftest import free_port
from tests.kit.projects import copy_project
from trayapp.config.edit import add_project
from trayapp.config.load import BUILTIN, DEFAULT_TOML, parse_config
from trayapp.model import State

WAIT_MS = 15_000


def test_first_run_says_what_is_watched_and_a_chosen_project_folder_is_watched_instead(
    qtbot, tray_app, backend, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    api = backend("healthy", only_path="/api/health")
    root = copy_project("backend3001", tmp_path / "code", {3001: api.port, 5173: free_port(), 27017: free_port()})
    app = tray_app(parse_config(DEFAULT_TOML, BUILTIN))
    seen: list = []
    app.tray.announced.connect(seen.append)
    app.open_window()
    welcome = app.window.welcome
    assert welcome.isVisible()
    text = welcome.text.text()
    assert "built-in default" in text and "backend: http://127.0.0.1:5000/api/health" in text
    assert [b.text() for b in (welcome.choose_button, welcome.add_button)] == [
        "Choose project folder…", "Add service…",
    ]  # fmt: skip

    welcome.choose_button.click()
    dialog = welcome._dialog
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    dialog.fileSelected.emit(str(root))  # what the dialog says when the user picks the folder
    dialog.close()
    qtbot.waitUntil(lambda: welcome.status.text() != "", timeout=WAIT_MS)
    assert welcome.status.text().startswith("Watching 3 services from ")
    name = "backend3001-backend"  # a [[project]]'s services carry its name
    qtbot.waitUntil(lambda: name in app.views and app.views[name].service.port == api.port, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: app.views[name].state is State.UP, timeout=WAIT_MS)
    written = tmp_path / "config" / "trayapp" / "trayapp.toml"
    assert f'path = "{root.resolve()}"' in written.read_text()
    n = len(app.config.services)
    qtbot.waitUntil(lambda: any(p.title == f"trayapp is watching {n} services" for p in seen), timeout=WAIT_MS)
    assert not welcome.isVisible()  # a config file of the user's now


def test_adding_a_project_keeps_the_users_comments_and_is_not_added_twice(tmp_path: Path) -> None:
    path = tmp_path / "trayapp.toml"
    path.write_text(
        '# my services\n[[service]]\nname = "db"  # the local one\nkind = "tcp"\n'
        f'host = "127.0.0.1"\nport = {free_port()}\n'
    )
    project = tmp_path / "shop"
    project.mkdir()
    config = parse_config(path.read_text(), str(path))
    assert add_project(config, project) == path
    add_project(parse_config(path.read_text(), str(path)), project)
    text = path.read_text()
    assert text.startswith("# my services\n") and 'name = "db"  # the local one' in text
    assert text.count("[[project]]") == 1 and f'path = "{project.resolve()}"' in text
