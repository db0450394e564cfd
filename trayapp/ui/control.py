"""The tray's end of the control socket: one instance per user, and requests from the CLI.

Protocol (the Qt-free client is :mod:`trayapp.control`): newline-terminated lines over a
local socket only the same user can open (a Unix socket in the runtime dir, a named pipe on
Windows). A line is ``show`` (a second ``trayapp`` asks the running one to show its window)
or a JSON object ``{"cmd": "start" | "stop" | "restart", "service": NAME, "identity":
"<digest>:<name>", "config": PATH, "yes": bool, "id": any}``. ``identity`` is the service's
identity (:mod:`trayapp.identity`: its config plus its name); a request whose identity is not
that of the tray's service of that name is refused with ``"foreign": true`` (another project's
``backend`` is never acted on), and the CLI then does the work itself. ``config`` (the
requester's config, for the sentence) is optional, and so is ``identity`` for a client that
predates it (matched by name). Each request gets one answer line ``{"event": "result", "ok": bool, "detail":
str, "elapsed_s": float, "id": <the request's id, if it had one>}``; a line that is not a
request gets ``ok: false`` with the reason. Every complete line is handled, in order; a line
longer than :data:`MAX_REQUEST` bytes is answered with an error, and nothing more is read
from that connection.
The client closes the connection; the server closes one that has had nothing to do for
:data:`IDLE_MS` (no complete line and no request in progress), so a client that connects
and says nothing cannot hold it forever. A client that hung up before its answer is simply
not answered.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLockFile, QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from trayapp.config.load import ServiceConfig
from trayapp.paths import control_socket, runtime_dir
from trayapp.supervise.supervisor import ActionResult, Supervisor
from trayapp.supervise.together import run_all
from trayapp.ui.tasks import Task

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024  # bytes one request line may have
IDLE_MS = 10_000  # a connection with nothing to do for this long is closed
ACTIONS = ("start", "stop", "restart")


class _Client:
    """One connection: its socket, the bytes of a line not yet complete, its requests in progress."""

    def __init__(self, sock: QLocalSocket, idle: QTimer) -> None:
        self.sock = sock
        self.idle = idle
        self.buffer = bytearray()
        self.pending = 0
        self.refused = False  # sent a line too long: answered; what it sends after is read and dropped


class ControlServer(QObject):
    """Reads request lines from every connection and writes the answers back. GUI thread.

    ``request(client, request)`` is emitted for each JSON request; answer it with
    :meth:`reply` (at once or later). A client that has gone by then is not answered.
    """

    show_requested = Signal()
    request = Signal(int, object)  # client id, the request (a dict)

    def __init__(
        self,
        name: str,
        parent: QObject | None = None,
        *,
        max_request: int = MAX_REQUEST,
        idle_ms: int = IDLE_MS,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.max_request = max_request
        self.idle_ms = idle_ms
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)
        self._clients: dict[int, _Client] = {}
        self._next_id = 0

    def listen(self) -> bool:
        QLocalServer.removeServer(self.name)  # a socket file left by a crashed instance
        if self._server.listen(self.name):
            return True
        log.warning("cannot listen on %s: %s", self.name, self._server.errorString())
        return False

    def close(self) -> None:
        self._server.close()
        for client in list(self._clients.values()):
            client.sock.abort()

    def reply(self, client_id: int, answer: dict[str, Any]) -> bool:
        """Write ``answer`` as one line to the client; False (and nothing written) if it has gone."""
        client = self._clients.get(client_id)
        if client is None or client.sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
            log.info("control client %d hung up before its answer: %s", client_id, answer.get("detail"))
            return False
        client.pending = max(0, client.pending - 1)
        client.sock.write((json.dumps({"event": "result", **answer}) + "\n").encode())
        client.sock.flush()
        client.idle.start(self.idle_ms)
        return True

    @Slot()
    def _on_connection(self) -> None:
        while (sock := self._server.nextPendingConnection()) is not None:
            client_id = self._next_id
            self._next_id += 1
            idle = QTimer(sock, singleShot=True)
            self._clients[client_id] = _Client(sock, idle)
            idle.timeout.connect(functools.partial(self._on_idle, client_id))
            sock.readyRead.connect(functools.partial(self._on_ready_read, client_id))
            sock.disconnected.connect(functools.partial(self._on_disconnected, client_id))
            idle.start(self.idle_ms)

    def _on_ready_read(self, client_id: int) -> None:
        client = self._clients.get(client_id)
        if client is None:
            return
        data = bytes(client.sock.readAll().data())
        if client.refused:
            return  # the rest of a line too long: not kept
        client.buffer += data
        while (end := client.buffer.find(b"\n")) >= 0:
            line = bytes(client.buffer[:end]).strip()
            del client.buffer[: end + 1]
            if len(line) > self.max_request:
                self._refuse(client_id, client)
                return
            client.idle.start(self.idle_ms)
            self._handle_line(client_id, client, line)
        if len(client.buffer) > self.max_request:
            self._refuse(client_id, client)

    def _handle_line(self, client_id: int, client: _Client, line: bytes) -> None:
        if not line:
            return
        if line == b"show":
            self.show_requested.emit()
            return
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        client.pending += 1
        if not isinstance(request, dict):
            shown = line[:60].decode("utf-8", "replace")
            self.reply(client_id, _error(f"bad request: not a JSON object: {shown!r}"))
            return
        self.request.emit(client_id, request)

    def _refuse(self, client_id: int, client: _Client) -> None:
        """Answer a line too long, then read and drop the rest until the client or the idle timer
        closes the connection (closing with unread bytes would reset it, answer and all)."""
        client.refused = True
        client.buffer.clear()
        client.pending += 1
        self.reply(client_id, _error(f"bad request: a line longer than {self.max_request} bytes"))

    def _on_idle(self, client_id: int) -> None:
        client = self._clients.get(client_id)
        if client is not None and client.pending == 0:
            log.debug("control client %d idle for %d ms: closing", client_id, self.idle_ms)
            client.sock.disconnectFromServer()

    def _on_disconnected(self, client_id: int) -> None:
        client = self._clients.pop(client_id, None)
        if client is not None:
            client.idle.stop()
            client.sock.deleteLater()


class ControlRequests(QObject):
    """Carries out ``start`` / ``stop`` / ``restart`` requests on the supervisor, off the GUI thread.

    ``supervisor`` is asked each time (a new config brings a new supervisor). ``finished``
    is emitted after each answer, with whether the client was still there to get it.
    """

    finished = Signal(int, bool)  # client id, answered (False: it had hung up)

    def __init__(self, server: ControlServer, supervisor: Callable[[], Supervisor], parent: QObject | None = None):
        super().__init__(parent)
        self._server = server
        self._supervisor = supervisor
        server.request.connect(self.handle)

    @Slot(int, object)
    def handle(self, client_id: int, request: dict[str, Any]) -> None:
        action, service, request_id = request.get("cmd"), request.get("service"), request.get("id")
        if action in ACTIONS and request.get("all") is True:
            self._handle_all(client_id, request_id, action, request)
            return
        if action not in ACTIONS or not isinstance(service, str):
            self._answer(client_id, request_id, ActionResult(False, f"bad request: {_describe(request)}", 0.0))
            return
        supervisor = self._supervisor()
        if not supervisor.managed(service):
            why = f"{service} is not a service this trayapp manages"
            self._answer(client_id, request_id, ActionResult(False, why, 0.0))
            return
        identity = request.get("identity")
        ours = supervisor.identity(service)
        if identity is not None and identity != ours:
            theirs = request.get("config")
            why = (
                f"the running tray watches the {service} of {supervisor.config_home(service)}, not the one of "
                f"{theirs if isinstance(theirs, str) else 'another config'}"
            )
            self._answer(client_id, request_id, ActionResult(False, why, 0.0), foreign=True)
            return
        yes = request.get("yes") is True
        if action == "stop":
            call: Callable[[], ActionResult] = lambda: supervisor.stop(service)  # noqa: E731
        else:
            run = supervisor.restart if action == "restart" else supervisor.start
            call = lambda: run(service, confirm=lambda _plan: yes)  # noqa: E731
        task = Task(lambda: (client_id, request_id, _carried_out(call)), self)
        task.done.connect(self._on_done)
        task.start()

    def _handle_all(self, client_id: int, request_id: Any, action: str, request: dict[str, Any]) -> None:
        """Start / stop / restart every service the request names by identity, in dependency order.

        Carried out only when the tray manages each of them (else ``foreign``: the CLI does it itself).
        """
        identities = request.get("identities")
        if not isinstance(identities, list) or not all(isinstance(i, str) for i in identities):
            self._answer(client_id, request_id, ActionResult(False, "bad request: no list of 'identities'", 0.0))
            return
        supervisor = self._supervisor()
        ours = {config.identity: config for config in supervisor.services()}
        if not identities or not set(identities) <= set(ours):
            theirs = request.get("config")
            whose = theirs if isinstance(theirs, str) else "that config"
            why = f"the running tray does not manage the services of {whose}"
            self._answer(client_id, request_id, ActionResult(False, why, 0.0), foreign=True)
            return
        yes = request.get("yes")
        confirmed = set(yes) if isinstance(yes, list) else set()
        services = [config for config in supervisor.services() if config.identity in identities]
        task = Task(lambda: (client_id, request_id, _group_carried_out(supervisor, services, action, confirmed)), self)
        task.done.connect(self._on_group_done)
        task.start()

    @Slot(object)
    def _on_group_done(self, done: tuple[int, Any, dict[str, Any]]) -> None:
        client_id, request_id, answer = done
        if request_id is not None:
            answer["id"] = request_id
        self.finished.emit(client_id, self._server.reply(client_id, answer))

    @Slot(object)
    def _on_done(self, done: tuple[int, Any, ActionResult]) -> None:
        self._answer(*done)

    def _answer(self, client_id: int, request_id: Any, result: ActionResult, *, foreign: bool = False) -> None:
        answer: dict[str, Any] = result.to_json()
        if foreign:
            answer["foreign"] = True
        if request_id is not None:
            answer["id"] = request_id
        self.finished.emit(client_id, self._server.reply(client_id, answer))


def _carried_out(call: Callable[[], ActionResult]) -> ActionResult:
    """The action's result; an exception in it becomes a failed result (and a traceback in the log)."""
    began = time.monotonic()
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the client gets a sentence, the log the traceback
        log.exception("control request failed")
        return ActionResult(False, f"the tray could not do it: {type(exc).__name__}: {exc}", time.monotonic() - began)


