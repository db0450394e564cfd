"""Discovery: a JavaScript project's files -> the services of its dev stack, each value with
the ``file:line`` it came from.

Sources (issue #10 section 1): ``package.json`` files (:mod:`packagejson`), ``.env`` files
(:mod:`envfiles`), the Vite config (:mod:`viteconfig`), a Docker Compose file
(:mod:`compose`), the backend's own code (:mod:`jscode`: ``process.env.PORT || 5000``,
``listen(...)``, route paths, ``mongodb://`` literals), and, when the backend is listening,
its answers on the usual health paths (bounded by :data:`HEALTH_BUDGET_S`).

The result also carries what the proxy and root-cause checks need: each Vite proxy rule's
path and target with its line, the backend's MongoDB URI (redacted where shown) with its
host and port, and which service depends on which.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from trayapp import __version__
from trayapp.checks.health import read_health_body
from trayapp.checks.probes import ResolveError, connect_any, is_loopback, resolve
from trayapp.config.load import Provenance
from trayapp.config.redact import mongo_hosts, redact_uri, strip_credentials
from trayapp.model import Kind
from trayapp.project import jscode
from trayapp.project.compose import ComposeMongo, compose_file, mongo_services
from trayapp.project.envfiles import ENV_FILES, URI_KEYS, EnvEntry, EnvFile, env_files, merged, relative
from trayapp.project.facts import Fact
from trayapp.project.packagejson import Package, find_packages, runner, start_script, vite_cli
from trayapp.project.viteconfig import VITE_CONFIGS, ProxyRule, ViteConfig, find_vite_config, read_vite_config

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/api/health", "/health", "/healthz", "/api/status", "/status", "/ready")
#: all health-path requests of one discovery together take at most this long
HEALTH_BUDGET_S = 1.5
MONGO_DEFAULT_PORT = 27017
#: code files of one package looked at, at most (hand-written code, not node_modules)
MAX_CODE_FILES = 300
_SKIP_DIRS = {"node_modules", ".git", "dist", "build", "coverage", ".next", ".nuxt", ".vite", "out", "public"}
_CLIENT_DIRS = {"client", "frontend", "web"}
_ANY_ADDRESS = ("0.0.0.0", "::", "", "*", "[::]")


@dataclass(frozen=True)
class Health:
    """The backend's health path and how it was chosen."""

    path: str
    #: how: "answered" (a request got 2xx or a 503 health body), "code" (a route in the code),
    #: or "fallback" (nothing found: "/")
    how: str
    said: str
    fact: Fact[str] | None = None


@dataclass(frozen=True)
class DiscoveredService:
    name: str
    role: str  # "backend" | "frontend" | "db"
    kind: Kind
    #: where the probe connects
    host: str
    port: int | None
    #: http: the full URL; mongo: the connection string (may hold a password: redact to show)
    target: str
    origin: tuple[Provenance, ...]
    package: Package | None = None
    port_fact: Fact[int] | None = None
    #: the address the backend binds (HOST, or listen()'s host argument), when the project says
    binds: Fact[str] | None = None
    health: Health | None = None
    start: Fact[str] | None = None
    start_command: str | None = None
    cwd: str | None = None  # relative to the project root
    #: a db's connection string where it was read (``MONGODB_URI=...`` in server/.env), for the
    #: backend that uses it: the db's host and port are ``uri_host``/``port``
    uri_fact: Fact[str] | None = None
    depends_on: tuple[str, ...] = ()
    #: a frontend's proxy rule towards ``proxy_to`` and the path to check through it
    proxy: ProxyRule | None = None
    proxy_path: str | None = None
    proxy_to: str | None = None
    #: what trayapp could not decide or assumed, one sentence each
    notes: tuple[str, ...] = ()

    @property
    def display_target(self) -> str:
        return redact_uri(self.target)


@dataclass(frozen=True)
class Discovery:
    root: Path
    packages: tuple[Package, ...]
    #: package folder (rel) -> the dotenv files that apply to it, lowest precedence first
    env: dict[str, tuple[EnvFile, ...]]
    vite: dict[str, ViteConfig]
    compose: tuple[ComposeMongo, ...]
    services: tuple[DiscoveredService, ...]
    #: project-level sentences: what could not be read or decided
    notes: tuple[str, ...] = ()
    #: every file discovery read or looked for (absolute): re-discover when one changes
    inputs: tuple[str, ...] = field(default=(), repr=False)

    def service(self, role: str) -> DiscoveredService | None:
        return next((s for s in self.services if s.role == role), None)


