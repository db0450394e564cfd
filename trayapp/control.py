"""The CLI's line to a running tray: one JSON request, one JSON answer, over a user-only socket.

The tray listens with QLocalServer (a Unix socket in the user's runtime dir, mode 0700, or
a named pipe on Windows; the protocol is described in :mod:`trayapp.ui.control`); this side
is plain Python so the CLI stays Qt-free. Every wait is bounded on both systems: connecting,
and the answer within ``timeout``.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from trayapp.paths import control_socket

CONNECT_TIMEOUT = 2.0  # seconds to reach a tray that is there
MAX_ANSWER = 1 << 20  # bytes an answer line may have; more is not a tray speaking


class TrayUnavailable(Exception):
    """No tray is listening (not running, or another user's): the caller may do the work itself."""


class ControlError(Exception):
    """A tray is there but the exchange failed (it hung up, or answered something else):
    the request may have been carried out, so the caller must not do it again itself."""


def ask_tray(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send ``request`` to the running tray and return its answer (the line with ``"event": "result"``).

    Raises :class:`TrayUnavailable` when no tray listens, :class:`ControlError` when the
    exchange breaks off, TimeoutError when it does not answer within ``timeout`` seconds.
    """
    line = (json.dumps(request) + "\n").encode()
    if sys.platform == "win32":  # pragma: no cover - named pipes exist on Windows only
        return _ask_pipe(line, timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(control_socket())
    except OSError as exc:
        sock.close()
        raise TrayUnavailable(str(exc)) from None
    deadline = time.monotonic() + timeout
    with sock:
        try:
            sock.sendall(line)
        except OSError as exc:
            raise ControlError(f"the tray hung up before the request was sent: {exc}") from None
        reader = _LineReader()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the tray did not answer within {timeout:g} s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"the tray did not answer within {timeout:g} s") from None
            except OSError as exc:
                raise ControlError(f"the tray hung up without an answer: {exc}") from None
            answer = reader.feed(chunk)
            if answer is not None:
                return answer


class _LineReader:
    """Finds the result line in what the tray sends; bounded, and strict about what it accepts."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> dict[str, Any] | None:
        if not chunk:
            raise ControlError("the tray closed the connection without an answer")
        self._buffer += chunk
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            answer = _parse(raw)
            if answer.get("event") == "result":
                return answer
        if len(self._buffer) > MAX_ANSWER:
            raise ControlError(f"the tray's answer is longer than {MAX_ANSWER} bytes")
        return None


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError(f"the tray answered something that is not a JSON object: {raw[:60]!r}")
    return answer


def ask_stream(stream: IO[bytes], line: bytes, timeout: float, *, on_timeout: Callable[[], None]) -> dict[str, Any]:
    """One exchange over a blocking stream that has no timeout of its own (a Windows named pipe).

    The exchange runs on a daemon thread; after ``timeout`` seconds ``on_timeout`` is called
    (it closes the stream, which ends a blocked read) and TimeoutError raised.
    """
    outcome: dict[str, Any] = {}

    def exchange() -> None:
        try:
            stream.write(line)
            stream.flush()
            reader = _LineReader()
            while True:
                answer = reader.feed(stream.readline(MAX_ANSWER + 1))
                if answer is not None:
                    outcome["answer"] = answer
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=exchange, name="trayapp-control-exchange", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        on_timeout()
        raise TimeoutError(f"the tray did not answer within {timeout:g} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, ControlError):
            raise error
        raise ControlError(f"the tray hung up without an answer: {error}") from error
    return dict(outcome["answer"])


def _ask_pipe(line: bytes, timeout: float) -> dict[str, Any]:  # pragma: no cover - Windows only
    path = r"\\.\pipe\\" + control_socket()
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            pipe = open(path, "r+b", buffering=0)  # noqa: SIM115 - closed below
            break
        except FileNotFoundError as exc:
            raise TrayUnavailable(str(exc)) from None
        except OSError as exc:
            # ERROR_PIPE_BUSY (231): every instance of the pipe is taken; a new one comes soon
            if getattr(exc, "winerror", None) != 231 or time.monotonic() >= deadline:
                raise TrayUnavailable(str(exc)) from None
            time.sleep(0.05)  # between attempts to connect to a busy pipe
    with pipe:
        return ask_stream(pipe, line, timeout, on_timeout=pipe.close)
