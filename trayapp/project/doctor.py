"""``trayapp doctor``: a project checked the way an experienced colleague would before anyone
runs it. Each :class:`Finding` has a severity, one sentence, the ``file:line`` it is about
and the fix.

What is looked at (issue #10 section 6): environment variables the server code reads that
nothing sets, ``VITE_*`` variables the client reads that are unset, ``.env`` problems
(duplicates, unquoted or trailing spaces, a byte-order mark, CRLF, lines that are not
``KEY=value``), the Vite proxy against the backend (port, address family), the backend's and
the dev server's port held now by a process outside the project, two services on one port,
a MongoDB URI that does not answer a bounded ping or rejects its credentials,
``node_modules`` missing, and a Node version outside ``engines.node``. Plus, as notes, what
discovery could not read.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import nodesemver

from trayapp.checks.checker import lookup_owners
from trayapp.checks.ports import describe_owner
from trayapp.checks.probes import MongoProbe
from trayapp.config.load import ServiceConfig
from trayapp.config.redact import mongo_hosts, redact_uri, uri_secrets
from trayapp.model import Kind, Listener, ProbeOutcome, Reason
from trayapp.project import jscode
from trayapp.project.discover import (
    DiscoveredService,
    Discovery,
    code_files,
    discover,
    family,
    localhost_order,
)
from trayapp.project.envfiles import ENV_FILES, EnvFile, env_files, merged, relative, shown
from trayapp.project.packagejson import Package, runner

log = logging.getLogger(__name__)

#: the bound on each MongoDB ping, seconds
PING_TIMEOUT_S = 2.0
NODE_VERSION_TIMEOUT_S = 5.0
#: variables set by the tools that run the code, or read only to compare (not the project's to set)
TOOL_VARIABLES = frozenset({"NODE_ENV", "CI", "DEBUG", "npm_lifecycle_event", "npm_package_version", "PWD", "HOME"})
#: import.meta.env keys Vite itself provides
VITE_BUILTINS = frozenset({"MODE", "DEV", "PROD", "SSR", "BASE_URL"})
_ANY = ("0.0.0.0", "::")

OwnerLookup = Callable[[Iterable[int]], Sequence[Listener]]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    #: a stable name for the kind of finding ("proxy_port", "env_unset", ...)
    code: str
    message: str
    #: ``file:line`` relative to the project root, or None when it is about no one file
    where: str | None
    fix: str

    def to_json(self) -> dict[str, object]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "where": self.where,
            "fix": self.fix,
        }


def doctor(
    root: Path,
    *,
    environ: Mapping[str, str] | None = None,
    owners: OwnerLookup = lookup_owners,
    node_version: Callable[[], str | None] | None = None,
    discovery: Discovery | None = None,
) -> list[Finding]:
    """Every finding for the project at ``root``, errors first. Never raises for what the
    project's files say."""
    root = root.resolve()
    environ = os.environ if environ is None else environ
    found = discovery or discover(root, probe_health=False)
    findings: list[Finding] = []
    findings += _server_env(found, environ)
    findings += _client_env(found, environ)
    findings += _env_file_problems(found)
    findings += _proxy(found, owners)
    findings += _ports(found, owners)
    findings += _mongo(found)
    findings += _node_modules(found)
    findings += _node_engines(found, node_version or installed_node_version)
    findings += [Finding(Severity.INFO, "not_read", _sentence(note), None, "") for note in found.notes]
    for service in found.services:
        if service.role == "backend" and service.port is None:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "port_unknown",
                    _sentence(service.notes[0]) if service.notes else f"{service.name}'s port is unknown.",
                    service.package.manifest if service.package else None,
                    f"set PORT in {_rel_file(service.cwd or '.', '.env')}",
                )
            )
    rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(findings, key=lambda f: rank[f.severity])


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


# --------------------------------------------------------------------------- environment variables


