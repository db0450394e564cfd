"""The Services page of the Settings window (issue #11, section 2) on the real app, against real
servers and real config files: a service added through the form is watched at once, a mistake is
the validator's sentence beside its field, Test checks the form's service off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLineEdit, QMessageBox

from tests.kit.servers import free_port
from tests.kit.services import service_toml
from trayapp.config.load import load_config
from trayapp.model import State
from trayapp.ui.models import ServicesModel
from trayapp.ui.service_editor import ServicesPage

WAIT_MS = 15_000


def page_of(qtbot, app) -> ServicesPage:
    page = ServicesPage(app.settings)
    qtbot.addWidget(page)
    page.show()
    return page


def shown_state(app, name: str) -> str | None:
    """The State column of ``name``'s row in the main window's services table."""
    model = app.services_model
    for row in range(model.rowCount()):
        if model.data(model.index(row, ServicesModel.NAME)) == name:
            return model.data(model.index(row, ServicesModel.STATE))
    return None


def fill(page: ServicesPage, **values: str) -> None:
    """Type into the form's fields as a user would (kind through its list)."""
    for key, text in values.items():
        if key == "kind":
            page.form.kind_box.setCurrentText(text)
            continue
        line = page.form.line(key)
        line.setFocus()
        line.selectAll()
        line.insert(text)


def edit(qtbot, page: ServicesPage, name: str) -> None:
    page.select(name)
    page.edit_button.click()
    qtbot.waitUntil(lambda: page.editor.isVisible() and page.form.line("name").text() == name, timeout=WAIT_MS)


def test_a_service_added_through_the_form_is_saved_and_watched_without_a_restart(
    qtbot, tray_app, backend, tmp_path: Path
) -> None:
    api = backend("healthy")
    path = tmp_path / "trayapp.toml"
    mine = "# my stack\n" + service_toml("db", "tcp", host="127.0.0.1", port=free_port(), interval=60.0)
    path.write_text(mine)
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)
    assert page.names() == ["db"]

    page.add_button.click()
    assert page.editor.isVisible()
    fill(page, name="api", kind="http", url=api.url(), interval="0.2")
    page.save_button.click()
    qtbot.waitUntil(lambda: "api" in page.names(), timeout=WAIT_MS)
    assert page.status.text() == f"Added api to {path}."
    assert not page.editor.isVisible()
    added = f'[[service]]\nname = "api"\nkind = "http"\nurl = "{api.url()}"\ninterval = 0.2\n'
    assert path.read_text() == mine + "\n" + added
    qtbot.waitUntil(lambda: shown_state(app, "api") == "up", timeout=WAIT_MS)
    assert api.hits() >= 1  # checked, for real


def test_a_bad_port_or_url_is_the_validators_sentence_beside_that_field_and_the_file_is_unchanged(
    qtbot, tray_app, tmp_path: Path
) -> None:
    path = tmp_path / "trayapp.toml"
    port = free_port()
    path.write_text("# keep me\n" + service_toml("vite", "tcp", host="127.0.0.1", port=port, interval=60.0))
    before = path.read_bytes()
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)

    edit(qtbot, page, "vite")
    fill(page, port="70000")
    page.save_button.click()
    error = page.form.errors["port"]
    qtbot.waitUntil(error.isVisible, timeout=WAIT_MS)
    assert error.text() == "70000 is out of range (a whole number from 1 to 65535)"
    assert not page.form.errors["host"].isVisible() and page.editor.isVisible()
    assert path.read_bytes() == before

    page.add_button.click()
    fill(page, name="web", kind="http", url="ftp://127.0.0.1/")
    page.save_button.click()
    error = page.form.errors["url"]
    qtbot.waitUntil(error.isVisible, timeout=WAIT_MS)
    assert error.text() == "'ftp://127.0.0.1/' is not an http:// or https:// URL with a host"
    assert path.read_bytes() == before and page.names() == ["vite"]
    assert app.views["vite"].service.port == port


