"""Real servers for tests: the controllable HTTP backend and an NX-27017 MongoDB.

Both run as child processes in their own session (``start_new_session=True``) so a
test can kill a whole process tree, and both are waited for on conditions (output on a
pipe, a connection that succeeds), never with fixed sleeps.
"""

from __future__ import annotations

import fcntl
import os
import random
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BACKEND_SCRIPT = Path(__file__).with_name("backend.py")
NX_27017 = Path(sys.executable).parent / "nx-27017"

#: an opener that never goes through an HTTP(S)_PROXY from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries its output."""


#: Ports handed out by :func:`free_port` lie below the kernel's ephemeral range
#: (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), so no outgoing connection
#: of this or another suite can be given one between the choice and the server's bind.
_PORTS = range(20000, 32000)
#: One lock file per handed-out port, shared by every suite on the machine (a second copy of the
#: suite running beside this one must never be handed the same port).
_PORT_LOCKS = Path(tempfile.gettempdir()) / "trayapp-test-ports"
_held_ports: list[int] = []  # lock file descriptors, held until this process ends


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on, reserved for this test process.

    The port is free when handed out and stays ours: it is outside the ephemeral range, and an
    exclusive ``flock`` on its lock file (held until this process exits) keeps every other
    caller on this machine, in this suite or one running beside it, from being handed it too.
    A test binds it itself (a server child) or keeps it closed (a "connection refused" target).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _PORT_LOCKS.mkdir(exist_ok=True)
    rng = random.Random()
    for _ in range(200):
        port = rng.choice(_PORTS)
        fd = os.open(_PORT_LOCKS / str(port), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # another caller holds it
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                os.close(fd)
                continue  # in use by something outside the suites
        _held_ports.append(fd)
        return port
    raise RuntimeError(f"no free port in {_PORTS.start}-{_PORTS.stop - 1} after 200 tries")


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (orphans may never be reaped here)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _kill_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Backend:
    """A running ``tests/kit/backend.py``."""

    host: str
    port: int
    pid: int
    proc: subprocess.Popen[bytes]
    child_pid: int | None = None
    stderr_file: IO[bytes] | None = field(default=None, repr=False)
    #: the CA that signed its certificate when it speaks HTTPS (see :class:`TlsFiles`)
    tls: TlsFiles | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def url(self, path: str = "/api/health", scheme: str | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme or self.scheme}://{host}:{self.port}{path}"

    def _control(self, path: str, method: str) -> str:
        data = b"" if method == "POST" else None
        request = urllib.request.Request(self.url(path), data=data, method=method)
        context = ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls is not None else None
        opener = (
            _OPENER
            if context is None
            else urllib.request.build_opener(
                urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
            )
        )
        with opener.open(request, timeout=5) as response:
            return bytes(response.read()).decode()

    def set_mode(self, mode: str) -> None:
        """Switch what every further request gets (answered even in hang/reset/garbage modes)."""
        answer = self._control(f"/_control/mode/{mode}", "POST")
        if answer != "ok":
            raise RuntimeError(f"backend refused mode {mode!r}: {answer}")

    def hits(self) -> int:
        """How many non-control requests the backend (parent and worker together) has received."""
        return int(self._control("/_control/hits", "GET"))

    def stderr(self) -> str:
        """What the backend logged so far."""
        if self.stderr_file is None:
            return ""
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group (and the forked worker), then reap."""
        if self.proc.poll() is None:  # not reaped yet, so the group id cannot have been recycled
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.child_pid is not None and _pid_alive(self.child_pid):
            try:
                same_group = os.getpgid(self.child_pid) == self.pid
            except ProcessLookupError:
                same_group = False
            if same_group:  # guard against a recycled pid
                _kill_pid(self.child_pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.stderr_file is not None:
            self.stderr_file.close()
            self.stderr_file = None


@dataclass(frozen=True)
class TlsFiles:
    """A certificate for 127.0.0.1, ::1 and localhost, its key, and the CA that signed it (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(folder: Path, names: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")) -> TlsFiles:
    """A fresh local CA (trustme) and a server certificate it signed for ``names``, written to ``folder``."""
    import trustme  # local: only the TLS tests pay for it

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    files = TlsFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    cert.private_key_pem.write_to_path(str(files.key))
    with open(files.cert, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return files


def start_backend(
    mode: str = "healthy",
    host: str = "127.0.0.1",
    delay: float | None = None,
    ignore_term: bool = False,
    fork_child: bool = False,
    port: int = 0,
    timeout: float = 10.0,
    tls: TlsFiles | None = None,
    plain_on_tls: str = "close",
    only_path: str | None = None,
    cwd: Path | None = None,
) -> Backend:
    """Start the backend (in ``cwd``, default this process's) and wait (bounded) for its ``LISTENING`` line.
    With ``tls`` it speaks HTTPS only, and answers plain HTTP as Node does (``plain_on_tls="close"``) or as
    nginx does (``"nginx"``); with ``only_path`` it answers on that path only, 404 elsewhere."""
    cmd = [sys.executable, str(BACKEND_SCRIPT), "--mode", mode, "--host", host, "--port", str(port)]
    if tls is not None:
        cmd += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--plain-on-tls", plain_on_tls]
    if only_path is not None:
        cmd += ["--only-path", only_path]
    if delay is not None:
        cmd += ["--delay", str(delay)]
    if ignore_term:
        cmd.append("--ignore-term")
    if fork_child:
        cmd.append("--fork-child")
    stderr_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file, start_new_session=True, cwd=cwd
    )
    backend = Backend(host=host, port=0, pid=proc.pid, proc=proc, stderr_file=stderr_file, tls=tls)
    try:
        for line in _read_lines_until(proc, "LISTENING", timeout):
            word, _, rest = line.partition(" ")
            if word == "CHILD":
                backend.child_pid = int(rest)
            elif word == "LISTENING":
                backend.port = int(rest.rsplit(" ", 1)[1])
    except ServerStartError as exc:
        log = backend.stderr()
        backend.kill()
        raise ServerStartError(f"{exc}; backend {cmd} stderr:\n{log}") from None
    return backend


def _read_lines_until(proc: subprocess.Popen[bytes], last: str, timeout: float) -> list[str]:
    """Lines from ``proc``'s stdout up to and including the one starting with ``last``."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    lines: list[str] = []
    while True:
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.decode(errors="replace").strip()
            lines.append(line)
            if line.startswith(last):
                return lines
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerStartError(f"no {last!r} line within {timeout} s (got {lines!r})")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            raise ServerStartError(f"exited with {proc.wait()} before printing {last!r} (got {lines!r})")
        buffer += chunk


@dataclass
class Mongo:
    """A running NX-27017 (MongoDB wire protocol) on 127.0.0.1."""

    port: int
    pid: int
    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / f"nx-{self.port}.log"

    def pause(self) -> None:
        """SIGSTOP: the port stays open, the kernel still completes handshakes, nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGCONT (in case it is paused), SIGTERM, up to 5 s to exit, then SIGKILL the group."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the leader and anything it may have started
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait(timeout=10)


def start_mongo(workdir: Path, port: int | None = None, timeout: float = 15.0) -> Mongo:
    """Start NX-27017 with an in-memory database and wait until a pymongo ping succeeds."""
    import pymongo  # local: only tests that want a database pay for the import

    port = free_port() if port is None else port
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"nx-{port}.out"
    cmd = [
        str(NX_27017),
        "--db",
        "memory",
        "-p",
        str(port),
        "--pid-file",
        str(workdir / f"nx-{port}.pid"),
        "--log-file",
        str(workdir / f"nx-{port}.log"),
    ]
    with open(out, "wb") as out_fh:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out_fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    mongo = Mongo(port=port, pid=proc.pid, proc=proc, workdir=workdir)
    deadline = time.monotonic() + timeout
    problem = "never accepted a connection"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            problem = f"exited with {proc.returncode}"
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            _wait_a_little(proc, 0.05)
            continue
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            mongo.uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500, directConnection=True
        )
        try:
            client.admin.command("ping")
            return mongo
        except pymongo.errors.PyMongoError as exc:
            problem = f"ping failed: {exc}"
        finally:
            client.close()
    mongo.stop()
    output = out.read_text(errors="replace") if out.exists() else ""
    raise ServerStartError(f"nx-27017 on port {port} {problem} within {timeout} s; output:\n{output}")


def _wait_a_little(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Poll interval of a condition loop: returns early if the process exits."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


_NODE_HTTPS = r"""
const https = require("https");
const fs = require("fs");
const [cert, key] = process.argv.slice(1);
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({ status: "ok" }));
});
server.listen(0, "127.0.0.1", () => console.log(`LISTENING 127.0.0.1 ${server.address().port}`));
"""


@dataclass
class NodeHttps:
    """A real Node ``https.createServer`` (what ``vite --https`` and mkcert setups run) on 127.0.0.1."""

    port: int
    proc: subprocess.Popen[bytes]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_node_https(tls: TlsFiles, timeout: float = 15.0) -> NodeHttps:
    """Start Node's HTTPS server with ``tls``'s certificate; wait (bounded) until it listens."""
    proc = subprocess.Popen(
        ["node", "-e", _NODE_HTTPS, str(tls.cert), str(tls.key)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = NodeHttps(port=0, proc=proc)
    try:
        [line] = [x for x in _read_lines_until(proc, "LISTENING", timeout) if x.startswith("LISTENING")]
    except ServerStartError:
        server.kill()
        raise
    server.port = int(line.rsplit(" ", 1)[1])
    return server