# --------------------------------------------------------------------------- discovery


def discover(root: Path, probe_health: bool = True) -> Discovery:
    """Discover the stack of the project at ``root``. Never raises for what the files say;
    what cannot be read becomes a note. ``probe_health=False`` skips the health-path requests."""
    root = root.resolve()
    packages = find_packages(root)
    notes: list[str] = [f"{p.manifest} {p.problem}" for p in packages if p.problem]
    env: dict[str, tuple[EnvFile, ...]] = {}
    vite: dict[str, ViteConfig] = {}
    root_env = tuple(env_files(root, root))
    for package in packages:
        own = tuple(env_files(package.dir, root)) if package.dir != root else ()
        env[package.rel] = root_env + own
        config_path, problem = vite_config_of(package, root) if package.frontend is not None else (None, None)
        if problem is not None:
            notes.append(problem)
        if config_path is not None:
            vite[package.rel] = read_vite_config(config_path, root)
            notes += list(vite[package.rel].unread)
    compose, compose_problem = mongo_services(root)
    if compose_problem:
        notes.append(compose_problem)

    backends = [p for p in packages if p.backend is not None]
    frontends = [p for p in packages if p.frontend is not None]
    services: list[DiscoveredService] = []
    names = _Names()
    dbs: list[DiscoveredService] = []
    for package in backends:
        name = names.take("backend" if len(backends) == 1 else _package_name(package))
        backend, db = _backend(root, package, env[package.rel], name, probe_health, compose)
        if db is not None:
            existing = next((d for d in dbs if (d.host, d.port, d.target) == (db.host, db.port, db.target)), None)
            if existing is None:
                db = _renamed(db, names.take("db" if not dbs else f"db-{len(dbs) + 1}"))
                dbs.append(db)
                existing = db
            backend = _with(backend, depends_on=(existing.name,))
        services.append(backend)
    if not dbs and compose:
        db = _compose_db(compose[0])
        if db is not None:
            dbs.append(_renamed(db, names.take("db")))
    for package in frontends:
        name = names.take("frontend" if len(frontends) == 1 else _package_name(package))
        services.append(_frontend(root, package, vite.get(package.rel), name, services))
    services += dbs
    if not services and packages:
        notes.append(
            "no package depends on express, fastify, koa, @nestjs/core, hapi or vite, so trayapp found no service "
            "to watch"
        )
    return Discovery(
        root=root,
        packages=tuple(packages),
        env=env,
        vite=vite,
        compose=tuple(compose),
        services=_ordered(services),
        notes=tuple(notes),
        inputs=input_files(root, packages),
    )


def vite_config_of(package: Package, root: Path) -> tuple[Path | None, str | None]:
    """The Vite config the package's dev script loads, and a sentence when it names one that
    cannot be used: ``--config FILE`` (``-c``, ``--config=``) relative to the package's folder,
    where npm runs the script; else the first ``vite.config.*`` in the root the script gives
    (``vite client``), else in the package's folder (Vite's own search, in its order)."""
    start = start_script(package, "frontend")
    cli = vite_cli(start.value) if start is not None else None
    if cli is not None and cli.config is not None and start is not None:
        path = (package.dir / cli.config).resolve()
        if root not in path.parents or not path.is_file():
            return None, f"{start.where} {start.said} names {cli.config}, which is not a file in the project"
        return path, None
    if cli is not None and cli.root is not None:
        folder = (package.dir / cli.root).resolve()
        if root == folder or root in folder.parents:
            return find_vite_config(folder), None
    return find_vite_config(package.dir), None


def _ordered(services: list[DiscoveredService]) -> tuple[DiscoveredService, ...]:
    rank = {"backend": 0, "frontend": 1, "db": 2}
    return tuple(sorted(services, key=lambda s: rank[s.role]))


class _Names:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.used:
            name, n = f"{wanted}-{n}", n + 1
        self.used.add(name)
        return name


def _package_name(package: Package) -> str:
    if package.rel != ".":
        return Path(package.rel).name
    return (package.name or "app").split("/")[-1]


def _with(service: DiscoveredService, **changes: object) -> DiscoveredService:
    from dataclasses import replace

    return replace(service, **changes)  # type: ignore[arg-type]