def test_test_says_nothing_listens_on_a_stopped_port_and_a_hung_server_does_not_stop_the_window(
    qtbot, tray_app, backend, tmp_path: Path
) -> None:
    path = tmp_path / "trayapp.toml"
    path.write_text(service_toml("db", "tcp", host="127.0.0.1", port=free_port(), interval=60.0))
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)
    stopped = free_port()

    page.add_button.click()
    fill(page, name="api", kind="http", url=f"http://127.0.0.1:{stopped}/api/health")
    page.test_button.click()
    qtbot.waitUntil(lambda: page.test_result.text().startswith("down:"), timeout=WAIT_MS)
    headline, sentence = page.test_result.text().split("\n")
    assert headline == f"down: nothing listens on port {stopped}"
    assert sentence == (
        f"Nothing listens on port {stopped} (127.0.0.1): api is not running, crashed, or has not started listening yet."
    )

    hung = backend("hang")
    fill(page, url=hung.url(), timeout="3")
    ticks: list[str] = []
    timer = QTimer(page, interval=20)
    timer.timeout.connect(lambda: ticks.append(page.test_result.text()))
    timer.start()
    page.test_button.click()
    assert page.test_result.text() == "Testing api…"
    # The window goes on handling events while the check waits for the hung server.
    qtbot.waitUntil(lambda: ticks.count("Testing api…") >= 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.test_result.text().startswith("down:"), timeout=WAIT_MS)
    timer.stop()
    headline, sentence = page.test_result.text().split("\n")
    assert headline == f"down: server on port {hung.port} hangs: no answer"
    assert sentence.startswith(f"port {hung.port} is held by ") and f"(pid {hung.pid}, " in sentence
    assert sentence.endswith("does not answer HTTP within 3 s: it is hung, paused (SIGSTOP, debugger) or overloaded.")
    assert "api" not in app.views and "api" not in path.read_text()  # a test saves nothing


def test_duplicate_and_remove_change_the_file_and_the_table_and_keep_the_comments(
    qtbot, tray_app, backend, tmp_path: Path
) -> None:
    api = backend("healthy")
    path = tmp_path / "trayapp.toml"
    first = "# my stack\n" + service_toml("backend", "http", url=api.url(), interval=0.2)
    first = first.replace("interval = 0.2", "interval = 0.2  # fast, please")
    second = "\n# the dev server\n" + service_toml("vite", "tcp", host="127.0.0.1", port=api.port, interval=0.2)
    path.write_text(first + second)
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)

    page.select("backend")
    page.duplicate_button.click()
    qtbot.waitUntil(lambda: "backend-2" in page.names(), timeout=WAIT_MS)
    assert page.names() == ["backend", "backend-2", "vite"] and page.current_name() == "backend-2"
    copy = first.removeprefix("# my stack\n").replace('"backend"', '"backend-2"')
    assert path.read_text() == first + "\n" + copy + second
    qtbot.waitUntil(lambda: shown_state(app, "backend-2") == "up", timeout=WAIT_MS)

    page.select("backend")
    page.remove_button.click()
    box = page._confirm
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.text() == f"Remove backend from {path}? trayapp stops checking it."
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert path.read_text() == first + "\n" + copy + second  # not without a yes

    page.remove_button.click()
    page._confirm.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: "backend" not in page.names(), timeout=WAIT_MS)
    assert page.status.text() == f"Removed backend from {path}."
    assert path.read_text() == "# my stack\n" + copy + second
    qtbot.waitUntil(lambda: shown_state(app, "backend") is None, timeout=WAIT_MS)
    assert "backend" not in app.views and app.views["backend-2"].state is State.UP

    edit(qtbot, page, "vite")  # an edit keeps the comments, inside the table and around it
    fill(page, interval="0.5")
    page.save_button.click()
    qtbot.waitUntil(lambda: app.views["vite"].service.interval == 0.5, timeout=WAIT_MS)
    assert path.read_text() == "# my stack\n" + copy + second.replace("interval = 0.2", "interval = 0.5")


def test_a_password_in_a_mongo_uri_is_shown_as_stars_and_kept_when_another_field_is_saved(
    qtbot, tray_app, tmp_path: Path
) -> None:
    path = tmp_path / "trayapp.toml"
    port = free_port()
    uri = f"mongodb://app:s3cret@127.0.0.1:{port}/shop"
    path.write_text(service_toml("db", "mongo", uri=uri, interval=60.0))
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)
    assert page.target_of("db") == f"mongodb://***@127.0.0.1:{port}/shop"

    edit(qtbot, page, "db")
    field = page.form.inputs["uri"]
    assert isinstance(field, QLineEdit) and field.text() == f"mongodb://***@127.0.0.1:{port}/shop"
    fill(page, timeout="1.5")
    page.save_button.click()
    qtbot.waitUntil(lambda: app.views["db"].service.timeout == 1.5, timeout=WAIT_MS)
    assert uri in path.read_text() and "s3cret" not in "".join(page.status.text() + page.target_of("db"))


