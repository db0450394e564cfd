"""Discovery (issue #10 section 1): a project's files -> its services, each value with file:line.

Sample projects live in tests/projects; each test copies the one it needs into tmp_path
(tests/kit/projects.py), with ports rewritten to free ones where real servers listen.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.kit.cli import run_cli
from tests.kit.projects import copy_project
from trayapp.config.load import ConfigError, parse_config
from trayapp.model import Kind
from trayapp.project.discover import discover
from trayapp.project.load import Rediscovery, discovered_config, load_stack
from trayapp.project.packagejson import find_root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def origin(service) -> list[str]:
    return [str(p) for p in service.origin]


def test_backend_on_3001_from_server_env_with_its_proxy_and_database(tmp_path: Path) -> None:
    found = discover(copy_project("backend3001", tmp_path), probe_health=False)
    backend, frontend, db = (found.service(role) for role in ("backend", "frontend", "db"))
    assert backend is not None and frontend is not None and db is not None
    assert backend.kind is Kind.HTTP and backend.target == "http://127.0.0.1:3001/api/health"
    assert "server/.env:1 PORT=3001" in origin(backend)
    assert "server/index.js:8 app.get('/api/health')" in origin(backend)  # the health route, from the code
    assert backend.start_command == "npm run dev" and backend.cwd == "server"
    assert frontend.target == "http://localhost:5173/"
    assert "client/vite.config.js:5 server.port: 5173" in origin(frontend)
    assert db.kind is Kind.MONGO and db.target == "mongodb://127.0.0.1:27017/shop"
    assert origin(db) == ["server/.env:2 MONGODB_URI=mongodb://127.0.0.1:27017/shop"]
    # What the proxy and root-cause checks (sections 3 and 4) will need, recorded as values:
    assert frontend.proxy is not None and frontend.proxy.path == "/api"
    assert frontend.proxy.target is not None and frontend.proxy.target.value == "http://localhost:3001"
    assert frontend.proxy.target.where == "client/vite.config.js:8"
    assert (frontend.proxy_to, frontend.proxy_path, frontend.depends_on) == ("backend", "/api/health", ("backend",))
    assert backend.depends_on == ("db",)
    assert (db.host, db.port) == ("127.0.0.1", 27017) and db.uri_fact is not None
    assert db.uri_fact.where == "server/.env:2"


def test_a_proxy_to_the_wrong_port_is_recorded_as_written(tmp_path: Path) -> None:
    frontend = discover(copy_project("wrong-proxy", tmp_path), probe_health=False).service("frontend")
    assert frontend is not None and frontend.proxy is not None
    assert frontend.proxy.port == 5000 and frontend.proxy_to == "backend"  # the mismatch is section 3's to name


def test_env_files_in_dotenv_precedence_and_the_package_over_the_root(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    write(root / ".env", "PORT=4000\nHOST=127.0.0.1\n")
    write(root / "server" / ".env.local", "PORT=4001\n")
    write(root / "server" / ".env.development", "PORT=4002\n")
    write(root / "server" / ".env.development.local", "# the developer's own\nPORT=4003\n")
    backend = discover(root, probe_health=False).service("backend")
    assert backend is not None and backend.port == 4003
    assert "server/.env.development.local:2 PORT=4003" in origin(backend)
    assert "HOST=127.0.0.1" in " ".join(origin(backend))  # from the root's .env: nothing in server/ overrides it


def test_every_uri_key_is_read_and_credentials_never_leave_the_env_file(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    write(
        root / "server" / ".env", "PORT=3001\nMONGO_URL=mongodb://app:hunter22@127.0.0.1:27020/shop?authSource=admin\n"
    )
    found = discover(root, probe_health=False)
    db = found.service("db")
    assert db is not None and db.port == 27020
    assert db.target == "mongodb://127.0.0.1:27020/shop?authSource=admin"  # what status pings and init writes
    assert origin(db) == ["server/.env:2 MONGO_URL=mongodb://***@127.0.0.1:27020/shop?authSource=admin"]
    assert db.uri_fact is not None and "hunter22" in db.uri_fact.value  # kept for the doctor's credential check
    assert "hunter22" not in discovered_config(found).text  # type: ignore[operator]


def test_npm_workspaces_fastify_and_a_listen_object(tmp_path: Path) -> None:
    found = discover(copy_project("workspaces", tmp_path), probe_health=False)
    assert [p.rel for p in found.packages] == [".", "packages/api", "packages/web"]
    backend, frontend = found.service("backend"), found.service("frontend")
    assert backend is not None and frontend is not None
    assert backend.target == "http://127.0.0.1:4000/healthz"  # listen({ port: 4000, host: '0.0.0.0' }), get('/healthz')
    assert backend.binds is not None and backend.binds.value == "0.0.0.0"
    assert "packages/api/src/server.js:3 fastify.get('/healthz')" in origin(backend)
    assert backend.start_command == "npm run start" and backend.cwd == "packages/api"
    assert frontend.port == 3000 and frontend.proxy is not None
    assert frontend.proxy.target is not None and frontend.proxy.target.value == "http://127.0.0.1:4000"  # string form
    assert frontend.proxy.target.where == "packages/web/vite.config.mjs:5"
    assert found.service("db") is None


@pytest.mark.parametrize(
    ("start", "root"),
    [
        ("workspaces/packages/api/src", "workspaces"),
        ("backend3001/server", "backend3001"),
        ("backend3001", "backend3001"),
        ("ts-vite/server", "ts-vite"),
    ],
)
def test_the_project_root_is_found_from_inside_it(tmp_path: Path, start: str, root: str) -> None:
    copy_project(start.split("/")[0], tmp_path)
    assert find_root(tmp_path / start) == (tmp_path / root).resolve()


def test_a_folder_outside_any_project_is_not_one(tmp_path: Path) -> None:
    assert find_root(tmp_path) is None


def test_a_typescript_vite_config_read_without_running_it(tmp_path: Path) -> None:
    found = discover(copy_project("ts-vite", tmp_path), probe_health=False)
    backend, frontend, db = (found.service(role) for role in ("backend", "frontend", "db"))
    assert backend is not None and frontend is not None and db is not None
    assert found.vite["."].how == "static" and found.vite["."].unread == ()
    assert frontend.port == 5180  # `5180 as number`
    assert frontend.proxy is not None and frontend.proxy.target is not None
    assert frontend.proxy.target.value == "http://localhost:8080"  # `target: API`, a const ... as const
    # One package that is both: each gets its own script.
    assert (backend.start_command, frontend.start_command) == ("npm run server", "npm run client")
    assert backend.port == 8080 and "server/index.ts:5 process.env.PORT ?? 8080" in origin(backend)
    assert db.target == "mongodb://localhost:27019/notes"  # the `?? 'mongodb://...'` fallback in the code


def test_values_only_vite_can_work_out_are_named(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    write(
        root / "client" / "vite.config.js",
        """\
        import { defineConfig } from 'vite';

        export default defineConfig({
          server: {
            port: Number(process.env.CLIENT_PORT || 5174),
            proxy: { '/api': { target: `http://localhost:${process.env.API_PORT}` } },
          },
        });
        """,
    )
    found = discover(root, probe_health=False)
    frontend = found.service("frontend")
    assert frontend is not None and frontend.port == 5173  # Vite's default, and said so
    notes = " | ".join(found.notes)
    assert "server.port at client/vite.config.js:5 is `Number(process.env.CLIENT_PORT || 5174)`" in notes
    assert "no node_modules/vite" in notes
    assert "the target of server.proxy['/api'] at client/vite.config.js:6" in notes


def test_no_proxy_and_no_health_route(tmp_path: Path) -> None:
    found = discover(copy_project("no-proxy", tmp_path), probe_health=False)
    backend, frontend = found.service("backend"), found.service("frontend")
    assert backend is not None and frontend is not None
    assert backend.target == "http://127.0.0.1:5000/"  # koa, app.listen(5000), no health route: "/" and say so
    assert "backend/app.js:7 app.listen(5000)" in origin(backend)
    assert any("checks / instead" in note for note in backend.notes)
    assert frontend.proxy is None and frontend.proxy_to is None and frontend.depends_on == ()


def test_compose_publishes_the_mongodb_port(tmp_path: Path) -> None:
    found = discover(copy_project("compose", tmp_path), probe_health=False)
    db = found.service("db")
    assert db is not None and db.target == "mongodb://127.0.0.1:27018"
    assert origin(db) == ['compose.yaml:5 service mongo: ports "127.0.0.1:27018:27017"']
    backend = found.service("backend")
    assert backend is not None and backend.depends_on == ("db",) and backend.port == 3000


def test_compose_long_syntax_and_variables(tmp_path: Path) -> None:
    root = copy_project("compose", tmp_path)
    write(root / ".env", "MONGO_PORT=27031\n")
    write(
        root / "docker-compose.yml",
        """\
        services:
          db:
            image: bitnami/mongodb:7.0
            ports:
              - target: 27017
                published: "${MONGO_PORT:-27030}"
        """,
    )
    (root / "compose.yaml").unlink()
    db = discover(root, probe_health=False).service("db")
    assert db is not None and db.port == 27031
    assert origin(db) == ["docker-compose.yml:6 service db: ports published: ${MONGO_PORT:-27030}"]


def test_the_health_path_is_asked_of_a_listening_backend(tmp_path: Path, backend) -> None:
    api = backend("healthy", only_path="/status")  # 404 on /api/health, /health, /healthz, /api/status
    root = copy_project("no-proxy", tmp_path, {5000: api.port})
    found = discover(root)
    service = found.service("backend")
    assert service is not None and service.target == f"http://127.0.0.1:{api.port}/status"
    assert "GET /status answered 200 OK" in origin(service)


def test_a_503_with_a_health_body_is_a_health_path(tmp_path: Path, backend) -> None:
    api = backend("db_down_503", only_path="/health")
    service = discover(copy_project("no-proxy", tmp_path, {5000: api.port})).service("backend")
    assert service is not None and service.target.endswith("/health")
    assert "GET /health answered 503 with a health body" in origin(service)


def test_a_catch_all_html_page_is_not_a_health_path(tmp_path: Path, backend) -> None:
    api = backend("html")  # answers every path 200 text/html, like a single-page app's catch-all
    service = discover(copy_project("no-proxy", tmp_path, {5000: api.port})).service("backend")
    assert service is not None and service.target == f"http://127.0.0.1:{api.port}/"
    assert any("none of the usual health paths answered" in note for note in service.notes)


def test_status_json_says_where_each_discovered_service_came_from(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path, {3001: free_port(), 5173: free_port(), 27017: free_port()})
    result = run_cli("status", "--json", home=tmp_path, cwd=root / "server")  # from a sub-folder
    assert result.returncode == 1, result.stderr  # nothing runs
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert services["backend"]["source"] == [
        "server/package.json:13",
        "server/.env:1",
        "server/index.js:8",
        "server/package.json:8",
    ]
    assert services["db"]["source"] == ["server/.env:2"]


def test_project_entries_in_a_config_are_discovered_and_named_after_the_project(tmp_path: Path) -> None:
    copy_project("backend3001", tmp_path)
    config_path = write(
        tmp_path / "trayapp.toml",
        """\
        [[project]]
        path = "backend3001"
        name = "shop"

        [[service]]
        name = "cache"
        kind = "tcp"
        port = 6379
        """,
    )
    config = load_stack(config_path)
    assert [s.name for s in config.services] == ["cache", "shop-backend", "shop-frontend", "shop-db"]
    assert config.source_of(config.services[0]) == "config"
    assert config.source_of(config.services[1])[:2] == ["server/package.json:13", "server/.env:1"]  # type: ignore[index]


def test_a_project_entry_that_is_not_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"project #1: field 'path': 'nowhere' is not a folder"):
        parse_config('[[project]]\npath = "nowhere"\n', str(tmp_path / "trayapp.toml"))


def test_a_changed_env_file_is_re_discovered(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    config = load_stack(cwd=root)
    assert config.service("backend").port == 3001
    watch = Rediscovery(config)
    assert watch.check() is None  # takes stock
    assert watch.check() is None  # nothing changed
    write(root / "server" / ".env", "PORT=30011\nMONGODB_URI=mongodb://127.0.0.1:27017/shop\n")
    changed = watch.check()
    assert changed is not None and changed.service("backend").port == 30011
    assert watch.check() is None


def test_a_new_env_local_file_is_re_discovered(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    watch = Rediscovery(load_stack(cwd=root))
    watch.check()
    write(root / "server" / ".env.local", "PORT=3999\n")
    changed = watch.check()
    assert changed is not None and changed.service("backend").port == 3999


def test_a_config_file_without_projects_is_not_watched(tmp_config) -> None:
    config = load_stack(tmp_config('[[service]]\nname = "a"\nkind = "tcp"\nport = 1\n'))
    assert not Rediscovery(config).watching and Rediscovery(config).check() is None


def test_a_typescript_vite_config_with_env_dependent_values_is_loaded_by_the_projects_own_vite(
    tmp_path: Path,
) -> None:
    """Vite's own loader runs the TypeScript config (``loadEnv`` reads ``.env``), which the
    static reader could only name as unread; the values and their file:line are Vite's."""
    from tests.kit.stack import NODE_MODULES, require_installed

    require_installed()
    root = copy_project("ts-vite", tmp_path)
    (root / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    write(root / ".env", "VITE_DEV_PORT=5199\nVITE_API_PORT=8099\n")
    write(
        root / "vite.config.ts",
        """\
        import { defineConfig, loadEnv, type UserConfig } from 'vite';

        export default defineConfig(({ mode }): UserConfig => {
          const env = loadEnv(mode, process.cwd(), '');
          return {
            server: {
              port: Number(env.VITE_DEV_PORT) as number,
              proxy: { '/api': { target: `http://127.0.0.1:${env.VITE_API_PORT}`, changeOrigin: true } },
            },
          };
        });
        """,
    )
    found = discover(root, probe_health=False)
    frontend = found.service("frontend")
    assert frontend is not None
    assert found.vite["."].how == "vite", found.vite["."].unread
    assert frontend.port == 5199
    assert frontend.proxy is not None and frontend.proxy.target is not None
    assert frontend.proxy.target.value == "http://127.0.0.1:8099"
    assert any(entry.startswith("vite.config.ts:") for entry in origin(frontend))


# -- a Vite config the dev script names (`vite --config client/vite.config.js`, tests/stack's layout) --


def stack_copy(folder: Path, client_script: str | None = None) -> Path:
    """A copy of tests/stack (one package.json at the root, the Vite config in client/), its
    ``client`` script replaced when given."""
    from tests.kit.stack import make_project

    root = make_project(folder)
    if client_script is not None:
        manifest = root / "package.json"
        data = json.loads(manifest.read_text(encoding="utf-8"))
        data["scripts"]["client"] = client_script
        manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return root


def test_the_vite_config_given_by_the_dev_scripts_config_option_is_read(tmp_path: Path) -> None:
    root = stack_copy(tmp_path / "app")
    assert '"client": "vite --config client/vite.config.js"' in (root / "package.json").read_text(encoding="utf-8")

    result = run_cli("init", "--print", home=tmp_path, cwd=root)

    assert result.returncode == 0, result.stderr
    assert "no vite.config" not in result.stdout
    assert 'url = "http://localhost:5173/" # client/vite.config.js:17 server.port: ' in result.stdout
    assert 'proxy_path = "/api/health" # Vite proxy /api -> client/vite.config.js:23 target: ' in result.stdout
    assert 'proxy_to = "backend"' in result.stdout
    assert str(root / "client" / "vite.config.js") in discover(root, probe_health=False).inputs


@pytest.mark.parametrize(
    "script",
    [
        "vite -c client/vite.config.js",
        "vite --config=client/vite.config.js --host 127.0.0.1",
        "cross-env NODE_ENV=development vite --clearScreen false --config client/vite.config.js",
        "vite client",  # Vite's root: it looks for vite.config.* there
        "vite serve client --strictPort",
    ],
)
def test_every_way_a_script_names_the_vite_config_or_root(tmp_path: Path, script: str) -> None:
    found = discover(stack_copy(tmp_path / "app", script), probe_health=False)
    frontend = found.service("frontend")
    assert frontend is not None
    assert (frontend.proxy_to, frontend.proxy_path) == ("backend", "/api/health")
    assert frontend.port_fact is not None and frontend.port_fact.where == "client/vite.config.js:17"


def test_vite_build_and_preview_are_not_the_dev_server(tmp_path: Path) -> None:
    root = stack_copy(tmp_path / "app", "vite build --config client/vite.config.js")
    manifest = root / "package.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["scripts"]["start"] = "vite preview --config client/vite.config.js"
    manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    frontend = discover(root, probe_health=False).service("frontend")

    assert frontend is not None and frontend.start is None  # neither building nor previewing is its `start`
    assert frontend.port_fact is not None and frontend.port_fact.said == "no vite.config: Vite's default port 5173"


def test_a_config_option_naming_a_missing_file_is_said(tmp_path: Path) -> None:
    found = discover(stack_copy(tmp_path / "app", "vite --config client/vite.config.mjs"), probe_health=False)

    assert (
        'package.json:13 "client": "vite --config client/vite.config.mjs" names client/vite.config.mjs, '
        "which is not a file in the project" in found.notes
    )