def _renamed(service: DiscoveredService, name: str) -> DiscoveredService:
    return _with(service, name=name)


# --------------------------------------------------------------------------- backend


def _backend(
    root: Path,
    package: Package,
    env_chain: tuple[EnvFile, ...],
    name: str,
    probe_health: bool,
    compose: list[ComposeMongo],
) -> tuple[DiscoveredService, DiscoveredService | None]:
    values = merged(list(env_chain))
    sources = list(code_files(package, root))
    parsed = [s for s in (jscode.parse(path) for path in sources) if s is not None]
    origin: list[Provenance] = []
    notes: list[str] = []
    kind_fact = package.backend
    assert kind_fact is not None
    origin.append(kind_fact.provenance("kind"))

    port_fact = _backend_port(values.get("PORT"), parsed, root, notes)
    binds = _binds(values.get("HOST"), parsed, root)
    host = _dial_host(binds.value if binds else None)
    if port_fact is not None:
        origin.append(port_fact.provenance("port"))
    if binds is not None:
        origin.append(binds.provenance("host"))

    health: Health | None = None
    if port_fact is not None:
        health = find_health(host, port_fact.value, parsed, root) if probe_health else None
        if health is None:
            health = _health_from_code(parsed, root) or Health(
                "/", "fallback", f"none of {', '.join(HEALTH_PATHS)} is a route in {name}'s code"
            )
        if health.fact is not None:
            origin.append(health.fact.provenance("url"))
        else:
            origin.append(Provenance("url", "", health.said))
        if health.how == "fallback":
            notes.append(f"{name}'s health path: {health.said}, so trayapp checks / instead; set the right path in url")
    else:
        notes.append(
            f"{name}'s port: neither PORT in {', '.join(ENV_FILES)} of {package.rel} nor its code "
            "(process.env.PORT || 5000, listen(5000)) says which port it listens on"
        )

    start = start_script(package, "backend")
    command = f"{runner(package, root)} run {_script_name(package, start)}" if start else None
    if start is not None:
        origin.append(start.provenance("start"))
    url = ""
    if port_fact is not None and health is not None:
        url = f"http://{_url_host(host)}:{port_fact.value}{health.path}"
    backend = DiscoveredService(
        name=name,
        role="backend",
        kind=Kind.HTTP,
        host=host,
        port=port_fact.value if port_fact else None,
        target=url,
        origin=tuple(origin),
        package=package,
        port_fact=port_fact,
        binds=binds,
        health=health,
        start=start,
        start_command=command,
        cwd=package.rel,
        notes=tuple(notes),
    )
    return backend, _db_for(package, values, parsed, root, compose)


def _backend_port(
    entry: EnvEntry | None, parsed: list[jscode.Source], root: Path, notes: list[str]
) -> Fact[int] | None:
    if entry is not None and entry.value:
        if entry.value.strip().isdigit() and 1 <= int(entry.value) <= 65535:
            return Fact(int(entry.value), entry.file, entry.line, f"PORT={entry.value.strip()}")
        notes.append(f"PORT={entry.value} at {entry.file}:{entry.line} is not a port number")
    for source in parsed:
        for found in jscode.port_fallbacks(source):
            return Fact(int(found.value), relative(source.path, root), found.line, found.code)
    for source in parsed:
        for call in jscode.listen_calls(source):
            if call.port is not None:
                return Fact(call.port, relative(source.path, root), call.line, call.code)
    return None


def _binds(entry: EnvEntry | None, parsed: list[jscode.Source], root: Path) -> Fact[str] | None:
    if entry is not None and entry.value:
        return Fact(entry.value.strip(), entry.file, entry.line, f"HOST={entry.value.strip()}")
    for source in parsed:
        for call in jscode.listen_calls(source):
            if call.host:
                return Fact(call.host, relative(source.path, root), call.line, call.code)
    return None


def _dial_host(binds: str | None) -> str:
    """Where to dial a server that binds ``binds``: its own address, or loopback for "any"."""
    if binds is None or binds.strip("[]") in ("0.0.0.0", "::", "", "*"):
        return "127.0.0.1"
    return binds.strip("[]")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _script_name(package: Package, start: Fact[str] | None) -> str:
    if start is None:
        return ""
    return next(name for name, fact in package.scripts.items() if fact is start)


