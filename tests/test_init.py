"""``trayapp init`` (issue #10 section 2) and a fresh user's path end to end: a project with no
trayapp config, ``trayapp status`` watching what the project says, ``init`` writing a config
that gives the same result. Real servers listen where the project says (free ports)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.conftest import free_port
from tests.kit.cli import run_cli
from tests.kit.projects import copy_project
from trayapp.config.load import parse_config
from trayapp.project.discover import discover
from trayapp.project.init import accepts, render


def test_init_writes_a_config_whose_values_say_where_they_came_from(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    result = run_cli("init", root, home=tmp_path)
    assert result.returncode == 0, result.stderr
    written = root / "trayapp.toml"
    assert f"wrote {written} (backend, frontend, db)" in result.stdout
    text = written.read_text()
    lines = text.splitlines()
    url = next(line for line in lines if line.startswith("url = ") and "3001" in line)
    assert url.startswith('url = "http://127.0.0.1:3001/api/health" #')
    assert "server/.env:1 PORT=3001" in url and "server/index.js:8 app.get('/api/health')" in url
    assert 'uri = "mongodb://127.0.0.1:27017/shop" # server/.env:2 MONGODB_URI=' in text
    assert 'start = "npm run dev" # server/package.json:8 "dev": "nodemon index.js"' in text
    config = parse_config(text, str(written))  # the validator status uses
    assert [s.name for s in config.services] == ["backend", "frontend", "db"]
    assert config.service("backend").managed is not None
    assert config.service("backend").managed.cwd == str((root / "server").resolve())  # type: ignore[union-attr]


def test_init_writes_depends_on_and_the_proxy_keys_as_keys_only_once_the_config_reads_them(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    text = render(discover(root, probe_health=False))
    data = tomllib.loads(text)
    frontend = next(s for s in data["service"] if s["name"] == "frontend")
    for key, value in (("depends_on", ["backend"]), ("proxy_path", "/api/health"), ("proxy_to", "backend")):
        if accepts(key, value):
            assert frontend[key] == value
        else:  # a suggestion the user can see, which the validator of this version does not reject
            assert key not in frontend
            assert f"# {key} = {json.dumps(value)}" in text
    parse_config(text, str(root / "trayapp.toml"))


def test_init_comments_out_what_it_could_not_decide(tmp_path: Path) -> None:
    root = copy_project("no-proxy", tmp_path)
    text = render(discover(root, probe_health=False))
    assert "# note: backend's health path: none of /api/health, /health" in text
    assert 'url = "http://127.0.0.1:5000/" # ' in text


def test_init_print_writes_nothing(tmp_path: Path) -> None:
    root = copy_project("workspaces", tmp_path)
    result = run_cli("init", "--print", home=tmp_path, cwd=root)
    assert result.returncode == 0, result.stderr
    assert '[[service]]\nname = "backend"' in result.stdout
    assert not (root / "trayapp.toml").exists()


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    mine = root / "trayapp.toml"
    mine.write_text("# my own\n", encoding="utf-8")
    refused = run_cli("init", root, home=tmp_path)
    assert refused.returncode == 1
    assert "already exists; pass --force to overwrite it" in refused.stderr
    assert mine.read_text() == "# my own\n"
    forced = run_cli("init", root, "--force", home=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert mine.read_text().startswith("# trayapp.toml for ")


def test_init_outside_a_project_and_on_a_missing_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("init", empty, home=tmp_path)
    assert result.returncode == 1 and "is not a JavaScript project" in result.stderr
    assert not (empty / "trayapp.toml").exists()
    missing = run_cli("init", tmp_path / "nowhere", home=tmp_path)
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def _comparable(status_json: str) -> list[tuple[object, ...]]:
    services = json.loads(status_json)["services"]
    return [(s["name"], s["kind"], s["target"], s["state"], s["reason"], s["port"]) for s in services]


def test_a_fresh_user_in_a_project_folder(tmp_path: Path, backend, mongo) -> None:
    """No trayapp config anywhere: status watches what the project says, init pins it down."""
    db = mongo()
    api_port, vite_port = free_port(), free_port()
    root = copy_project("backend3001", tmp_path, {3001: api_port, 5173: vite_port, 27017: db.port})
    api = backend("healthy", port=api_port, only_path="/api/health")
    vite = backend("healthy", port=vite_port)  # the dev server's place: answers / with 200
    assert (api.port, vite.port) == (api_port, vite_port)

    table = run_cli("status", home=tmp_path, cwd=root / "client")
    assert table.returncode == 0, table.stdout + table.stderr
    assert "backend   discovered: server/package.json:13 " in table.stdout
    assert f"server/.env:1 PORT={api_port}" in table.stdout
    assert f"client/vite.config.js:5 server.port: {vite_port}" in table.stdout
    assert "(config: <discovered in ~/backend3001>)" in table.stdout  # HOME is tmp_path here
    assert "`trayapp init` writes this stack to one" in table.stdout

    discovered = run_cli("status", "--json", home=tmp_path, cwd=root)
    assert discovered.returncode == 0, discovered.stderr
    assert _comparable(discovered.stdout) == [
        ("backend", "http", f"http://127.0.0.1:{api_port}/api/health", "up", "ok", api_port),
        ("frontend", "http", f"http://localhost:{vite_port}/", "up", "ok", vite_port),
        ("db", "mongo", f"mongodb://127.0.0.1:{db.port}/shop", "up", "ok", db.port),
    ]

    assert run_cli("init", home=tmp_path, cwd=root).returncode == 0
    from_file = run_cli("status", "--json", home=tmp_path, cwd=root)
    assert from_file.returncode == 0, from_file.stderr
    assert _comparable(from_file.stdout) == _comparable(discovered.stdout)
    assert {s["source"] for s in json.loads(from_file.stdout)["services"]} == {"config"}
    # From a sub-folder too, the project's own trayapp.toml now wins over discovery.
    sub = run_cli("status", home=tmp_path, cwd=root / "server")
    assert f"(config: {(root / 'trayapp.toml').resolve()})" in sub.stdout
