"""The real web stack of ``tests/stack`` as child processes, for tests.

``tests/stack`` is an npm project (Express 5 + mongoose 9 backend, nodemon 3, Vite 8 dev server;
see its ``server/index.js`` and ``client/vite.config.js``) that ``scripts/test`` installs with
``npm ci`` when its lockfile changed. Every part runs here as a real process:

- the backend, directly (``node server/index.js``) or under nodemon (``nodemon server/index.js``);
- the Vite dev server (``node node_modules/vite/bin/vite.js``), proxying ``/api``;
- NX-27017 as MongoDB (:func:`tests.kit.servers.start_mongo`, re-exported here as ``start_db``).

Each process is started in its own session and process group, with stdin closed and its
stdout and stderr going to one log file, and is waited for on a condition (a line in that log),
never on a fixed sleep. Ports are free ones unless given. :class:`Stack` (the ``stack``
fixture in ``tests/conftest.py``) starts parts for one test and kills them all at teardown.

Processes run in a *project folder*: a copy of the stack's sources (``package.json``,
``nodemon.json``, ``server/``, ``client/``) with ``node_modules`` a symlink to the installed
one (:func:`make_project`). So a test may edit or touch files (nodemon reloads), add a ``.env``,
or run two checkouts (a stale one and the current one) without changing the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.kit.cli import REPO
from tests.kit.servers import Mongo, ServerStartError, free_port, start_mongo
from tests.kit.wait import wait_until

__all__ = [
    "STACK_DIR",
    "NodeProcess",
    "Nodemon",
    "Stack",
    "StackNotInstalled",
    "backend_command",
    "backend_env",
    "get_json",
    "make_project",
    "nodemon_command",
    "require_installed",
    "start_backend_node",
    "start_db",
    "start_nodemon",
    "start_vite",
    "vite_command",
    "vite_env",
]

STACK_DIR = REPO / "tests" / "stack"
NODE_MODULES = STACK_DIR / "node_modules"
#: written by ``ensure_node_stack`` in scripts/setup.sh: "<sha256 of package-lock.json> node-vX uname"
INSTALL_STAMP = NODE_MODULES / ".trayapp-installed"
SERVER_SCRIPT = "server/index.js"
VITE_CONFIG = "client/vite.config.js"
#: what :func:`make_project` copies (relative to STACK_DIR)
PROJECT_FILES = ("package.json", "package-lock.json", ".npmrc", "nodemon.json", "server", "client")

#: the backend prints this (with its port) from Express's listen callback, once it listens
LISTENING = "Server listening on port"
#: nodemon's line when the app exits on its own (non-zero or by a signal nodemon did not send)
NODEMON_CRASHED = "app crashed - waiting for file changes before starting..."
#: Vite's line once its dev server listens ("VITE v8.3.8  ready in 191 ms")
VITE_READY = "ready in"

#: variables of the runner's environment that would change what the stack does
_STACK_VARIABLES = (
    "PORT",
    "HOST",
    "MONGODB_URI",
    "MONGO_SERVER_SELECTION_MS",
    "MONGO_HEARTBEAT_MS",
    "MONGO_RETRY_MS",
    "CLIENT_PORT",
    "CLIENT_HOST",
    "API_PROXY_TARGET",
    "VITE_CACHE_DIR",
    "NODE_OPTIONS",
)

#: an opener that never goes through an HTTP(S)_PROXY from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackNotInstalled(RuntimeError):
    """Node or ``tests/stack/node_modules`` is missing, or was installed from another lockfile."""


def require_installed() -> str:
    """Path of ``node``; raises :class:`StackNotInstalled` with what to do when the stack cannot run."""
    node = shutil.which("node")
    if node is None:
        raise StackNotInstalled("node is not on PATH: the stack tests need Node.js 20.19 or newer")
    lock_hash = hashlib.sha256((STACK_DIR / "package-lock.json").read_bytes()).hexdigest()
    try:
        stamp = INSTALL_STAMP.read_text(encoding="utf-8").split()
    except OSError:
        stamp = []
    if not stamp or stamp[0] != lock_hash:
        raise StackNotInstalled(
            f"{NODE_MODULES} is missing or was not installed from this package-lock.json: "
            "run scripts/test once (it runs npm ci in tests/stack)"
        )
    return node


def make_project(dest: Path) -> Path:
    """Copy the stack's sources to ``dest`` (created) and link its ``node_modules``; returns ``dest``."""
    require_installed()
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = STACK_DIR / name
        if source.is_dir():
            shutil.copytree(source, dest / name, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest / name)
    link = dest / "node_modules"
    if not link.exists():
        link.symlink_to(NODE_MODULES, target_is_directory=True)
    return dest


# -- commands and environments (also for trayapp configs with a ``start`` command) -----------------


