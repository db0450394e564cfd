"""Loading and validating ``trayapp.toml``.

Every problem becomes one :class:`ConfigError` whose message names the file, the
service and the field, so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from trayapp.config.redact import mongo_hosts, redact_text, redact_uri, scrub, uri_secrets
from trayapp.identity import config_home, service_identity
from trayapp.model import Kind

CONFIG_NAME = "trayapp.toml"
ENV_CONFIG = "TRAYAPP_CONFIG"

DEFAULT_TOML = """\
# trayapp's built-in default: a Node/Express backend, a Vite dev server, MongoDB.
[[service]]
name = "backend"
kind = "http"
url = "http://127.0.0.1:5000/api/health"

[[service]]
name = "frontend"
kind = "tcp"
host = "127.0.0.1"
port = 5173

[[service]]
name = "db"
kind = "mongo"
uri = "mongodb://127.0.0.1:27017"
"""


class ConfigError(Exception):
    """A config problem, phrased for the user."""

    def __init__(self, source: str, message: str, service: str | None = None, field: str | None = None) -> None:
        self.source = source
        #: the sentence without the file, service and field it names (for a form: beside that field)
        self.message = message
        self.service = service
        self.field = field
        where = source
        if service is not None:
            where += f": service {service!r}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ManagedConfig:
    """How trayapp starts and stops a service it manages (the ``start`` key and friends)."""

    command: tuple[str, ...]  # argv; with `shell = true` in the user's own config, one line for their shell
    shell: bool = False
    cwd: str | None = None
    env_file: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 10.0
    start_timeout: float = 30.0
    autorestart: bool = False


@dataclass(frozen=True)
class Provenance:
    """Where a discovered setting came from: ``where`` is ``file:line`` relative to the project
    (``server/.env:1``) or ``""`` for what was learnt otherwise (a health path that answered);
    ``said`` is what it says there, redacted (``PORT=3001``); ``key`` the setting it decided."""

    key: str
    where: str
    said: str

    def __str__(self) -> str:
        return f"{self.where} {self.said}" if self.where else self.said


@dataclass(frozen=True)
class ProjectRef:
    """A ``[[project]]`` entry: a folder whose services are discovered at load."""

    path: str  # absolute, ~ expanded
    name: str  # prefix of its services' names (default: the folder's name)


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    kind: Kind
    #: the probe's target as written (http url, mongo uri, or host:port); may hold secrets
    target: str
    host: str | None
    port: int | None
    timeout: float = 2.0
    interval: float = 2.0
    #: consecutive failed checks before the service counts as down
    down_after: int = 2
    #: an answer slower than this (milliseconds) makes the service degraded
    slow_ms: float = 1000.0
    #: words that must never be shown (passwords in URIs), scrubbed from every detail
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: set when trayapp starts/stops this service itself
    managed: ManagedConfig | None = None
    #: log files to tail (absolute paths)
    logs: tuple[str, ...] = ()
    #: https:// only: a PEM file of CA certificates to trust besides the system's (absolute path)
    tls_ca_file: str | None = None
    #: https:// only: False accepts any certificate (a self-signed dev certificate)
    tls_verify: bool = True
    #: "config" (a config file), "default" (the built-in default) or "discovered" (from a project's files)
    source: str = "config"
    #: for a discovered service, the files and lines each setting came from
    origin: tuple[Provenance, ...] = ()
    #: its config home (:mod:`trayapp.identity`): the config file's real path, a discovered
    #: project's ``ROOT/trayapp.toml``, or a label such as "<built-in default>"
    config_file: str = ""
    #: the service's project folder when it is known (a managed service's cwd, a discovered
    #: project's root, the folder of a config file that is a project's own; see _project_folder):
    #: a process running elsewhere is not it
    folder: str | None = None

    @property
    def identity(self) -> str:
        """``<digest of the config home>:<name>``: this service, told apart from a service of the
        same name in another project (captured output, child records, control requests, and the
        ``TRAYAPP_SERVICE`` mark of its children are keyed by it)."""
        return service_identity(self.home, self.name)

    @property
    def home(self) -> str:
        """Its config home (see :mod:`trayapp.identity`)."""
        return self.config_file or "<none>"

    #: services this one needs (``depends_on``): a failure of one of them explains this one's
    depends_on: tuple[str, ...] = ()
    #: a dev server's path that its proxy forwards (``proxy_path = "/api/health"``), checked through it
    proxy_path: str | None = None
    #: the service behind that proxy (``proxy_to = "backend"``)
    proxy_to: str | None = None
    #: consecutive up checks of a dependency after which this service still reporting it down is
    #: ``stale_connection`` (``stale_after_checks``)
    stale_after_checks: int = 3

    @property
    def needs(self) -> tuple[str, ...]:
        """``depends_on`` and ``proxy_to`` (a dev server needs what its proxy reaches), in that order."""
        extra = (self.proxy_to,) if self.proxy_to and self.proxy_to not in self.depends_on else ()
        return (*self.depends_on, *extra)

    @property
    def display_target(self) -> str:
        return redact_uri(self.target)

    @property
    def source_text(self) -> str:
        """Where it came from, for people: ``discovered: server/.env:1 PORT=3001; …``, or the config file or default."""
        if self.source == "discovered":
            return "discovered: " + "; ".join(str(p) for p in self.origin)
        return "from the built-in default" if self.source == "default" else "from the config file"


@dataclass(frozen=True)
class Config:
    services: tuple[ServiceConfig, ...]
    #: where it came from: a path, "<built-in default>" or "<discovered in DIR>"
    source: str
    #: ``[[project]]`` folders whose services are discovered at load (trayapp.project adds them)
    projects: tuple[ProjectRef, ...] = ()
    #: the TOML a config that is not (yet) a file was made from (the built-in default, a discovery)
    text: str | None = field(default=None, repr=False)
    #: where saving a setting of such a config writes it (None: the user's config dir)
    save_path: str | None = None

    @property
    def path(self) -> Path | None:
        return None if self.source.startswith("<") else Path(self.source)

    def source_of(self, service: ServiceConfig) -> str | list[str]:
        """``"config"``, ``"default"``, or the ``file:line`` list of a discovered service (JSON ``source``)."""
        if service.source == "discovered":
            return [p.where for p in service.origin if p.where]
        return service.source

    def watched_ports(self) -> dict[int, tuple[str, ...]]:
        """Each port a service checks, with every service that checks it, in config order
        (a tcp check and an http check of the same server, two names for one database)."""
        watched: dict[int, tuple[str, ...]] = {}
        for service in self.services:
            if service.port is not None:
                watched[service.port] = (*watched.get(service.port, ()), service.name)
        return watched

    def service(self, name: str) -> ServiceConfig:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services)
        raise ConfigError(self.source, f"no service named {name!r} (known: {known})")


BUILTIN = "<built-in default>"

_MANAGED_KEYS = {
    "start",
    "shell",
    "cwd",
    "env_file",
    "env",
    "stop_signal",
    "stop_timeout",
    "start_timeout",
    "autorestart",
}
#: keys that relate services to each other (issue #10 sections 3 to 5)
_RELATION_KEYS = {"depends_on", "proxy_path", "proxy_to", "stale_after_checks"}
_COMMON_KEYS = {"name", "kind", "timeout", "interval", "down_after", "slow_ms", "log"} | _MANAGED_KEYS | _RELATION_KEYS
#: signals a service may be stopped with (POSIX names; Windows uses CTRL_BREAK then TerminateProcess)
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL")
_KIND_KEYS = {
    Kind.HTTP: {"url", "tls_ca_file", "tls_verify"},
    Kind.MONGO: {"uri"},
    Kind.TCP: {"host", "port"},
}


def user_config_path() -> Path:
    import platformdirs  # here, not at the top: a command given --config does without it

    return Path(platformdirs.user_config_dir("trayapp", appauthor=False)) / CONFIG_NAME


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use: --config, $TRAYAPP_CONFIG, ./trayapp.toml, the user's dir.

    ``None`` means none exists and the built-in default applies. An explicit path that
    does not exist is an error, not a silent fallback.
    """
    chosen = explicit or os.environ.get(ENV_CONFIG)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(str(path), "no such file")
        return path
    for candidate in (Path.cwd() / CONFIG_NAME, user_config_path()):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        return parse_config(DEFAULT_TOML, BUILTIN)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str, base: Path | None = None) -> Config:
    """Validate ``text``; relative paths in it are taken from ``base`` (default: the folder of
    ``source``, or the current folder for a source that is not a file)."""
    if base is None:
        base = Path(source).parent if not source.startswith("<") else Path.cwd()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, toml_error_sentence(exc, text)) from None
    _reject_unknown(data, {"service", "project"}, source, None, hint="top-level key")
    raw_services = data.get("service", [])
    if not isinstance(raw_services, list) or not all(isinstance(s, dict) for s in raw_services):
        raise ConfigError(source, "'service' must be written as [[service]] tables", field="service")
    projects = _projects(data.get("project", []), source, base)
    if not raw_services and not projects:
        raise ConfigError(source, "defines no [[service]] and no [[project]]; add at least one")
    services: list[ServiceConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_services, start=1):
        service = _parse_service(raw, index, source, base)
        if service.name in seen:
            raise ConfigError(source, "is defined twice; names must be unique", service.name, "name")
        seen.add(service.name)
        services.append(service)
    home = config_home(source)
    services = [replace(s, config_file=home) for s in services]
    _check_relations(services, source)
    if source == BUILTIN:
        services = [replace(s, source="default") for s in services]
    return Config(tuple(services), source, projects=projects, text=text if source.startswith("<") else None)