def code_files(package: Package, root: Path) -> Iterator[Path]:
    """The package's own JavaScript/TypeScript files: not node_modules, builds, the client
    folders of a package that is also a frontend, or other packages nested inside it."""
    nested = {p for p in _nested_packages(package.dir)}
    count = 0
    entry_first = _entry_files(package)
    for path in entry_first:
        if path.is_file():
            count += 1
            yield path
    for folder, dirs, files in os.walk(package.dir):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _SKIP_DIRS
            and not d.startswith(".")
            and here / d not in nested
            and not (package.frontend is not None and d in _CLIENT_DIRS | {"src"} and here == package.dir)
        )
        if len(here.relative_to(package.dir).parts) > 6:
            dirs[:] = []
            continue
        for file in sorted(files):
            path = here / file
            if path.suffix in jscode.JS_SUFFIXES and file not in VITE_CONFIGS and path not in entry_first:
                if file.endswith((".d.ts", ".test.js", ".test.ts", ".spec.js", ".spec.ts")):
                    continue
                count += 1
                if count > MAX_CODE_FILES:
                    return
                yield path


def _nested_packages(folder: Path) -> set[Path]:
    nested: set[Path] = set()
    for child in _subdirs(folder):
        if child.name in _SKIP_DIRS:
            continue
        if (child / "package.json").is_file():
            nested.add(child)
        elif child.name in ("apps", "packages"):
            nested |= {c for c in _subdirs(child) if (c / "package.json").is_file()}
    return nested


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [c for c in folder.iterdir() if c.is_dir()]
    except OSError:
        return []


def _entry_files(package: Package) -> list[Path]:
    """Files the package's main and scripts name (``node server/index.js``): looked at first."""
    names = [package.main] if package.main else []
    for fact in package.scripts.values():
        names += [w for w in fact.value.split() if w.endswith(jscode.JS_SUFFIXES)]
    found: list[Path] = []
    for name in names:
        path = (package.dir / name).resolve()
        if path not in found and package.dir in path.parents:
            found.append(path)
    return found


# --------------------------------------------------------------------------- health path


def find_health(host: str, port: int, parsed: list[jscode.Source], root: Path) -> Health | None:
    """Ask a listening backend the usual health paths; None when it is not listening.

    The first that answers 2xx (but not an HTML page: a single-page app's catch-all is no
    health check), or 503 with a health body, wins. All requests together are bounded by
    :data:`HEALTH_BUDGET_S`; a backend that accepts but does not answer ends the search.
    """
    start = time.monotonic()
    deadline = start + HEALTH_BUDGET_S
    try:
        addresses = resolve(host, port, 0.5)
    except ResolveError:
        return None
    reason, _detail = connect_any(addresses, port, time.perf_counter() + 0.5, 0.5)
    if reason.value != "ok":
        return None
    import httpx  # only here: a command on a config file never loads it (issue #12)

    tried: list[str] = []
    with httpx.Client(
        trust_env=not is_loopback(host),
        follow_redirects=False,
        headers={"User-Agent": f"trayapp/{__version__}", "Accept": "application/health+json, application/json"},
    ) as client:
        for path in HEALTH_PATHS:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            url = f"http://{_url_host(host)}:{port}{path}"
            try:
                response = client.get(url, timeout=httpx.Timeout(min(remaining, 1.0)))
            except httpx.TimeoutException:
                tried.append(f"{path} did not answer in time")
                break
            except httpx.HTTPError as exc:
                tried.append(f"{path}: {type(exc).__name__}")
                continue
            content_type = response.headers.get("content-type", "")
            status = response.status_code
            if 200 <= status < 300 and "html" not in content_type.lower():
                return Health(path, "answered", f"GET {path} answered {status} {response.reason_phrase}".strip())
            if status == 503:
                report = read_health_body(response.content[:65536], content_type)
                if report.status is not None or report.failing:
                    return Health(path, "answered", f"GET {path} answered 503 with a health body")
            tried.append(f"{path} {status}")
    said = "the backend listens, but " + (
        "none of the usual health paths answered (" + ", ".join(tried) + ")" if tried else "it did not answer in time"
    )
    return _health_from_code(parsed, root) or Health("/", "fallback", said)