def backend_command(node: str | None = None) -> list[str]:
    """``node server/index.js``, to run in a project folder."""
    return [node or require_installed(), SERVER_SCRIPT]


def nodemon_command(node: str | None = None) -> list[str]:
    """``node node_modules/nodemon/bin/nodemon.js server/index.js`` (watches ``server/``, see nodemon.json)."""
    return [node or require_installed(), "node_modules/nodemon/bin/nodemon.js", SERVER_SCRIPT]


def vite_command(host: str | None = "127.0.0.1", node: str | None = None) -> list[str]:
    """Vite's dev server with the stack's config; ``--host HOST`` unless ``host`` is None (Vite's default)."""
    command = [node or require_installed(), "node_modules/vite/bin/vite.js", "--config", VITE_CONFIG]
    command += ["--clearScreen", "false"]
    if host is not None:
        command += ["--host", host]
    return command


def _base_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STACK_VARIABLES}
    env["BROWSER"] = "none"  # Vite opens nothing anyway (server.open is false); belt and braces
    env["NO_UPDATE_NOTIFIER"] = "1"
    env.update(extra or {})
    return env


def backend_env(
    port: int,
    mongodb_uri: str,
    host: str | None = None,
    server_selection_ms: int | None = 2000,
    heartbeat_ms: int | None = 500,
    retry_ms: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The backend's environment (see server/index.js). ``None`` leaves mongoose's own default.

    The defaults here are short so tests are quick: the driver's are 30 s to give up a first
    connect (serverSelectionTimeoutMS) and 10 s between heartbeats (how soon a stopped database
    turns the health answer to 503). ``retry_ms`` None is the tutorials' app: no second connect.
    """
    values = {"PORT": str(port), "MONGODB_URI": mongodb_uri}
    if host is not None:
        values["HOST"] = host
    if server_selection_ms is not None:
        values["MONGO_SERVER_SELECTION_MS"] = str(server_selection_ms)
    if heartbeat_ms is not None:
        values["MONGO_HEARTBEAT_MS"] = str(heartbeat_ms)
    if retry_ms is not None:
        values["MONGO_RETRY_MS"] = str(retry_ms)
    return _base_env({**values, **(extra or {})})


def vite_env(port: int, proxy_target: str, cache_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Vite's environment (see client/vite.config.js); its cache goes to ``cache_dir``, not node_modules."""
    values = {"CLIENT_PORT": str(port), "API_PROXY_TARGET": proxy_target, "VITE_CACHE_DIR": str(cache_dir)}
    return _base_env({**values, **(extra or {})})


# -- running processes ---------------------------------------------------------------------------------


@dataclass
class NodeProcess:
    """One started part of the stack: ``pid`` is the process started (node, nodemon or vite)."""

    name: str
    port: int
    pid: int
    log: Path
    project: Path
    host: str | None
    proc: subprocess.Popen[bytes] = field(repr=False)
    #: psutil's create_time of the started process (seconds since the epoch)
    started: float = 0.0

    def url(self, path: str = "/") -> str:
        """``http://HOST:PORT/path``; 127.0.0.1 when it listens on every address (``host`` None)."""
        host = self.host if self.host not in (None, "", "0.0.0.0", "::") else "127.0.0.1"
        assert host is not None
        return f"http://[{host}]:{self.port}{path}" if ":" in host else f"http://{host}:{self.port}{path}"

    def output(self) -> str:
        """Everything it wrote to stdout and stderr so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_for_output(self, text: str, count: int = 1, timeout: float = 15.0) -> None:
        """Wait until ``text`` occurs ``count`` times in its output; fails early if it exits."""
        _wait_for_output(self, text, count, timeout)

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait (bounded) until it exits; its exit code (negative: killed by that signal)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout} s:\n{self.output()}") from None

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to its whole process group (as Ctrl-C or a supervisor would)."""
        if self.proc.poll() is None:  # not reaped yet, so the group id cannot have been recycled
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM to the group, up to ``timeout`` s to exit, then SIGKILL; returns the exit code."""
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the process; then any of its session left over.

        Left over: a member still running after the leader was reaped (an app whose nodemon a
        test killed). Recognised by its session id, which is the leader's pid, and by having
        started after the leader, so a recycled pid is not hit.
        """
        self.signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)
        for process in psutil.process_iter(["pid", "create_time"]):
            try:
                if os.getsid(process.pid) == self.pid and process.info["create_time"] >= self.started:
                    process.kill()
            except (OSError, psutil.Error):
                continue