_TOML_WHERE = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


def toml_error_sentence(exc: tomllib.TOMLDecodeError, text: str) -> str:
    """One sentence for a TOML syntax error: the line number, the line itself and what the parser expected.

    tomllib (3.11) puts the place only in its message, as "... (at line 3, column 8)" or
    "(at end of document)"; this reads it from there. The line is shown as written (cut at
    80 characters); it can hold a secret only if the user typed one on a broken line, so
    ``scrub`` is left to the caller's usual redaction of the message.
    """
    message = str(exc)
    match = _TOML_WHERE.search(message)
    what = message[: match.start()] if match else message
    what = what[:1].lower() + what[1:]
    if match is None:
        return f"is not valid TOML: {what}"
    lines = text.splitlines()
    number = int(match.group(1)) if match.group(1) else len(lines)
    place = f"line {number}" if match.group(1) else f"line {number} (the end of the file)"
    line = redact_text(lines[number - 1].strip()) if 0 < number <= len(lines) else ""
    shown = line if len(line) <= 80 else line[:79] + "…"
    column = f" at column {match.group(2)}" if match.group(2) else ""
    return f"{place} is not valid TOML ({what}{column}): {shown}"


def _projects(raw: object, source: str, base: Path) -> tuple[ProjectRef, ...]:
    """``[[project]] path = "~/code/app"`` (and an optional ``name``), relative to the config file."""
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ConfigError(source, "'project' must be written as [[project]] tables", field="project")
    found: list[ProjectRef] = []
    for index, entry in enumerate(raw, start=1):
        label = f"project #{index}"
        _reject_unknown(entry, {"path", "name"}, source, None, hint=f"key of [[project]] #{index}")
        path = entry.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(source, f"{label}: field 'path': is required (a folder, e.g. \"~/code/app\")")
        folder = (base / Path(path).expanduser()).resolve()
        if not folder.is_dir():
            raise ConfigError(source, f"{label}: field 'path': {path!r} is not a folder")
        name = entry.get("name", folder.name)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(source, f"{label}: field 'name': must be a non-empty string")
        if any(p.name == name for p in found):
            raise ConfigError(source, f"{label}: field 'name': {name!r} is used twice; give each project its own name")
        found.append(ProjectRef(str(folder), name))
    return tuple(found)