def _health_from_code(parsed: list[jscode.Source], root: Path) -> Health | None:
    found: list[tuple[int, Fact[str]]] = []
    for source in parsed:
        for route in jscode.route_paths(source, HEALTH_PATHS):
            fact = Fact(str(route.value), relative(source.path, root), route.line, route.code)
            found.append((HEALTH_PATHS.index(str(route.value)), fact))
    if not found:
        return None
    _rank, fact = min(found, key=lambda item: item[0])
    return Health(fact.value, "code", f"a route for {fact.value} in the code", fact)


# --------------------------------------------------------------------------- database


def _db_for(
    package: Package,
    values: dict[str, EnvEntry],
    parsed: list[jscode.Source],
    root: Path,
    compose: list[ComposeMongo],
) -> DiscoveredService | None:
    """The MongoDB this backend uses: its MONGODB_URI (and friends), a mongodb:// literal in
    its code, the compose file's MongoDB, or, for a mongoose/mongodb user, the default port."""
    for key in URI_KEYS:
        entry = values.get(key)
        if entry is not None and entry.value and entry.value.startswith(("mongodb://", "mongodb+srv://")):
            return _mongo(entry.value, Fact(entry.value, entry.file, entry.line, f"{key}={redact_uri(entry.value)}"))
    if package.mongo is None:
        return None
    for source in parsed:
        for found in jscode.mongo_literals(source):
            text = str(found.value)
            return _mongo(text, Fact(text, relative(source.path, root), found.line, redact_uri(text)))
    if compose:
        db = _compose_db(compose[0])
        if db is not None:
            return db
    said = f"{package.mongo.said}: MongoDB's default port {MONGO_DEFAULT_PORT} assumed"
    uri = f"mongodb://127.0.0.1:{MONGO_DEFAULT_PORT}"
    db = _mongo(uri, Fact(uri, package.mongo.file, package.mongo.line, said))
    return _with(
        db,
        notes=(
            f"no {', '.join(URI_KEYS)} in {package.rel}'s .env files and no mongodb:// in its code: "
            f"trayapp assumes MongoDB on 127.0.0.1:{MONGO_DEFAULT_PORT}",
        ),
    )


def _mongo(uri: str, fact: Fact[str]) -> DiscoveredService:
    """A db service for ``uri``. Its target leaves out user info and secret options: a ping
    needs no credentials, and a password stays in the file the project keeps it in."""
    hosts, secrets = mongo_hosts(uri)
    host, port = hosts[0] if hosts else ("127.0.0.1", None)
    if port is None and uri.startswith("mongodb://"):
        port = MONGO_DEFAULT_PORT
    target = strip_credentials(uri)
    notes: tuple[str, ...] = ()
    if target != uri:
        notes = (f"the credentials in {fact.where} are left out: trayapp pings MongoDB without them",)
    return DiscoveredService(
        name="db",
        role="db",
        kind=Kind.MONGO,
        host=host,
        port=port,
        target=target,
        origin=(fact.provenance("uri"),),
        uri_fact=fact,
        notes=notes,
    )


def _compose_db(found: ComposeMongo) -> DiscoveredService | None:
    if found.port is None:
        return None
    host = found.host_ip if found.host_ip and found.host_ip not in _ANY_ADDRESS else "127.0.0.1"
    uri = f"mongodb://{_url_host(host)}:{found.port.value}"
    fact = Fact(uri, found.port.file, found.port.line, f"service {found.service}: ports {found.port.said}")
    return _mongo(uri, fact)


# --------------------------------------------------------------------------- frontend


def _frontend(
    root: Path, package: Package, vite: ViteConfig | None, name: str, services: list[DiscoveredService]
) -> DiscoveredService:
    origin: list[Provenance] = []
    notes: list[str] = []
    kind_fact = package.frontend
    assert kind_fact is not None
    origin.append(kind_fact.provenance("kind"))
    if vite is None:
        port = Fact(5173, package.manifest, 0, "no vite.config: Vite's default port 5173")
        host_value = "localhost"
        notes.append(f"{package.rel} has no {'/'.join(VITE_CONFIGS)}: Vite's defaults (localhost:5173) assumed")
    else:
        port = vite.port
        host_value = vite.host.value
        if vite.host.line:
            origin.append(vite.host.provenance("host"))
    origin.append(port.provenance("port"))
    host = "localhost" if host_value in ("true", "0.0.0.0", "::") else host_value.strip("[]")
    start = start_script(package, "frontend")
    if start is not None:
        origin.append(start.provenance("start"))
    backends = [s for s in services if s.role == "backend"]
    rule, proxy_to, proxy_path = _proxy(vite, backends, notes)
    if rule is not None and rule.target is not None:
        origin.append(rule.target.provenance("proxy"))
    return DiscoveredService(
        name=name,
        role="frontend",
        kind=Kind.HTTP,
        host=host,
        port=port.value,
        target=f"http://{_url_host(host)}:{port.value}/",
        origin=tuple(origin),
        package=package,
        port_fact=port,
        start=start,
        start_command=f"{runner(package, root)} run {_script_name(package, start)}" if start else None,
        cwd=package.rel,
        depends_on=(proxy_to,) if proxy_to else (),
        proxy=rule,
        proxy_path=proxy_path,
        proxy_to=proxy_to,
        notes=tuple(notes),
    )


