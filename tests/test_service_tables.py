"""Adding, editing, duplicating and removing one [[service]] table of a real trayapp.toml: every
other byte of the file kept, the whole new file validated before it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from trayapp.config.load import _COMMON_KEYS, _KIND_KEYS, BUILTIN, DEFAULT_TOML, ConfigError, load_config, parse_config
from trayapp.config.service_tables import (
    FIELD,
    FIELDS,
    add_service,
    duplicate_service,
    preview_service,
    read_only_reason,
    remove_service,
    replace_service,
    service_values,
    text_of,
    unique_name,
    value_of,
)
from trayapp.model import Kind

MINE = """\
# my stack: keep this comment
[[service]]
name = "backend"   # the API
kind = "http"
url = "http://127.0.0.1:5000/api/health"
interval = 1.0  # fast

# the database, shared with the worker
[[service]]
name = "db"
uri = "mongodb://127.0.0.1:27017"

# the dev server
[[service]]
name = "vite"
kind = "tcp"
port = 5173 # vite's default
depends_on = ["backend"]
"""


def write(tmp_path: Path, text: str = MINE) -> Path:
    path = tmp_path / "trayapp.toml"
    path.write_bytes(text.encode())
    return path


def test_the_form_knows_every_key_the_validator_knows() -> None:
    assert {f.key for f in FIELDS} == set(_COMMON_KEYS).union(*_KIND_KEYS.values())
    for kind, keys in _KIND_KEYS.items():
        assert {f.key for f in FIELDS if f.kinds == (kind,)} == keys
    assert all(
        f.applies_to(k)
        for f in FIELDS
        if f.key in _COMMON_KEYS and f.key not in ("proxy_path", "proxy_to")
        for k in Kind
    )


def test_an_edit_changes_only_its_keys_and_keeps_every_other_byte(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    values = service_values(config, "backend")
    assert values == {"name": "backend", "kind": "http", "url": "http://127.0.0.1:5000/api/health", "interval": 1.0}
    edit = replace_service(config, "backend", {**values, "timeout": 0.5, "url": "http://127.0.0.1:5001/api/health"})
    assert path.read_text() == MINE.replace("5000/api/health", "5001/api/health").replace(
        "interval = 1.0  # fast\n", "interval = 1.0  # fast\ntimeout = 0.5\n"
    )
    assert edit.config.service("backend").timeout == 0.5 and edit.name == "backend" and not edit.created


def test_a_rename_renames_the_service_where_others_name_it(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    edit = replace_service(config, "backend", {**service_values(config, "backend"), "name": "api"})
    text = path.read_text()
    assert 'name = "api"   # the API' in text and 'depends_on = ["api"]' in text
    assert text.replace('"api"', '"backend"') == MINE
    assert edit.config.service("vite").depends_on == ("api",)
    assert edit.what == f"Renamed backend to api in {path}."


def test_a_key_left_empty_is_removed_and_a_kind_change_drops_the_old_kinds_keys(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    replace_service(
        config, "vite", {"name": "vite", "kind": "http", "url": "http://127.0.0.1:5173/", "depends_on": ["backend"]}
    )
    assert path.read_text() == MINE.replace(
        'kind = "tcp"\nport = 5173 # vite\'s default\ndepends_on = ["backend"]\n',
        'kind = "http"\ndepends_on = ["backend"]\nurl = "http://127.0.0.1:5173/"\n',
    )


def test_an_invalid_edit_names_the_field_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    with pytest.raises(ConfigError) as caught:
        replace_service(config, "vite", {**service_values(config, "vite"), "port": 70000})
    assert (caught.value.service, caught.value.field) == ("vite", "port")
    assert caught.value.message == "70000 is out of range (a whole number from 1 to 65535)"
    with pytest.raises(ConfigError) as caught:
        add_service(config, {"name": "web", "kind": "http", "url": "ftp://example"})
    assert (caught.value.service, caught.value.field) == ("web", "url")
    with pytest.raises(ConfigError) as caught:
        add_service(config, {"name": "db", "kind": "tcp", "port": 1})
    assert caught.value.field == "name" and "defined twice" in caught.value.message
    assert path.read_bytes() == MINE.encode()


def test_a_check_that_fails_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path)

    def refuse(config):
        raise ConfigError(config.source, "clashes with a project's service", "web", "name")

    with pytest.raises(ConfigError, match="clashes"):
        add_service(load_config(path), {"name": "web", "kind": "tcp", "port": 1}, check=refuse)
    assert path.read_bytes() == MINE.encode()


def test_add_puts_the_new_table_after_the_last_service_and_before_the_projects(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    text = MINE + f'\n# my projects\n[[project]]\npath = "{project}"\n'
    path = write(tmp_path, text)
    edit = add_service(parse_config(text, str(path)), {"name": "web", "kind": "tcp", "port": 8080, "host": None})
    assert path.read_text() == MINE + '\n[[service]]\nname = "web"\nkind = "tcp"\nport = 8080\n' + text[len(MINE) :]
    assert [s.name for s in edit.config.services] == ["backend", "db", "vite", "web"]
    assert edit.what == f"Added web to {path}."


def test_duplicate_copies_the_table_after_it_with_a_fresh_name(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    edit = duplicate_service(config, "backend")
    assert edit.name == "backend-2"
    copy = (
        'name = "backend-2"   # the API\nkind = "http"\nurl = "http://127.0.0.1:5000/api/health"\n'
        "interval = 1.0  # fast\n"
    )
    head, tail = MINE.split("\n# the database")
    assert path.read_text() == head + "\n[[service]]\n" + copy + "\n# the database" + tail
    assert duplicate_service(edit.config, "backend").name == "backend-3"
    assert [s.name for s in load_config(path).services] == ["backend", "backend-3", "backend-2", "db", "vite"]


def test_remove_takes_the_table_and_its_own_comment_and_nothing_else(tmp_path: Path) -> None:
    path = write(tmp_path)
    remove_service(load_config(path), "db")
    assert path.read_text() == MINE.replace(
        '# the database, shared with the worker\n[[service]]\nname = "db"\nuri = "mongodb://127.0.0.1:27017"\n\n', ""
    )
    remove_service(load_config(path), "vite")  # the last one: no blank line left dangling
    assert path.read_text() == MINE.split("\n# the database")[0]
    with pytest.raises(ConfigError, match="no \\[\\[service\\]\\] and no \\[\\[project\\]\\]"):
        remove_service(load_config(path), "backend")


def test_a_service_others_depend_on_is_not_removed(tmp_path: Path) -> None:
    path = write(tmp_path)
    with pytest.raises(ConfigError) as caught:
        remove_service(load_config(path), "backend")
    assert (caught.value.service, caught.value.field) == ("vite", "depends_on")
    assert path.read_bytes() == MINE.encode()


def test_with_the_built_in_default_the_first_add_writes_the_users_config_seeded_from_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = parse_config(DEFAULT_TOML, BUILTIN)
    assert service_values(config, "db") == {"name": "db", "kind": "mongo", "uri": "mongodb://127.0.0.1:27017"}
    edit = add_service(config, {"name": "worker", "kind": "tcp", "port": 7000})
    written = tmp_path / "xdg" / "trayapp" / "trayapp.toml"
    assert edit.path == written and edit.created
    assert written.read_text() == DEFAULT_TOML + '\n[[service]]\nname = "worker"\nkind = "tcp"\nport = 7000\n'
    assert [s.name for s in edit.config.services] == ["backend", "frontend", "db", "worker"]
    assert edit.config.source == str(written)


def test_a_service_of_a_project_folder_is_read_only_with_the_reason(tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.kit.projects import copy_project
    from trayapp.project.load import load_stack

    root = copy_project("backend3001", tmp_path / "code", {3001: free_port(), 5173: free_port(), 27017: free_port()})
    path = write(tmp_path, MINE + f'\n[[project]]\npath = "{root}"\n')
    config = load_stack(path)
    name = "backend3001-backend"
    assert name in [s.name for s in config.services]
    reason = read_only_reason(config, name)
    assert reason is not None and reason.startswith(f"{name} is discovered in {root}") and "[[project]]" in reason
    assert read_only_reason(config, "backend") is None
    with pytest.raises(ConfigError, match="is discovered in"):
        remove_service(config, name)
    assert path.read_text().startswith(MINE)


def test_preview_validates_without_writing(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    service = preview_service(config, {"name": "vite", "kind": "tcp", "port": 5174}, "vite")
    assert (service.name, service.port) == ("vite", 5174)
    with pytest.raises(ConfigError) as caught:
        preview_service(config, {"name": "web", "kind": "http", "url": "http://127.0.0.1:99999/"})
    assert caught.value.field == "url"
    assert path.read_bytes() == MINE.encode()


def test_crlf_files_keep_their_line_ends(tmp_path: Path) -> None:
    text = MINE.replace("\n", "\r\n")
    path = write(tmp_path, text)
    duplicate_service(load_config(path), "db")
    new = path.read_bytes().decode()
    assert "\n" not in new.replace("\r\n", "")
    assert [s.name for s in load_config(path).services] == ["backend", "db", "db-2", "vite"]


def test_a_service_line_inside_a_multi_line_string_is_not_taken_for_a_table(tmp_path: Path) -> None:
    start = 'start = """\n[[service]]\nname = "fake"\n"""\n'
    text = MINE.replace('kind = "http"\n', 'kind = "http"\n' + start, 1)
    path = write(tmp_path, text)
    config = parse_config(text, str(path))
    replace_service(config, "backend", {**service_values(config, "backend"), "timeout": 0.5})
    assert path.read_text() == text.replace("# fast\n", "# fast\ntimeout = 0.5\n")
    remove_service(load_config(path), "db")
    assert [s.name for s in load_config(path).services] == ["backend", "vite"]
    assert start in path.read_text()


def test_the_forms_text_becomes_values_the_validator_judges() -> None:
    assert value_of(FIELD["port"], "5173") == 5173
    assert value_of(FIELD["timeout"], "0.5") == 0.5
    assert value_of(FIELD["port"], "abc") == "abc"  # the validator says what is wrong
    assert value_of(FIELD["interval"], "  ") is None
    assert value_of(FIELD["depends_on"], "db, backend") == ["db", "backend"]
    assert value_of(FIELD["log"], "a.log\nb.log") == ["a.log", "b.log"]
    assert value_of(FIELD["env"], "A=1\nB = x=y") == {"A": "1", "B": "x=y"}
    assert value_of(FIELD["env"], "oops") == "oops"
    assert text_of(FIELD["start"], ["node", "server.js"]) == "node server.js"
    assert text_of(FIELD["env"], {"A": "1", "ON": True}) == "A=1\nON=true"
    assert unique_name("backend", ["backend", "backend-2"]) == "backend-3"
    assert unique_name("api-2", ["api-2"]) == "api-3"


def test_editing_a_discovered_project_writes_its_trayapp_toml_and_keeps_the_services_identity(tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.kit.projects import copy_project
    from trayapp.project.load import load_stack

    root = copy_project("backend3001", tmp_path / "code", {3001: free_port(), 5173: free_port(), 27017: free_port()})
    config = load_stack(cwd=root)
    assert config.path is None and not (root / "trayapp.toml").exists()
    backend = config.service("backend")
    edit = replace_service(config, "backend", {**service_values(config, "backend"), "interval": 0.5})
    assert edit.path == root / "trayapp.toml" and edit.created
    written = (root / "trayapp.toml").read_text()
    assert "interval = 0.5\n" in written and written.replace("interval = 0.5\n", "", 1) == config.text
    reloaded = load_stack(cwd=root)
    assert reloaded.path == root / "trayapp.toml"
    assert reloaded.service("backend").interval == 0.5
    assert reloaded.service("backend").identity == backend.identity