def _parse_service(raw: dict[str, Any], index: int, source: str, base: Path) -> ServiceConfig:
    name = raw.get("name")
    label = name if isinstance(name, str) and name else f"#{index}"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(source, "is required (a non-empty string)", label, "name")

    kind_raw = raw.get("kind")
    kind = infer_kind(raw) if kind_raw is None else None
    if kind is None:
        try:
            kind = Kind(str(kind_raw))
        except ValueError:
            raise ConfigError(source, _kind_problem(kind_raw), label, "kind") from None

    _reject_unknown(raw, _COMMON_KEYS | _KIND_KEYS[kind], source, label, hint=f"key for kind {kind}")

    timeout = _number(raw, "timeout", 2.0, source, label, low=0.05, high=300, unit="seconds")
    interval = _number(raw, "interval", 2.0, source, label, low=0.1, high=86400, unit="seconds")
    slow_ms = _number(raw, "slow_ms", 1000.0, source, label, low=1, high=600_000, unit="milliseconds")
    down_after = raw.get("down_after", 2)
    if isinstance(down_after, bool) or not isinstance(down_after, int) or not 1 <= down_after <= 100:
        raise ConfigError(source, f"must be a whole number from 1 to 100, not {down_after!r}", label, "down_after")

    secrets: tuple[str, ...] = ()
    host: str | None
    port: int | None
    if kind is Kind.HTTP:
        target, host, port = _http_target(raw, source, label)
    elif kind is Kind.MONGO:
        target, host, port, secrets = _mongo_target(raw, source, label)
    else:
        host = raw.get("host", "127.0.0.1")
        if not isinstance(host, str) or not host:
            raise ConfigError(source, "must be a host name or address", label, "host")
        if "port" not in raw:
            raise ConfigError(source, "is required for kind tcp", label, "port")
        port = _port(raw["port"], source, label)
        target = f"{host}:{port}"
    if kind is Kind.HTTP:
        secrets = uri_secrets(target)
    tls_ca_file, tls_verify = _tls(raw, target, source, label, base) if kind is Kind.HTTP else (None, True)
    depends_on, proxy_path, proxy_to, stale_after = _relations(raw, kind, source, label)
    managed = _managed(raw, source, label, base)
    return ServiceConfig(
        depends_on=depends_on,
        proxy_path=proxy_path,
        proxy_to=proxy_to,
        stale_after_checks=stale_after,
        tls_ca_file=tls_ca_file,
        tls_verify=tls_verify,
        managed=managed,
        folder=managed.cwd if managed is not None else _project_folder(source, base),
        logs=_paths(raw, "log", source, label, base),
        name=name,
        kind=kind,
        target=target,
        host=host,
        port=port,
        timeout=timeout,
        interval=interval,
        down_after=down_after,
        slow_ms=slow_ms,
        secrets=secrets,
    )