def _server_env(found: Discovery, environ: Mapping[str, str]) -> list[Finding]:
    findings = []
    for backend in (s for s in found.services if s.role == "backend" and s.package is not None):
        package = backend.package
        assert package is not None
        chain = list(found.env.get(package.rel, ()))
        values = merged(chain)
        first: dict[str, tuple[str, jscode.EnvRead]] = {}
        with_fallback: set[str] = set()
        for path in code_files(package, found.root):
            source = jscode.parse(path)
            if source is None:
                continue
            for read in jscode.env_reads(source):
                if read.fallback:
                    with_fallback.add(read.name)
                else:
                    first.setdefault(read.name, (relative(path, found.root), read))
        for name, (file, read) in first.items():
            if name in values or name in environ or name in TOOL_VARIABLES or name in with_fallback:
                continue
            files = _env_names(package, found.root)
            findings.append(
                Finding(
                    Severity.WARNING,
                    "env_unset",
                    f"{backend.name}'s code reads {name} ({read.code}), but no .env file ({files}) and no "
                    "environment variable sets it, so it is undefined there.",
                    f"{file}:{read.line}",
                    f"add {name}=... to {_rel_file(package.rel, '.env')}",
                )
            )
    return findings


def _client_env(found: Discovery, environ: Mapping[str, str]) -> list[Finding]:
    findings = []
    for frontend in (s for s in found.services if s.role == "frontend" and s.package is not None):
        package = frontend.package
        assert package is not None
        vite = found.vite.get(package.rel)
        env_dir = vite.env_dir if vite is not None else package.dir
        values = merged(env_files(env_dir, found.root))
        seen: set[str] = set()
        for path in _client_files(package.dir):
            source = jscode.parse(path)
            if source is None:
                continue
            for read in jscode.env_reads(source, meta=True):
                if not read.name.startswith("VITE_") or read.name in seen or read.fallback:
                    continue
                seen.add(read.name)
                if read.name in values or read.name in environ:
                    continue
                where = relative(env_dir, found.root)
                findings.append(
                    Finding(
                        Severity.WARNING,
                        "vite_env_unset",
                        f"{frontend.name}'s code reads import.meta.env.{read.name}, but no .env file in "
                        f"{where or '.'} and no environment variable sets it, so it is undefined in the browser.",
                        f"{relative(path, found.root)}:{read.line}",
                        f"add {read.name}=... to {_rel_file(where or '.', '.env')}",
                    )
                )
    return findings


def _client_files(folder: Path) -> Iterable[Path]:
    count = 0
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if d not in ("node_modules", "dist", "build", ".git") and not d.startswith(".")
        )
        for file in sorted(files):
            if file.endswith(jscode.JS_SUFFIXES) and not file.startswith("vite.config."):
                count += 1
                if count > 300:
                    return
                yield Path(here) / file


def _env_names(package: Package, root: Path) -> str:
    return ", ".join(_rel_file(package.rel, name) for name in ENV_FILES[:2])


def _rel_file(folder: str, name: str) -> str:
    return name if folder in (".", "") else f"{folder}/{name}"


# --------------------------------------------------------------------------- .env files


def _env_file_problems(found: Discovery) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[Path] = set()
    files = [f for chain in found.env.values() for f in chain]
    for vite in found.vite.values():
        files += env_files(vite.env_dir, found.root)
    for env in files:
        if env.path in seen:
            continue
        seen.add(env.path)
        findings += _one_env_file(env)
    return findings


def _one_env_file(env: EnvFile) -> list[Finding]:
    rel = env.rel
    if env.problem is not None:
        return [Finding(Severity.ERROR, "env_unreadable", f"{rel} {env.problem}.", rel, f"fix or remove {rel}")]
    findings = []
    if env.bom:
        findings.append(
            Finding(
                Severity.WARNING,
                "env_bom",
                f"{rel} starts with a UTF-8 byte-order mark: Node's dotenv skips it, but a shell that sources the "
                f"file, Docker's env_file and other loaders read the first key with the mark in front of it.",
                f"{rel}:1",
                "save the file as UTF-8 without a byte-order mark",
            )
        )
    if env.crlf:
        findings.append(
            Finding(
                Severity.INFO,
                "env_crlf",
                f"{rel} has Windows line ends (CRLF): dotenv and Vite read them, but a shell that sources the file "
                "keeps a carriage return at the end of every value.",
                f"{rel}:1",
                "convert it to LF line ends (dos2unix, or your editor's line-ending setting)",
            )
        )
    first: dict[str, tuple[int, str | None]] = {}
    for entry in env.entries:
        if entry.key in first and first[entry.key][1] != entry.value:
            line, value = first[entry.key]
            findings.append(
                Finding(
                    Severity.WARNING,
                    "env_duplicate",
                    f"{entry.key} is set twice in {rel} with different values ({shown(entry.key, value)} at line "
                    f"{line}, {shown(entry.key, entry.value)} at line {entry.line}); dotenv uses the last one.",
                    f"{rel}:{entry.line}",
                    f"keep one {entry.key} line",
                )
            )
        first.setdefault(entry.key, (entry.line, entry.value))
        findings += _quoting(entry.key, entry.raw, rel, entry.line)
    for line, text in env.bad_lines:
        findings.append(
            Finding(
                Severity.WARNING,
                "env_bad_line",
                f"line {line} of {rel} is not KEY=value ({_excerpt(text)}): dotenv skips it.",
                f"{rel}:{line}",
                "write it as KEY=value, or start it with # to make it a comment",
            )
        )
    return findings