def _proxy(
    vite: ViteConfig | None, backends: list[DiscoveredService], notes: list[str]
) -> tuple[ProxyRule | None, str | None, str | None]:
    """The proxy rule towards a backend, that backend's name, and the path to check through it.

    The rule whose target port is a backend's port wins; else, with one backend and one
    http rule, that rule (a proxy to the wrong port is exactly what the proxy check names).
    """
    if vite is None or not vite.proxy or not backends:
        return None, None, None
    http_rules = [r for r in vite.proxy if r.target is not None and r.target.value.startswith("http")]
    for rule in http_rules:
        match = next((b for b in backends if b.port is not None and b.port == rule.port), None)
        if match is not None:
            return rule, match.name, _proxy_path(rule, match, notes)
    if len(backends) == 1 and http_rules:
        api = next((r for r in http_rules if r.path.startswith("/api")), http_rules[0])
        return api, backends[0].name, _proxy_path(api, backends[0], notes)
    unread = [r for r in vite.proxy if r.target is None]
    if unread:
        notes.append(f"the target of the {unread[0].path} proxy could not be read, so which service it reaches is open")
    return None, None, None


def _proxy_path(rule: ProxyRule, backend: DiscoveredService, notes: list[str]) -> str:
    health = backend.health.path if backend.health else None
    if rule.rewrite:
        notes.append(
            f"the {rule.path} proxy rewrites paths (a rewrite function), so the path to check through it is a guess"
        )
    if health and health != "/" and health.startswith(rule.path.rstrip("/") + "/") and not rule.rewrite:
        return health
    return rule.path if rule.path.startswith("/") else "/" + rule.path


# --------------------------------------------------------------------------- inputs


def input_files(root: Path, packages: list[Package] | None = None) -> tuple[str, ...]:
    """Every file whose change (or appearance) can change what discovery finds. Cheap: reads
    only package.json files (when ``packages`` is not given)."""
    if packages is None:
        packages = find_packages(root)
    files: set[Path] = {root / "package.json", root / "pnpm-workspace.yaml"}
    files |= {root / n for n in ENV_FILES}
    compose = compose_file(root)
    if compose is not None:
        files.add(compose)
    from trayapp.project.compose import COMPOSE_FILES
    from trayapp.project.packagejson import USUAL_FOLDERS

    files |= {root / n for n in COMPOSE_FILES}
    files |= {root / n / "package.json" for n in USUAL_FOLDERS}
    for package in packages:
        files.add(package.dir / "package.json")
        files |= {package.dir / n for n in ENV_FILES}
        files |= {package.dir / n for n in VITE_CONFIGS}
        if package.frontend is not None:
            config, _problem = vite_config_of(package, root)
            files |= {config} if config is not None else set()
        files |= set(_entry_files(package))
    return tuple(sorted(str(f) for f in files))


def fingerprint(paths: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of each path; (path, -1, -1) for one that does not exist."""
    marks = []
    for path in paths:
        try:
            st = os.stat(path)
            marks.append((path, st.st_mtime_ns, st.st_size))
        except OSError:
            marks.append((path, -1, -1))
    return tuple(marks)


def localhost_order(timeout: float = 1.0) -> tuple[str, ...]:
    """The addresses ``localhost`` resolves to here, in the resolver's order (bounded)."""
    try:
        return resolve("localhost", 80, timeout)
    except ResolveError:
        return ()


def family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def target_of(url: str) -> tuple[str | None, int | None]:
    parts = urlsplit(url)
    try:
        return parts.hostname, parts.port
    except ValueError:
        return parts.hostname, None