#: what people write for a kind, and the kind they mean
_KIND_ALIASES = {"mongodb": "mongo", "mongodb+srv": "mongo", "https": "http", "web": "http", "port": "tcp"}


def infer_kind(raw: dict[str, Any]) -> Kind | None:
    """The kind a service's keys imply when ``kind`` is left out: ``url = "http(s)://…"`` is http,
    ``uri = "mongodb://…"`` or ``"mongodb+srv://…"`` is mongo. None when they say nothing (or both)."""
    url, uri = raw.get("url"), raw.get("uri")
    is_http = isinstance(url, str) and url.lower().startswith(("http://", "https://"))
    is_mongo = isinstance(uri, str) and uri.startswith(("mongodb://", "mongodb+srv://"))
    if is_http and not is_mongo:
        return Kind.HTTP
    if is_mongo and not is_http:
        return Kind.MONGO
    return None


def _kind_problem(kind_raw: object) -> str:
    kinds = ", ".join(repr(k.value) for k in Kind)
    if kind_raw is None:
        return f'is required unless url = "http://…" or uri = "mongodb://…" says it (one of: {kinds})'
    text = str(kind_raw).strip().lower()
    import difflib  # only for a mistake

    guess = _KIND_ALIASES.get(text) or next(iter(difflib.get_close_matches(text, [k.value for k in Kind], n=1)), None)
    if guess is not None:
        return f"{kind_raw!r} is not a known kind; did you mean {guess!r}?"
    return f"{kind_raw!r} is not a known kind (one of: {kinds})"