def _quoting(key: str, raw: str, rel: str, line: int) -> list[Finding]:
    value = raw.split(" #", 1)[0] if not raw.lstrip().startswith(("'", '"', "`")) else None
    if value is None:
        return []
    findings = []
    if value != value.rstrip():
        findings.append(
            Finding(
                Severity.WARNING,
                "env_trailing_space",
                f"{key}'s value in {rel} ends with a space: dotenv drops it, but a shell or Docker's env_file may "
                "keep it.",
                f"{rel}:{line}",
                f"remove the space after {key}'s value, or quote the value if the space is meant",
            )
        )
    if " " in value.strip():
        findings.append(
            Finding(
                Severity.WARNING,
                "env_unquoted_spaces",
                f"{key}'s value in {rel} has spaces but no quotes: dotenv reads it whole, but a shell that sources "
                "the file stops at the first space.",
                f"{rel}:{line}",
                f'put the value in quotes: {key}="..."',
            )
        )
    return findings


def _excerpt(text: str, limit: int = 40) -> str:
    text = text.strip()
    if "=" in text:  # a line that failed to parse may still hold a secret after '='
        text = text.split("=", 1)[0] + "=…"
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --------------------------------------------------------------------------- proxy


def _proxy(found: Discovery, owners: OwnerLookup) -> list[Finding]:
    findings = []
    services = {s.name: s for s in found.services}
    for frontend in (s for s in found.services if s.role == "frontend" and s.proxy is not None):
        rule = frontend.proxy
        backend = services.get(frontend.proxy_to or "")
        if rule is None or rule.target is None or backend is None or backend.port is None:
            continue
        target = rule.target
        port_where = backend.port_fact.where if backend.port_fact else "?"
        if rule.port is not None and rule.port != backend.port:
            host = rule.host or "localhost"
            findings.append(
                Finding(
                    Severity.ERROR,
                    "proxy_port",
                    f"Vite's {rule.path} proxy targets port {rule.port} ({target.where}), but {backend.name} listens "
                    f"on {backend.port} ({port_where}): every {rule.path} call fails with 502.",
                    target.where,
                    f"set the target to http://{_url_host(host)}:{backend.port}, or {backend.name}'s PORT to "
                    f"{rule.port}",
                )
            )
            continue
        bound, how = _bound_families(backend, owners)
        if not bound or rule.host is None:
            continue
        findings += _family_findings(rule.path, target.value, target.where, rule.host, backend, bound, how)
    return findings


def _bound_families(backend: DiscoveredService, owners: OwnerLookup) -> tuple[set[int], str]:
    """The address families the backend accepts connections on, and how that is known."""
    assert backend.port is not None
    listening = [x for x in owners([backend.port]) if x.port == backend.port]
    if listening:
        families: set[int] = set()
        for x in listening:
            if x.address == "::":  # Linux's dual-stack default takes IPv4 too
                families |= {family("::1"), family("127.0.0.1")}
            else:
                families.add(family(x.address))
        addresses = ", ".join(sorted({x.address for x in listening}))
        return families, f"listens on {addresses} now"
    if backend.binds is not None:
        address = backend.binds.value.strip("[]")
        if address in _ANY or address == "localhost" or address == "":
            return set(), ""
        return {family(address)}, f"binds {address} ({backend.binds.where})"
    return set(), ""  # Node's default listen() takes both families


