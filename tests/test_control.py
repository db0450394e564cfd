"""The control socket between `trayapp start|stop|restart` and a running tray: real sockets,
the real tray engine, and clients that misbehave (hang up early, send a megabyte, pipeline,
send garbage, say nothing)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.kit.servers import BACKEND_SCRIPT, free_port
from trayapp.config.load import Config, parse_config
from trayapp.control import ControlError, ask_stream, ask_tray
from trayapp.identity import config_home, service_identity
from trayapp.paths import control_socket
from trayapp.supervise.supervisor import ChildState
from trayapp.ui.app import TrayApp
from trayapp.ui.control import ControlRequests, ControlServer

WAIT_MS = 15_000
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the raw clients here speak AF_UNIX")


def managed(tmp_path: Path, port: int) -> Config:
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
    path = tmp_path / "trayapp.toml"
    path.write_text(
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 0.2\ntimeout = 0.5\n'
        f"start = {json.dumps(argv)}\nstop_timeout = 5\nstart_timeout = 10\n"
    )
    return parse_config(path.read_text(), str(path))


class Tray:
    def __init__(self, app: TrayApp, server: ControlServer, requests: ControlRequests) -> None:
        self.app, self.server, self.requests = app, server, requests


@pytest.fixture
def tray(qtbot, tray_app, tmp_path, monkeypatch) -> Iterator[Callable[..., Tray]]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    servers: list[ControlServer] = []

    def start(idle_ms: int = 10_000) -> Tray:
        app = tray_app(managed(tmp_path, free_port()))
        server = ControlServer(control_socket(), app, idle_ms=idle_ms)
        assert server.listen()
        servers.append(server)
        return Tray(app, server, ControlRequests(server, lambda: app.supervisor, app))

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def background() -> Iterator[Callable[..., Future[Any]]]:
    with ThreadPoolExecutor(4) as pool:
        yield pool.submit


def talk(payload: bytes, answers: int | None = None) -> list[dict[str, Any]]:
    """Send ``payload`` as one write; read ``answers`` answer lines (None: until the tray closes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(15)
        sock.connect(control_socket())
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the tray stopped reading (a line too long); its answer is still there to read
        got, buffer = [], b""
        while answers is None or len(got) < answers:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                got.append(json.loads(line))
        return got


def request(cmd: str, service: str, request_id: object = None) -> bytes:
    body: dict[str, object] = {"cmd": cmd, "service": service, "yes": False}
    if request_id is not None:
        body["id"] = request_id
    return (json.dumps(body) + "\n").encode()


def test_a_client_that_hangs_up_before_its_answer_is_ignored_and_the_next_is_answered(qtbot, tray) -> None:
    t = tray()
    with qtbot.waitSignal(t.requests.finished, timeout=WAIT_MS) as finished:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(control_socket())
            sock.sendall(request("start", "backend"))  # `trayapp start backend`, then Ctrl-C
    assert finished.args[1] is False  # no one to answer
    assert t.app.supervisor.status("backend").state is ChildState.RUNNING  # what it asked for was done

    answer = {}
    thread = threading.Thread(target=lambda: answer.update(talk(request("stop", "backend"), 1)[0]))
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=WAIT_MS)
    assert answer["ok"] and answer["detail"].startswith("backend stopped: it exited ")


def test_a_megabyte_line_is_refused_with_an_error_and_the_tray_goes_on(qtbot, tray, background) -> None:
    tray()
    refused = background(talk, b"x" * (1 << 20) + b"\n" + request("stop", "backend"), 1)
    qtbot.waitUntil(refused.done, timeout=WAIT_MS)
    assert refused.result() == [
        {"event": "result", "ok": False, "detail": "bad request: a line longer than 65536 bytes", "elapsed_s": 0.0}
    ]
    after = background(talk, request("stop", "backend"), 1)  # the request after the long line was dropped;
    qtbot.waitUntil(after.done, timeout=WAIT_MS)  # a new connection is served
    assert after.result()[0]["detail"] == "backend is not running"


def test_two_requests_in_one_write_get_two_answers(qtbot, tray, background) -> None:
    tray()
    both = background(talk, request("stop", "backend", 1) + request("start", "frontend", 2), 2)
    qtbot.waitUntil(both.done, timeout=WAIT_MS)
    answers = sorted(both.result(), key=lambda a: a["id"])
    assert [(a["id"], a["ok"], a["detail"]) for a in answers] == [
        (1, True, "backend is not running"),
        (2, False, "frontend is not a service this trayapp manages"),
    ]