def _relations(
    raw: dict[str, Any], kind: Kind, source: str, label: str
) -> tuple[tuple[str, ...], str | None, str | None, int]:
    """``depends_on``, ``proxy_path``, ``proxy_to`` and ``stale_after_checks`` of one service (names
    are checked against the other services by :func:`_check_relations`)."""
    depends_on = raw.get("depends_on", [])
    if isinstance(depends_on, str):
        depends_on = [depends_on]
    if not isinstance(depends_on, list) or not all(isinstance(d, str) and d for d in depends_on):
        raise ConfigError(source, 'must be a list of service names, e.g. ["db"]', label, "depends_on")
    proxy_path = raw.get("proxy_path")
    proxy_to = raw.get("proxy_to")
    if proxy_path is not None:
        if not isinstance(proxy_path, str) or not proxy_path.startswith("/") or any(c.isspace() for c in proxy_path):
            raise ConfigError(
                source,
                f'must be a path that starts with "/" (e.g. "/api/health"), not {proxy_path!r}',
                label,
                "proxy_path",
            )
        if kind is Kind.MONGO:
            raise ConfigError(source, "only applies to a dev server (kind http or tcp)", label, "proxy_path")
    if proxy_to is not None and (not isinstance(proxy_to, str) or not proxy_to):
        raise ConfigError(source, "must be the name of a service", label, "proxy_to")
    if (proxy_path is None) != (proxy_to is None):
        have, missing = ("proxy_path", "proxy_to") if proxy_to is None else ("proxy_to", "proxy_path")
        raise ConfigError(
            source,
            f"needs {missing} as well (the path to check through the proxy and the service behind it)",
            label,
            have,
        )
    stale_after = raw.get("stale_after_checks", 3)
    if isinstance(stale_after, bool) or not isinstance(stale_after, int) or not 1 <= stale_after <= 100:
        raise ConfigError(
            source, f"must be a whole number from 1 to 100, not {stale_after!r}", label, "stale_after_checks"
        )
    return tuple(dict.fromkeys(depends_on)), proxy_path, proxy_to, stale_after


def _check_relations(services: list[ServiceConfig], source: str) -> None:
    """Every name in ``depends_on`` and ``proxy_to`` is another service, and no service needs itself
    through a chain of others."""
    names = {s.name for s in services}
    known = ", ".join(s.name for s in services)
    for service in services:
        for key, values in (("depends_on", service.depends_on), ("proxy_to", (service.proxy_to,))):
            for value in values:
                if value is None:
                    continue
                if value == service.name:
                    raise ConfigError(source, "names the service itself", service.name, key)
                if value not in names:
                    raise ConfigError(source, f"{value!r} is not a service (known: {known})", service.name, key)
    needs = {s.name: s.needs for s in services}
    for service in services:
        seen: set[str] = set()
        todo = list(needs[service.name])
        while todo:
            current = todo.pop()
            if current == service.name:
                raise ConfigError(
                    source,
                    "makes a cycle: the service needs itself through depends_on / proxy_to",
                    service.name,
                    "depends_on",
                )
            if current not in seen:
                seen.add(current)
                todo += needs.get(current, ())


#: the sub-folders a JavaScript project keeps a package in (trayapp.project.packagejson's USUAL_FOLDERS)
_PACKAGE_FOLDERS = ("server", "backend", "api", "client", "frontend", "web")


def _project_folder(source: str, base: Path) -> str | None:
    """The service's folder as far as the config file tells it: a discovered project's root, or
    the folder of a config file that is a project's own (a ``package.json`` there, in one of the
    usual sub-folders or under ``apps/``); None for the built-in default, the per-user config and
    a config file in any other folder, which says nothing about where the service runs (a stale
    server is only called one from a folder known to be the service's)."""
    if source == BUILTIN:
        return None
    folder = base.resolve()
    if source.startswith("<"):
        return str(folder)
    if folder == user_config_path().parent.resolve() or not _is_project(folder):
        return None
    return str(folder)


def _is_project(folder: Path) -> bool:
    """A JavaScript project's root (as trayapp.project.packagejson.is_project, which is above this layer)."""
    try:
        if any((folder / sub / "package.json").is_file() for sub in ("", *_PACKAGE_FOLDERS)):
            return True
        apps = folder / "apps"
        return apps.is_dir() and any((child / "package.json").is_file() for child in apps.iterdir())
    except OSError:
        return False