def _family_findings(
    path: str, url: str, where: str, host: str, backend: DiscoveredService, bound: set[int], how: str
) -> list[Finding]:
    v4 = family("127.0.0.1")
    if len(bound) != 1:
        return []
    only = "127.0.0.1" if bound == {v4} else "::1"
    other = "::1" if only == "127.0.0.1" else "127.0.0.1"
    fix = (
        f"set the target to http://{_url_host(only)}:{backend.port}, or make {backend.name} listen on both "
        "(no HOST, or HOST=::)"
    )
    if host.lower() == "localhost":
        order = localhost_order()
        if not order:
            return []
        reachable = [a for a in order if family(a) in bound]
        first = order[0]
        if not reachable:
            return [
                Finding(
                    Severity.ERROR,
                    "proxy_family",
                    f"Vite's {path} proxy targets {url} ({where}); localhost resolves to {', '.join(order)} here, "
                    f"but {backend.name} {how}, IPv{4 if only == '127.0.0.1' else 6} only: every {path} call fails "
                    f"with 502 (ECONNREFUSED {_url_host(first)}:{backend.port}).",
                    where,
                    fix,
                )
            ]
        if family(first) not in bound:
            return [
                Finding(
                    Severity.WARNING,
                    "proxy_family",
                    f"Vite's {path} proxy targets {url} ({where}); localhost resolves to {first} first here, but "
                    f"{backend.name} {how}, {only} only: Node before 20, and clients that do not try the next "
                    f"address, get ECONNREFUSED {_url_host(first)}:{backend.port}.",
                    where,
                    fix,
                )
            ]
        return []
    address = host.strip("[]")
    try:
        wanted = family(address) if address.replace(".", "").isdigit() or ":" in address else None
    except ValueError:
        wanted = None
    if wanted is not None and wanted not in bound:
        return [
            Finding(
                Severity.ERROR,
                "proxy_family",
                f"Vite's {path} proxy targets {url} ({where}), but {backend.name} {how}, {only} only: every {path} "
                f"call fails with 502 (ECONNREFUSED {_url_host(address)}:{backend.port}).",
                where,
                f"set the target to http://{_url_host(only)}:{backend.port}, or make {backend.name} listen on "
                f"{other} too (no HOST, or HOST=::)",
            )
        ]
    return []


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# --------------------------------------------------------------------------- ports


def _ports(found: Discovery, owners: OwnerLookup) -> list[Finding]:
    findings = []
    watched = [s for s in found.services if s.port is not None and s.role in ("backend", "frontend")]
    by_port: dict[int, list[DiscoveredService]] = {}
    for service in found.services:
        if service.port is not None and (service.role != "db" or _is_local(service.host)):
            by_port.setdefault(service.port, []).append(service)
    for port, sharing in sorted(by_port.items()):
        if len(sharing) > 1:
            names = " and ".join(f"{s.name} ({_port_where(s)})" for s in sharing)
            findings.append(
                Finding(
                    Severity.ERROR,
                    "port_shared",
                    f"{names} both use port {port}: whichever starts second fails with EADDRINUSE.",
                    _port_where(sharing[1]),
                    f"give {sharing[1].name} another port",
                )
            )
    ports = {s.port for s in watched if s.port is not None}
    holders = owners(ports) if ports else []
    for service in watched:
        outside = [x for x in holders if x.port == service.port and not _inside(x, found.root)]
        seen: set[int | None] = set()
        for holder in outside:
            if holder.pid in seen:
                continue
            seen.add(holder.pid)
            findings.append(
                Finding(
                    Severity.ERROR,
                    "port_taken",
                    f"port {service.port} ({_port_where(service)}) is held now by {describe_owner(holder)}, which "
                    f"is not part of this project: {service.name} will fail to start with EADDRINUSE.",
                    _port_where(service),
                    f"stop it (trayapp kill {service.port}) or give {service.name} another port",
                )
            )
    return findings


def _port_where(service: DiscoveredService) -> str:
    if service.port_fact is not None:
        return service.port_fact.where
    if service.uri_fact is not None:
        return service.uri_fact.where
    return "?"


