"""The CLI's line to a running tray: one JSON request, one JSON answer, over a user-only socket.

The tray listens with QLocalServer (a Unix socket in the user's runtime dir, mode 0700, or
a named pipe on Windows); this side is plain Python so the CLI stays Qt-free.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from typing import Any

from trayapp.paths import control_socket


class TrayUnavailable(Exception):
    """No tray is listening (not running, or another user's)."""


def ask_tray(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send ``request`` to the running tray and return its answer (the line with ``"event": "result"``).

    Raises :class:`TrayUnavailable` when no tray listens, TimeoutError when it does not answer in time.
    """
    line = (json.dumps(request) + "\n").encode()
    if sys.platform == "win32":  # pragma: no cover - named pipes exist on Windows only
        return _ask_pipe(line, timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    try:
        sock.connect(control_socket())
    except OSError as exc:
        sock.close()
        raise TrayUnavailable(str(exc)) from None
    deadline = time.monotonic() + timeout
    with sock:
        sock.sendall(line)
        buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the tray did not answer within {timeout:g} s")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                raise TrayUnavailable("the tray closed the connection without an answer")
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                answer = json.loads(raw)
                if answer.get("event") == "result":
                    return dict(answer)


def _ask_pipe(line: bytes, timeout: float) -> dict[str, Any]:  # pragma: no cover - Windows only
    path = r"\\.\pipe\\" + control_socket()
    try:
        pipe = open(path, "r+b", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise TrayUnavailable(str(exc)) from None
    with pipe:
        pipe.write(line)
        for raw in pipe:
            answer = json.loads(raw)
            if answer.get("event") == "result":
                return dict(answer)
    raise TrayUnavailable("the tray closed the connection without an answer")