def _managed(raw: dict[str, Any], source: str, label: str, base: Path) -> ManagedConfig | None:
    if "start" not in raw:
        stray = sorted(_MANAGED_KEYS & raw.keys())
        if stray:
            raise ConfigError(source, "only applies to services with a 'start' command", label, stray[0])
        return None
    shell = raw.get("shell", False)
    if not isinstance(shell, bool):
        raise ConfigError(source, "must be true or false", label, "shell")
    start = raw["start"]
    if isinstance(start, str) and start.strip():
        try:
            command = (start,) if shell else tuple(shlex.split(start))
        except ValueError as exc:
            raise ConfigError(source, f"cannot be split into arguments ({exc})", label, "start") from None
    elif isinstance(start, list) and start and all(isinstance(a, str) for a in start):
        command = (shlex.join(start),) if shell else tuple(start)
    else:
        raise ConfigError(source, "must be a command line or a list of arguments", label, "start")
    cwd = _paths(raw, "cwd", source, label, base, single=True)
    if cwd and not Path(cwd[0]).is_dir():
        raise ConfigError(source, f"{cwd[0]!r} is not a directory", label, "cwd")
    env_file = _paths(raw, "env_file", source, label, base, single=True)
    env_raw = raw.get("env", {})
    if not isinstance(env_raw, dict) or not all(isinstance(v, str | int | float | bool) for v in env_raw.values()):
        raise ConfigError(source, 'must be a table of NAME = "value" pairs', label, "env")
    stop_signal = raw.get("stop_signal", "SIGTERM")
    if not isinstance(stop_signal, str) or stop_signal.upper() not in STOP_SIGNALS:
        raise ConfigError(source, f"{stop_signal!r} is not one of {', '.join(STOP_SIGNALS)}", label, "stop_signal")
    autorestart = raw.get("autorestart", False)
    if not isinstance(autorestart, bool):
        raise ConfigError(source, "must be true or false", label, "autorestart")
    return ManagedConfig(
        command=command,
        shell=shell,
        cwd=cwd[0] if cwd else str(base),
        env_file=env_file[0] if env_file else None,
        env=tuple((str(k), _env_text(v)) for k, v in env_raw.items()),
        stop_signal=stop_signal.upper(),
        stop_timeout=_number(raw, "stop_timeout", 10.0, source, label, low=0.1, high=3600, unit="seconds"),
        start_timeout=_number(raw, "start_timeout", 30.0, source, label, low=0.5, high=3600, unit="seconds"),
        autorestart=autorestart,
    )


def _env_text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _paths(
    raw: dict[str, Any], key: str, source: str, label: str, base: Path, *, single: bool = False
) -> tuple[str, ...]:
    """Paths from a key (a string, or a list of strings unless ``single``), ~ and relative to the config file."""
    value = raw.get(key)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        what = "a path" if single else "a path or a list of paths"
        raise ConfigError(source, f"must be {what}", label, key)
    if single and len(items) != 1:
        raise ConfigError(source, "must be a single path", label, key)
    return tuple(str((base / Path(v).expanduser()).resolve()) for v in items)


