"""Answers cut short: the local HTTP check (h11 on one socket) words them as httpx did (issue #12).

Each case is a real server in a child process that reads the request, sends some bytes and
closes the connection.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.kit.services import http_service
from trayapp.checks.checker import Checker
from trayapp.model import Reason, State

SERVER = r"""
import socket, sys
answer = sys.argv[1].encode().decode("unicode_escape").encode("latin-1")
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
print(srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    try:
        conn.recv(65536)
        conn.sendall(answer)
        conn.shutdown(socket.SHUT_WR)
    except OSError:  # the client may have gone first
        pass
    conn.close()
"""


@pytest.fixture
def answering() -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(answer: str) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, answer], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        return int(proc.stdout.readline())

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("answer", "reason", "words"),
    [
        # a banner of another protocol, not even a whole line, then the close
        ("SSH-2.0-OpenSSH_9", Reason.PROTOCOL_ERROR, "it answered 'SSH-2.0-OpenSSH_9' instead of HTTP"),
        # a head that promises 10 bytes of body and sends 3
        ("HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\nabc", Reason.RESET, "without answering"),
        # nothing at all
        ("", Reason.RESET, "closed the connection without answering"),
        # a status line that is not HTTP's
        ("HTTP/1.1 OK\\r\\n\\r\\n", Reason.PROTOCOL_ERROR, "not with HTTP"),
    ],
)
def test_an_answer_cut_short_or_not_http_is_named(answering, answer: str, reason: Reason, words: str) -> None:
    port = answering(answer)
    checker = Checker(http_service(f"http://127.0.0.1:{port}/api/health"))
    try:
        result = checker.check()
    finally:
        checker.close()
    assert (result.state, result.reason) == (State.DOWN, reason), result.detail
    assert words in result.detail


def test_a_whole_answer_without_content_length_ends_at_the_close(answering) -> None:
    port = answering('HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{"status": "ok"}')
    checker = Checker(http_service(f"http://127.0.0.1:{port}/api/health"))
    try:
        result = checker.check()
    finally:
        checker.close()
    assert (result.state, result.reason, result.http_status) == (State.UP, Reason.OK, 200), result.detail