def _is_local(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def _inside(listener: Listener, root: Path) -> bool:
    """Whether a listening process belongs to the project: its cwd or a path on its command line is in it."""
    candidates = [listener.cwd] if listener.cwd else []
    candidates += [arg for arg in listener.cmdline or () if arg.startswith("/")]
    for candidate in candidates:
        try:
            path = Path(candidate).resolve()
        except (OSError, ValueError):
            continue
        if path == root or root in path.parents:
            return True
    return False


# --------------------------------------------------------------------------- MongoDB


def _mongo(found: Discovery) -> list[Finding]:
    findings = []
    for db in (s for s in found.services if s.role == "db" and s.uri_fact is not None):
        fact = db.uri_fact
        assert fact is not None
        outcome = ping(fact.value)
        finding = mongo_finding(outcome, fact.value, fact.where, fact.said.split("=", 1)[0] if "=" in fact.said else "")
        if finding is not None:
            findings.append(finding)
    return findings


def ping(uri: str, timeout: float = PING_TIMEOUT_S) -> ProbeOutcome:
    """One bounded ``ping`` with the URI as the project has it (credentials included)."""
    hosts, secrets = mongo_hosts(uri)
    host, port = hosts[0] if hosts else (None, None)
    if port is None and uri.startswith("mongodb://"):
        port = 27017
    if uri.startswith("mongodb+srv://"):
        port = None
    service = ServiceConfig(
        name="db", kind=Kind.MONGO, target=uri, host=host, port=port, timeout=timeout, secrets=uri_secrets(uri)
    )
    probe = MongoProbe(service)
    try:
        return probe.check()
    finally:
        probe.close()


def mongo_finding(outcome: ProbeOutcome, uri: str, where: str, key: str) -> Finding | None:
    """The finding for a ping's outcome (None when it answered). Everything shown is redacted."""
    shown_uri = redact_uri(uri)
    named = f"{key} ({shown_uri})" if key else shown_uri
    if outcome.reason is Reason.OK:
        return None
    if outcome.reason is Reason.AUTH_FAILED:
        return Finding(
            Severity.ERROR,
            "mongo_auth",
            f"{named} answers, but rejects its credentials ({outcome.detail}).",
            where,
            f"correct the user name or password in {where.split(':')[0]}, or create that user in MongoDB",
        )
    return Finding(
        Severity.ERROR,
        "mongo_unreachable",
        f"{named} does not answer a ping within {PING_TIMEOUT_S:g} s ({outcome.reason}: {outcome.detail}).",
        where,
        "start MongoDB (for example docker compose up -d), or correct the host and port in the URI",
    )


# --------------------------------------------------------------------------- node


def _node_modules(found: Discovery) -> list[Finding]:
    findings = []
    for package in found.packages:
        if not package.dependencies or package.problem:
            continue
        folders = [package.dir, *[p for p in package.dir.parents if found.root in (p, *p.parents)]]
        if any((folder / "node_modules").is_dir() for folder in folders):
            continue
        where = package.rel if package.rel != "." else "the project root"
        listed = _count(len(package.dependencies), "dependency", "dependencies")
        findings.append(
            Finding(
                Severity.ERROR,
                "node_modules_missing",
                f"{package.manifest} lists {listed}, but there is no node_modules in {where} (or above it): "
                "it cannot start.",
                package.manifest,
                f"run `{runner(package, found.root)} install` in {where}",
            )
        )
    return findings


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def installed_node_version() -> str | None:
    """``node --version`` here (without the ``v``), or None when there is no node (bounded)."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run(
            [node, "--version"],
            capture_output=True,
            text=True,
            timeout=NODE_VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    return text[1:] if text.startswith("v") else text or None


def _node_engines(found: Discovery, node_version: Callable[[], str | None]) -> list[Finding]:
    wanted = [p for p in found.packages if p.engines_node is not None]
    if not wanted:
        return []
    version = node_version()
    findings = []
    for package in wanted:
        fact = package.engines_node
        assert fact is not None
        if version is None:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "node_missing",
                    f"{package.manifest} wants Node {fact.value}, but there is no node on PATH here.",
                    fact.where,
                    "install Node in that range (nvm install, or your package manager)",
                )
            )
            break
        if nodesemver.valid_range(fact.value, loose=True) is None:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "node_engines_invalid",
                    f"engines.node {fact.value!r} is not a version range npm understands.",
                    fact.where,
                    'write a semver range, for example ">=20"',
                )
            )
        elif not nodesemver.satisfies(version, fact.value, loose=True):
            findings.append(
                Finding(
                    Severity.WARNING,
                    "node_version",
                    f"Node {version} here is outside engines.node {fact.value!r} of {package.manifest}: npm warns "
                    "at install, and code that needs another Node may fail.",
                    fact.where,
                    f"switch to a Node in {fact.value!r} (nvm install / nvm use)",
                )
            )
    return findings


def summary(findings: list[Finding]) -> str:
    counts = {severity: sum(f.severity is severity for f in findings) for severity in Severity}
    parts = [
        f"{counts[Severity.ERROR]} error{'s' if counts[Severity.ERROR] != 1 else ''}",
        f"{counts[Severity.WARNING]} warning{'s' if counts[Severity.WARNING] != 1 else ''}",
        f"{counts[Severity.INFO]} note{'s' if counts[Severity.INFO] != 1 else ''}",
    ]
    return ", ".join(parts)