def _http_target(raw: dict[str, Any], source: str, label: str) -> tuple[str, str, int]:
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(source, "is required for kind http (e.g. http://127.0.0.1:5000/api/health)", label, "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(source, f"{redact_uri(url)!r} is not an http:// or https:// URL with a host", label, "url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(source, f"{redact_uri(url)!r} has a port out of range (1-65535)", label, "url") from None
    return url, parts.hostname, port


def _tls(raw: dict[str, Any], url: str, source: str, label: str, base: Path) -> tuple[str | None, bool]:
    """``tls_ca_file`` (a PEM file of CA certificates, loaded here to check it) and ``tls_verify``."""
    verify = raw.get("tls_verify", True)
    if not isinstance(verify, bool):
        raise ConfigError(source, f"must be true or false, not {verify!r}", label, "tls_verify")
    https = urlsplit(url).scheme == "https"
    for key in ("tls_verify", "tls_ca_file"):
        if key in raw and not https:
            raise ConfigError(source, "only applies to an https:// url", label, key)
    paths = _paths(raw, "tls_ca_file", source, label, base, single=True)
    if not paths:
        return None, verify
    if not verify:
        raise ConfigError(source, "has no effect with tls_verify = false; keep one of the two", label, "tls_ca_file")
    path = paths[0]
    if not Path(path).is_file():
        raise ConfigError(source, f"{path!r}: no such file", label, "tls_ca_file")
    import ssl  # only a config with a CA file pays for it (issue #12: commands start at once)

    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise ConfigError(
            source, f"{path!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", label, "tls_ca_file"
        ) from None
    except OSError as exc:
        raise ConfigError(source, f"{path!r} cannot be read ({exc.strerror or exc})", label, "tls_ca_file") from None
    return path, verify


def _mongo_target(raw: dict[str, Any], source: str, label: str) -> tuple[str, str | None, int | None, tuple[str, ...]]:
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri:
        raise ConfigError(source, "is required for kind mongo (e.g. mongodb://127.0.0.1:27017)", label, "uri")
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError(source, f"{redact_uri(uri)!r} must start with mongodb:// or mongodb+srv://", label, "uri")
    hosts, secrets = mongo_hosts(uri)
    if not hosts:
        raise ConfigError(source, f"{redact_uri(uri)!r} names no host", label, "uri")
    host, port = hosts[0]
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(source, f"{redact_uri(uri)!r} has a port out of range (1-65535)", label, "uri")
    problem = _mongo_uri_problem(uri)
    if problem is not None:
        raise ConfigError(source, scrub(problem, secrets), label, "uri")
    if uri.startswith("mongodb+srv://"):
        port = None  # the real port comes from DNS SRV records
    elif port is None:
        port = 27017
    return uri, host, port, secrets


#: characters MongoDB does not allow in a database name (the URI's path)
_BAD_DB_CHARS = frozenset('/\\ "$')


def _mongo_uri_problem(uri: str) -> str | None:
    """What is wrong with a MongoDB URI's shape, or None; plain string handling, no DNS.

    The user info must be percent-escaped (RFC 3986, as the driver requires) and the
    database name must be one MongoDB accepts. URI options are validated by pymongo's own
    parser, imported only for a URI that has options, so that a configuration without them
    (the common local ``mongodb://127.0.0.1:27017``) does not load the driver for commands
    such as ``trayapp ports`` (issue #12). Only ``mongodb://``: parsing ``mongodb+srv://``
    looks up DNS records, and the probe reports those failures as ``dns``.
    """
    if not uri.startswith("mongodb://"):
        return None
    remainder = uri.removeprefix("mongodb://")
    at = remainder.rfind("@")
    userinfo, rest = (remainder[:at], remainder[at + 1 :]) if at >= 0 else ("", remainder)
    for part in userinfo.split(":", 1):
        unescaped = [ch for ch in ":/?#[]@" if ch in part]
        if unescaped or _bad_percent(part):
            return "Username and password must be escaped according to RFC 3986, use urllib.parse.quote_plus"
    slash = rest.find("/")
    path, _, query = rest[slash + 1 :].partition("?") if slash >= 0 else ("", "", rest.partition("?")[2])
    database = unquote(path.partition("#")[0])
    if _BAD_DB_CHARS.intersection(database.partition(".")[0]):  # "db.collection" names a database too
        return "Bad database name"
    if query.strip("&"):
        from pymongo.errors import ConfigurationError, InvalidURI
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(uri, warn=False)
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            return str(exc)
    return None


def _bad_percent(text: str) -> bool:
    """Whether ``text`` has a '%' that does not start a two-digit hex escape."""
    pos = text.find("%")
    while pos >= 0:
        escape = text[pos + 1 : pos + 3]
        if len(escape) < 2 or any(ch not in "0123456789abcdefABCDEF" for ch in escape):
            return True
        pos = text.find("%", pos + 3)
    return False


def _port(value: object, source: str, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(source, f"{value!r} is out of range (a whole number from 1 to 65535)", label, "port")
    return value


def _number(
    raw: dict[str, Any], key: str, default: float, source: str, label: str, *, low: float, high: float, unit: str
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(source, f"must be a number of {unit}, not {value!r}", label, key)
    if value <= 0:
        raise ConfigError(source, f"must be greater than 0, not {value!r}", label, key)
    if not low <= value <= high:
        raise ConfigError(source, f"{value!r} is out of range ({low} to {high})", label, key)
    return float(value)


def _reject_unknown(raw: dict[str, Any], allowed: set[str], source: str, label: str | None, *, hint: str) -> None:
    for key in raw:
        if key not in allowed:
            import difflib  # only for a mistake

            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            suggestion = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(sorted(allowed))})"
            raise ConfigError(source, f"is not a known {hint}{suggestion}", label, key)
