"""The Vite config (``vite.config.{js,mjs,cjs,ts,mts}``): the dev server's port, host and proxy.

Read as Vite itself reads it when the project has Vite installed (``node_modules/vite`` in
the config's folder or above): ``vite_load.mjs`` runs under Node with the project's own Vite
(``loadConfigFromFile``, so TypeScript, ``defineConfig(({ mode }) => ...)``, ``loadEnv`` and
``process.env`` all count), without a shell and bounded by :data:`NODE_TIMEOUT_S`. Otherwise,
or when that fails, the common literal forms are read from the source (:mod:`jscode`) and
every value that could not be read is named. Lines always come from the source.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from trayapp.project import jscode
from trayapp.project.envfiles import relative
from trayapp.project.facts import Fact

log = logging.getLogger(__name__)

VITE_CONFIGS = ("vite.config.ts", "vite.config.mts", "vite.config.js", "vite.config.mjs", "vite.config.cjs")
#: Vite's own defaults (vite.dev/config/server-options)
VITE_DEFAULT_PORT = 5173
VITE_DEFAULT_HOST = "localhost"
NODE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ProxyRule:
    """``server.proxy['/api']``: requests whose path starts with ``path`` go to ``target``."""

    path: str
    line: int
    target: Fact[str] | None  # None when it could not be read
    rewrite: bool  # a ``rewrite`` function changes the path on the way

    @property
    def host(self) -> str | None:
        return urlsplit(self.target.value).hostname if self.target else None

    @property
    def port(self) -> int | None:
        if self.target is None:
            return None
        parts = urlsplit(self.target.value)
        try:
            return parts.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme)
        except ValueError:
            return None


@dataclass(frozen=True)
class ViteConfig:
    path: Path
    file: str  # relative to the project root
    port: Fact[int]  # Vite's default (line 0) when the config sets none
    host: Fact[str]  # "localhost" by default; "true" listens on every address
    proxy: tuple[ProxyRule, ...]
    #: "vite" (loaded through Node with the project's Vite) or "static" (read from the source)
    how: str
    vite_version: str | None
    #: the folder Vite loads VITE_* variables from (envDir; the config's root by default)
    env_dir: Path
    #: what could not be read, one sentence each
    unread: tuple[str, ...] = ()


def find_vite_config(folder: Path) -> Path | None:
    return next((folder / n for n in VITE_CONFIGS if (folder / n).is_file()), None)


def vite_package(start: Path, root: Path) -> Path | None:
    """``node_modules/vite`` as Node would find it from ``start`` (looking up to ``root``)."""
    for folder in [start, *start.parents]:
        candidate = folder / "node_modules" / "vite" / "package.json"
        if candidate.is_file():
            return candidate.parent
        if folder == root or folder == folder.parent:
            break
    return None


def read_vite_config(path: Path, root: Path) -> ViteConfig:
    rel = relative(path, root)
    source = jscode.parse(path)
    static = jscode.vite_server(source) if source is not None else jscode.ViteServer()
    unread: list[str] = []
    if source is None:
        unread.append(f"{rel} could not be read")
    loaded: dict[str, object] | None = None
    if vite_package(path.parent, root) is not None:
        loaded, problem = load_with_vite(path)
        if problem is not None:
            unread.append(f"loading {rel} with the project's Vite failed ({problem}); read from the source instead")
    if loaded is not None:
        return _from_vite(path, rel, loaded, static, unread)
    return _from_source(path, rel, static, unread, installed=vite_package(path.parent, root) is not None)


def load_with_vite(path: Path, mode: str = "development") -> tuple[dict[str, object] | None, str | None]:
    """Run ``vite_load.mjs`` on ``path``: the JSON it prints, or why there is none."""
    node = shutil.which("node")
    if node is None:
        return None, "node is not on PATH"
    with resources.as_file(resources.files("trayapp.project") / "vite_load.mjs") as script:
        try:
            proc = subprocess.Popen(
                [node, str(script), str(path), mode],
                cwd=path.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a timeout can stop whatever the config started
            )
        except OSError as exc:
            return None, f"cannot run node: {exc.strerror or exc}"
        try:
            out, err = proc.communicate(timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return None, f"it did not finish within {NODE_TIMEOUT_S:g} s"
    if proc.returncode != 0:
        lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        said = next((line.strip() for line in lines if "Error" in line), lines[0].strip() if lines else "no output")
        return None, f"node exited with {proc.returncode}: {said[:200]}"
    try:
        data = json.loads(out.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return None, "its output was not JSON"
    return (data, None) if isinstance(data, dict) else (None, "its output was not a JSON object")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate(timeout=5)


def _from_vite(
    path: Path, rel: str, data: dict[str, object], static: jscode.ViteServer, unread: list[str]
) -> ViteConfig:
    port_value = data.get("port")
    if isinstance(port_value, int) and not isinstance(port_value, bool):
        line = static.port.line if static.port else static.line
        said = f"server.port: {static.port.code}" if static.port else f"server.port = {port_value}"
        if static.port and static.port.value != port_value:
            said += f" (= {port_value})"
        port = Fact(port_value, rel, line, said)
    else:
        port = Fact(VITE_DEFAULT_PORT, rel, 0, f"no server.port: Vite's default {VITE_DEFAULT_PORT}")
    host_value = data.get("host")
    if isinstance(host_value, str | bool) and host_value is not False:
        line = static.host.line if static.host else static.line
        host = Fact(str(host_value).lower() if host_value is True else str(host_value), rel, line, "")
        host = Fact(host.value, rel, line, f"server.host: {static.host.code if static.host else host.value}")
    else:
        host = Fact(VITE_DEFAULT_HOST, rel, 0, f"no server.host: Vite's default {VITE_DEFAULT_HOST}")
    rules: list[ProxyRule] = []
    raw_proxy = data.get("proxy")
    by_path = {entry.path: entry for entry in static.proxy}
    for key, value in raw_proxy.items() if isinstance(raw_proxy, dict) else []:
        entry = by_path.get(key)
        target = value.get("target") if isinstance(value, dict) else None
        line = entry.target_line if entry else (static.proxy_line or static.line)
        fact = None
        if isinstance(target, str):
            said = f"target: {entry.target_code}" if entry else f"target {target}"
            if entry and entry.target != target:
                said += f" (= {target})"
            fact = Fact(target, rel, line, said)
        rewrite = bool(value.get("rewrite")) if isinstance(value, dict) else False
        rules.append(ProxyRule(str(key), entry.line if entry else line, fact, rewrite))
    env_dir = Path(str(data["envDir"])) if isinstance(data.get("envDir"), str) else path.parent
    version = data.get("vite") if isinstance(data.get("vite"), str) else None
    return ViteConfig(path, rel, port, host, tuple(rules), "vite", version, env_dir, tuple(unread))  # type: ignore[arg-type]


def _from_source(path: Path, rel: str, static: jscode.ViteServer, unread: list[str], *, installed: bool) -> ViteConfig:
    why = "Vite is not installed here (no node_modules/vite)" if not installed else "Vite could not load it"
    if static.port is not None and isinstance(static.port.value, int) and not isinstance(static.port.value, bool):
        port = Fact(static.port.value, rel, static.port.line, f"server.port: {static.port.code}")
    elif static.port is not None:
        port = Fact(VITE_DEFAULT_PORT, rel, static.port.line, f"server.port: {static.port.code} (not read)")
        unread.append(
            f"server.port at {rel}:{static.port.line} is `{static.port.code}`, which only Vite can work out "
            f"and {why}: assuming Vite's default {VITE_DEFAULT_PORT}"
        )
    else:
        port = Fact(VITE_DEFAULT_PORT, rel, 0, f"no server.port: Vite's default {VITE_DEFAULT_PORT}")
    if static.host is not None and isinstance(static.host.value, str | bool) and static.host.value is not False:
        value = "true" if static.host.value is True else str(static.host.value)
        host = Fact(value, rel, static.host.line, f"server.host: {static.host.code}")
    else:
        host = Fact(VITE_DEFAULT_HOST, rel, 0, f"no server.host: Vite's default {VITE_DEFAULT_HOST}")
        if static.host is not None and static.host.value is None:
            unread.append(
                f"server.host at {rel}:{static.host.line} is `{static.host.code}`, which only Vite can work out "
                f"and {why}: assuming Vite's default {VITE_DEFAULT_HOST}"
            )
    rules = []
    for entry in static.proxy:
        fact = Fact(entry.target, rel, entry.target_line, f"target: {entry.target_code}") if entry.target else None
        if fact is None:
            unread.append(
                f"the target of server.proxy[{entry.path!r}] at {rel}:{entry.target_line} is "
                f"`{entry.target_code}`, which only Vite can work out and {why}"
            )
        rules.append(ProxyRule(entry.path, entry.line, fact, entry.rewrite))
    if "server.proxy" in static.unread:
        unread.append(f"server.proxy at {rel}:{static.proxy_line} is computed, and {why}")
    if "server" in static.unread:
        unread.append(f"the server block at {rel}:{static.line} is computed, and {why}")
    return ViteConfig(path, rel, port, host, tuple(rules), "static", None, path.parent, tuple(unread))