def _group_carried_out(
    supervisor: Supervisor, services: list[ServiceConfig], action: str, confirmed: set[str]
) -> dict[str, Any]:
    began = time.monotonic()
    try:
        done = run_all(supervisor, services, action, confirm=lambda name, _plan: name in confirmed)
    except Exception as exc:  # noqa: BLE001 - the client gets a sentence, the log the traceback
        log.exception("control request failed")
        why = f"the tray could not do it: {type(exc).__name__}: {exc}"
        return {"ok": False, "detail": why, "elapsed_s": round(time.monotonic() - began, 3), "services": []}
    return done.to_json()


def _error(detail: str) -> dict[str, Any]:
    return {"ok": False, "detail": detail, "elapsed_s": 0.0}


def _describe(request: dict[str, Any]) -> str:
    cmd = request.get("cmd")
    if cmd not in ACTIONS:
        return f"unknown command {cmd!r} (one of {', '.join(ACTIONS)})"
    return "no service named (a string 'service' field)"


class SingleInstance(QObject):
    """One trayapp per user: a lock file, and the control socket, on which a second start says "show"."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # A lock left by a crashed instance is detected by its dead pid and taken over.
        self._lock = QLockFile(str(runtime_dir() / "trayapp.lock"))
        self._lock.setStaleLockTime(0)
        self.server = ControlServer(control_socket(), self)

    def acquire(self) -> bool:
        """True if we are the only instance; False if another one was asked to show itself."""
        if not self._lock.tryLock(100):
            return not self._ask_running_instance()
        self.server.listen()
        return True

    def _ask_running_instance(self) -> bool:
        sock = QLocalSocket()
        sock.connectToServer(control_socket())
        if not sock.waitForConnected(1000):
            return False
        sock.write(b"show\n")
        sock.flush()
        sock.waitForBytesWritten(1000)
        sock.disconnectFromServer()
        return True

    def release(self) -> None:
        self.server.close()
        self._lock.unlock()