@dataclass
class Nodemon(NodeProcess):
    """The backend under nodemon: ``pid`` is nodemon's; the app is its child (:meth:`app_pid`)."""

    def app_pid(self) -> int | None:
        """Pid of the node process running server/index.js now, or None between runs."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return None
        for child in children:
            try:
                if SERVER_SCRIPT in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                    return child.pid
            except psutil.Error:
                continue
        return None

    def starts(self) -> int:
        """How many times nodemon has started the app so far."""
        return self.output().count("[nodemon] starting `")

    def watching(self, relative: str = SERVER_SCRIPT) -> bool:
        """True once nodemon's file watcher (chokidar on inotify) watches ``project/relative``.

        Read from the kernel: the inode is in the watch list of nodemon's inotify descriptor
        (``/proc/PID/fdinfo``). Before that, a change to the file would go unnoticed.
        """
        inode = os.stat(self.project / relative).st_ino
        return inode in _inotify_inodes(self.pid)

    def touch(self, relative: str = SERVER_SCRIPT, timeout: float = 15.0) -> None:
        """A file change under ``server/`` (an editor's save, in place): nodemon restarts the app.

        Waits first until nodemon watches that file, so the change cannot be missed.
        """
        wait_until(lambda: self.watching(relative), timeout=timeout, what=f"nodemon watching {relative}")
        (self.project / relative).touch()

    def kill_app(self, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` to the app (not nodemon) and wait until it is gone; returns its pid."""
        pid = self.app_pid()
        if pid is None:
            raise AssertionError(f"nodemon runs no app now:\n{self.output()}")
        app = psutil.Process(pid)
        app.send_signal(sig)
        app.wait(timeout=10)  # nodemon reaps it; psutil waits on the pid either way
        return pid


def _inotify_inodes(pid: int) -> set[int]:
    """Inodes watched by the inotify descriptors of ``pid`` (Linux ``/proc/PID/fdinfo``)."""
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
                lines = info.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("inotify "):
                fields = dict(part.split(":", 1) for part in line.split()[1:] if ":" in part)
                inodes.add(int(fields.get("ino", "0"), 16))
    return inodes


def _wait_for_output(process: NodeProcess, text: str, count: int, timeout: float) -> None:
    def seen() -> bool:
        if process.output().count(text) >= count:
            return True
        if process.proc.poll() is not None and process.output().count(text) < count:
            raise ServerStartError(
                f"{process.name} exited with {process.proc.returncode} before printing {text!r}"
                f" x{count}; its output:\n{process.output()}"
            )
        return False

    try:
        wait_until(seen, timeout=timeout, what=f"{text!r} x{count} from {process.name}")
    except AssertionError as exc:
        raise ServerStartError(f"{exc}; its output:\n{process.output()}") from None


def _spawn(
    cls: type[NodeProcess],
    name: str,
    command: list[str],
    env: dict[str, str],
    project: Path,
    log: Path,
    port: int,
    host: str | None,
) -> NodeProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        started = 0.0
    return cls(name=name, port=port, pid=proc.pid, log=log, project=project, host=host, proc=proc, started=started)


def start_backend_node(
    project: Path,
    log: Path,
    mongodb_uri: str,
    port: int | None = None,
    host: str | None = None,
    server_selection_ms: int | None = 2000,
    heartbeat_ms: int | None = 500,
    retry_ms: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    wait: bool = True,
    timeout: float = 15.0,
) -> NodeProcess:
    """``node server/index.js`` in ``project`` on ``port`` (a free one by default); its output to ``log``.

    ``host`` None is ``app.listen(PORT)``: every address, IPv6 and IPv4. The MongoDB settings
    are those of :func:`backend_env`. With ``wait`` it returns once the app printed "Server
    listening on port N" (it may still be connecting to MongoDB); without, at once (for a
    start that is meant to fail, e.g. EADDRINUSE: then :meth:`NodeProcess.wait_exit`).
    """
    port = free_port() if port is None else port
    environment = backend_env(port, mongodb_uri, host, server_selection_ms, heartbeat_ms, retry_ms, extra_env)
    process = _spawn(NodeProcess, "backend", backend_command(), environment, project, log, port, host)
    if wait:
        _start_or_kill(process, f"{LISTENING} {port}", timeout)
    return process


def start_nodemon(
    project: Path,
    log: Path,
    mongodb_uri: str,
    port: int | None = None,
    host: str | None = None,
    server_selection_ms: int | None = 2000,
    heartbeat_ms: int | None = 500,
    retry_ms: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    wait: bool = True,
    timeout: float = 15.0,
) -> Nodemon:
    """The backend under ``nodemon server/index.js`` in ``project``; arguments as :func:`start_backend_node`.

    nodemon forks the app into the same process group and writes its own lines
    (``[nodemon] starting `node server/index.js```, ``[nodemon] app crashed - waiting for file
    changes before starting...``, in ANSI colours as it does on any output) into the same log.
    """
    port = free_port() if port is None else port
    environment = backend_env(port, mongodb_uri, host, server_selection_ms, heartbeat_ms, retry_ms, extra_env)
    process = _spawn(Nodemon, "nodemon", nodemon_command(), environment, project, log, port, host)
    if wait:
        _start_or_kill(process, f"{LISTENING} {port}", timeout)
    assert isinstance(process, Nodemon)
    return process


def start_vite(
    project: Path,
    log: Path,
    proxy_target: str,
    port: int | None = None,
    host: str | None = "127.0.0.1",
    wait: bool = True,
    timeout: float = 20.0,
    extra_env: Mapping[str, str] | None = None,
) -> NodeProcess:
    """Vite's dev server in ``project`` proxying ``/api`` to ``proxy_target``; ``port`` free by default.

    ``--host HOST`` (None: Vite's default, ``localhost``), ``strictPort`` (a taken port is an
    error, not another port), no browser, no screen clearing; its cache under the log's folder.
    With ``wait`` it returns once Vite printed "ready in".
    """
    port = free_port(host or "127.0.0.1") if port is None else port
    environment = vite_env(port, proxy_target, log.parent / f"{log.stem}-cache", extra_env)
    process = _spawn(NodeProcess, "vite", vite_command(host), environment, project, log, port, host)
    if wait:
        _start_or_kill(process, VITE_READY, timeout)
    return process


def _start_or_kill(process: NodeProcess, text: str, timeout: float) -> None:
    try:
        _wait_for_output(process, text, 1, timeout)
    except ServerStartError:
        process.kill()
        raise


#: NX-27017 on a free port (or ``port``), in-memory; see :func:`tests.kit.servers.start_mongo`
start_db = start_mongo


def get_json(url: str, timeout: float = 5.0, accept: str = "application/json") -> tuple[int, object]:
    """GET ``url`` (no environment proxy); the status code and the body parsed as JSON (text if not JSON).

    ``accept`` matters to Vite: it answers its index.html (SPA fallback) only to ``text/html`` or ``*/*``.
    """
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


# -- one test's stack ------------------------------------------------------------------------------


class Stack:
    """Starts parts of the stack for one test under ``workdir`` and kills them all at :meth:`close`.

    Logs are ``workdir/logs/NN-<name>-<port>.log`` (NN: start order); project folders ``workdir/<name>``.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[NodeProcess] = []
        self.databases: list[Mongo] = []
        self._projects: dict[str, Path] = {}

    def project(self, name: str = "app") -> Path:
        """The project folder ``workdir/name``, a fresh copy of tests/stack made on first use."""
        if name not in self._projects:
            self._projects[name] = make_project(self.workdir / name)
        return self._projects[name]

    def _log(self, name: str, port: int) -> Path:
        """A log file of its own for each process started, numbered in start order."""
        return self.workdir / "logs" / f"{len(self.processes) + 1:02d}-{name}-{port}.log"

    def db(self, port: int | None = None) -> Mongo:
        """NX-27017 (in-memory) on a free port or ``port``, answering ping when this returns."""
        mongo = start_db(self.workdir / "db", port=port)
        self.databases.append(mongo)
        return mongo

    def backend(self, mongodb_uri: str, port: int | None = None, project: str = "app", **kwargs: Any) -> NodeProcess:
        """:func:`start_backend_node` in project ``project``."""
        port = free_port() if port is None else port
        process = start_backend_node(
            self.project(project), self._log("backend", port), mongodb_uri, port=port, **kwargs
        )
        self.processes.append(process)
        return process

    def nodemon(self, mongodb_uri: str, port: int | None = None, project: str = "app", **kwargs: Any) -> Nodemon:
        """:func:`start_nodemon` in project ``project``."""
        port = free_port() if port is None else port
        process = start_nodemon(self.project(project), self._log("nodemon", port), mongodb_uri, port=port, **kwargs)
        self.processes.append(process)
        return process

    def vite(self, proxy_target: str, port: int | None = None, project: str = "app", **kwargs: Any) -> NodeProcess:
        """:func:`start_vite` in project ``project``."""
        host = kwargs.get("host", "127.0.0.1")
        port = free_port(str(host or "127.0.0.1")) if port is None else port
        process = start_vite(self.project(project), self._log("vite", port), proxy_target, port=port, **kwargs)
        self.processes.append(process)
        return process

    def close(self) -> None:
        """SIGKILL every started process group, stop every database."""
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.kill()
        for mongo in reversed(self.databases):
            with contextlib.suppress(Exception):
                mongo.stop()


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """A :class:`Stack` closed on exit, for use outside pytest fixtures (bench scripts)."""
    stack = Stack(workdir)
    try:
        yield stack
    finally:
        stack.close()