def test_garbage_is_answered_with_an_error_and_the_connection_still_serves(qtbot, tray, background) -> None:
    tray()
    mixed = background(talk, b"\x00\xff<garbage>\n" + b"[1, 2]\n" + request("stop", "backend", "ok"), 3)
    qtbot.waitUntil(mixed.done, timeout=WAIT_MS)
    garbage, array, good = mixed.result()
    assert (garbage["ok"], array["ok"]) == (False, False)
    assert garbage["detail"].startswith("bad request: not a JSON object: ")
    assert (good["id"], good["detail"]) == ("ok", "backend is not running")
    unknown = background(talk, b'{"cmd": "rm -rf", "service": "backend"}\n', 1)
    qtbot.waitUntil(unknown.done, timeout=WAIT_MS)
    assert unknown.result()[0]["detail"] == "bad request: unknown command 'rm -rf' (one of start, stop, restart)"


def test_a_client_that_says_nothing_is_disconnected(qtbot, tray, background) -> None:
    tray(idle_ms=300)
    silent = background(talk, b"")  # connects, sends nothing, reads until the tray closes
    qtbot.waitUntil(silent.done, timeout=WAIT_MS)
    assert silent.result() == []  # closed by the tray, not by the client's own 15 s timeout


def test_the_cli_side_gives_up_on_a_tray_that_never_answers(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:  # accepts (backlog), never reads
        hung.bind(control_socket())
        hung.listen()
        with pytest.raises(TimeoutError, match="did not answer within 0.3 s"):
            ask_tray({"cmd": "stop", "service": "backend"}, timeout=0.3)


def test_the_pipe_side_gives_up_too(tmp_path) -> None:
    # Windows' named pipe has no timeout of its own: the exchange runs on a thread with a deadline.
    ours, theirs = socket.socketpair()
    with ours, theirs, ours.makefile("rwb", buffering=0) as stream:
        closed = []
        with pytest.raises(TimeoutError):
            ask_stream(stream, request("stop", "backend"), 0.3, on_timeout=lambda: closed.append(True))
        assert closed == [True]
        assert theirs.recv(100).startswith(b'{"cmd": "stop"')


def test_a_tray_that_answers_garbage_is_not_taken_for_no_tray(tmp_path, monkeypatch) -> None:
    # No tray means the CLI does the work itself; a tray that answered oddly may have done it already.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as odd:
        odd.bind(control_socket())
        odd.listen()

        def answer_garbage() -> None:
            conn, _ = odd.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"<html>\n")

        thread = threading.Thread(target=answer_garbage)
        thread.start()
        with pytest.raises(ControlError, match="not a JSON object"):
            ask_tray({"cmd": "stop", "service": "backend"}, timeout=5)
        thread.join(5)


def test_a_request_for_another_projects_backend_is_refused_and_nothing_is_done(qtbot, tray, background) -> None:
    """The tray watches one project's ``backend``; ``trayapp start backend`` in another project
    sends that project's identity: the tray refuses it as foreign (the CLI then acts on its own
    config) and its own backend is not started."""
    t = tray()
    elsewhere = Path(t.app.config.source).parent / "elsewhere" / "trayapp.toml"
    other = service_identity(config_home(str(elsewhere)), "backend")
    body = {"cmd": "start", "service": "backend", "identity": other, "config": "/elsewhere/trayapp.toml", "yes": True}
    refused = background(talk, (json.dumps(body) + "\n").encode(), 1)
    qtbot.waitUntil(refused.done, timeout=WAIT_MS)
    [answer] = refused.result()
    assert answer["ok"] is False and answer["foreign"] is True
    assert answer["detail"] == (
        f"the running tray watches the backend of {t.app.config.services[0].home}, "
        "not the one of /elsewhere/trayapp.toml"
    )
    assert t.app.supervisor.status("backend").state is ChildState.STOPPED

    ours = {**body, "identity": t.app.config.services[0].identity}
    started = background(talk, (json.dumps(ours) + "\n").encode(), 1)
    qtbot.waitUntil(started.done, timeout=WAIT_MS)
    assert started.result()[0]["ok"] is True