def test_add_project_folder_watches_its_services_which_are_read_only_here_with_the_reason(
    qtbot, tray_app, backend, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QFileDialog

    from tests.kit.projects import copy_project

    api = backend("healthy", only_path="/api/health")
    root = copy_project("backend3001", tmp_path / "code", {3001: api.port, 5173: free_port(), 27017: free_port()})
    path = tmp_path / "trayapp.toml"
    mine = "# mine\n" + service_toml("db", "tcp", host="127.0.0.1", port=free_port(), interval=60.0)
    path.write_text(mine)
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)

    page.project_button.click()
    dialog = page._dialog
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    dialog.fileSelected.emit(str(root))  # what the dialog says when the user picks the folder
    dialog.close()
    name = "backend3001-backend"
    qtbot.waitUntil(lambda: name in page.names(), timeout=WAIT_MS)
    assert page.status.text() == f"Watching {len(page.names())} services from {path}."
    assert path.read_text() == mine + f'[[project]]\npath = "{root.resolve()}"\n'
    qtbot.waitUntil(lambda: shown_state(app, name) == "up", timeout=WAIT_MS)

    page.select(name)
    assert not any(b.isEnabled() for b in (page.edit_button, page.duplicate_button, page.remove_button))
    assert page.status.text().startswith(f"{name} is discovered in {root.resolve()}, listed under [[project]] in")
    page.select("db")
    assert all(b.isEnabled() for b in (page.edit_button, page.duplicate_button, page.remove_button))


def test_the_welcomes_add_service_opens_settings_at_services_and_the_first_add_writes_the_users_config(
    qtbot, tray_app, backend, tmp_path: Path, monkeypatch
) -> None:
    from trayapp.config.load import BUILTIN, DEFAULT_TOML, parse_config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    api = backend("healthy")
    app = tray_app(parse_config(DEFAULT_TOML, BUILTIN))
    app.open_window()
    welcome = app.window.welcome
    assert welcome.isVisible()

    welcome.add_button.click()
    window = app.settings_window
    page = window.page("services")
    assert isinstance(page, ServicesPage)
    assert window.isVisible() and window.current_tab() == "services"
    assert page.editor.isVisible() and page.form_title.text() == "A new service"
    assert page.names() == ["backend", "frontend", "db"]
    fill(page, name="api", url=api.url(), interval="0.2")
    page.save_button.click()
    qtbot.waitUntil(lambda: "api" in page.names(), timeout=WAIT_MS)
    written = tmp_path / "config" / "trayapp" / "trayapp.toml"
    added = f'[[service]]\nname = "api"\nkind = "http"\nurl = "{api.url()}"\ninterval = 0.2\n'
    assert written.read_text() == DEFAULT_TOML + "\n" + added  # seeded from what it watched
    assert page.status.text() == f"Added api to {written}."
    assert app.config.source == str(written)
    qtbot.waitUntil(lambda: shown_state(app, "api") == "up", timeout=WAIT_MS)
    assert not welcome.isVisible()  # a config file of the user's now


def test_the_uri_field_shows_its_password_only_once_it_is_being_edited(qtbot) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QFocusEvent

    from trayapp.ui.service_editor import ServiceForm

    form = ServiceForm()
    qtbot.addWidget(form)
    uri = "mongodb://app:s3cret@127.0.0.1:27017/shop"
    form.load({"name": "db", "uri": uri})
    field = form.line("uri")
    assert form.kind_box.currentText() == "mongo"  # inferred from the uri, as the validator does
    assert field.text() == "mongodb://***@127.0.0.1:27017/shop"
    assert form.values()["uri"] == uri and form.values()["kind"] is None  # unchanged: as written
    field.focusInEvent(QFocusEvent(QFocusEvent.Type.FocusIn, Qt.FocusReason.MouseFocusReason))
    assert field.text() == uri  # to be edited
    field.setText(uri.replace("27017", "27018"))
    assert form.values()["uri"] == uri.replace("27017", "27018")


def test_an_open_form_gets_the_room_the_list_does_not_need_and_every_service_stays_in_sight(
    qtbot, tray_app, tmp_path: Path
) -> None:
    path = tmp_path / "trayapp.toml"
    path.write_text("".join(service_toml(n, "tcp", host="127.0.0.1", port=free_port()) + "\n" for n in "abcd"))
    app = tray_app(load_config(path))
    page = page_of(qtbot, app)
    page.resize(620, 440)  # the Settings window's page at its first size
    qtbot.waitExposed(page)

    page.add_button.click()
    listed, form = page.splitter.sizes()
    assert form > listed  # more than a field or two of the form in sight
    table = page.table
    last = table.rowCount() - 1
    assert table.rowViewportPosition(last) + table.rowHeight(last) <= table.viewport().height()
    assert not page.form_error.isVisible() and not page.test_result.isVisible()  # empty: no room taken
