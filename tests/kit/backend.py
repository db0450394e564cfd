"""A small, controllable HTTP backend for tests, run as a real child process.

Pure stdlib on raw sockets (one thread per connection, a minimal HTTP/1.1 request-head
parser, every answer with ``Connection: close``) so that socket-level misbehaviour --
hanging, resetting, closing without an answer, talking another protocol -- is possible.

    python tests/kit/backend.py --mode MODE [--host 127.0.0.1] [--port 0] [--delay S]
                                [--ignore-term] [--fork-child] [--only-path PATH]
                                [--tls-cert PEM --tls-key PEM [--plain-on-tls close|nginx]]

With ``--tls-cert``/``--tls-key`` it speaks HTTPS only, like Node's ``https.createServer`` or
``vite --https``: a plain HTTP request gets the connection closed without a byte (Node), or
with ``--plain-on-tls nginx`` nginx's "400 The plain HTTP request was sent to HTTPS port".

Prints ``CHILD <pid>`` (with --fork-child) and then exactly one ``LISTENING <host> <port>``
line to stdout. Control requests are answered in every mode:

    POST /_control/mode/<mode>   switch the mode (answers 200 "ok")
    GET  /_control/hits          number of non-control requests received so far

The mode and the hit counter live in shared memory so that a forked worker and its
parent agree on them.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time

from signal_wakeup import wakeup_socket  # tests/kit/signal_wakeup.py: run as a script, the kit is on sys.path

MODES: tuple[str, ...] = (
    "healthy",
    "db_down_503",
    "dep_express",
    "dep_status",
    "dep_degraded",
    "dep_terminus",
    "dep_spring",
    "dep_ietf",
    "status_500",
    "not_found",
    "html",
    "html_500",
    "express_404",
    "express_500",
    "angle_500",
    "db_connecting_503",
    "status_down",
    "status_down_503",
    "health_warn",
    "hang",
    "reset",
    "close",
    "garbage",
    "slow",
    "trickle",
)

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

_TERMINUS_MONGO = {"status": "down", "message": "connect ECONNREFUSED 127.0.0.1:27017"}
_TERMINUS_HEAP = {"status": "up"}

#: mode -> (status code, content type, body) for the modes that answer with HTTP
CANNED: dict[str, tuple[int, str, bytes]] = {
    "healthy": (200, JSON, json.dumps({"status": "ok", "db": "connected"}).encode()),
    "db_down_503": (503, JSON, json.dumps({"status": "error", "db": "disconnected"}).encode()),
    "dep_express": (200, JSON, json.dumps({"status": "ok", "db": "disconnected"}).encode()),
    "dep_status": (200, JSON, json.dumps({"status": "error"}).encode()),
    "dep_degraded": (200, JSON, json.dumps({"status": "degraded"}).encode()),
    "dep_terminus": (
        503,
        JSON,
        json.dumps(
            {
                "status": "error",
                "info": {"memory_heap": _TERMINUS_HEAP},
                "error": {"mongo": _TERMINUS_MONGO},
                "details": {"memory_heap": _TERMINUS_HEAP, "mongo": _TERMINUS_MONGO},
            }
        ).encode(),
    ),
    "dep_spring": (
        503,
        JSON,
        json.dumps(
            {
                "status": "DOWN",
                "components": {
                    "mongo": {"status": "DOWN", "details": {"error": "com.mongodb.MongoTimeoutException: Timed out"}},
                    "ping": {"status": "UP"},
                },
            }
        ).encode(),
    ),
    "dep_ietf": (
        200,
        "application/health+json",
        json.dumps(
            {
                "status": "fail",
                "checks": {
                    "mongodb:connections": [
                        {"componentType": "datastore", "status": "fail", "output": "connection refused"}
                    ],
                    "uptime": [{"status": "pass"}],
                },
            }
        ).encode(),
    ),
    "status_500": (500, TEXT, b"Internal Server Error"),
    "not_found": (404, TEXT, b"Not Found"),
    "html": (200, "text/html; charset=utf-8", b"<img src=x><b>bold</b>"),
    "html_500": (500, "text/html; charset=utf-8", b"<img src=x><b>bold</b>"),
    # Express 4/5's default 404 (finalhandler), byte for byte
    "express_404": (
        404,
        "text/html; charset=utf-8",
        b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
        b"<body>\n<pre>Cannot GET /api/health</pre>\n</body>\n</html>\n",
    ),
    # Express's error handler in development: the error and its stack, lines joined by <br>
    "express_500": (
        500,
        "text/html; charset=utf-8",
        b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
        b"<body>\n<pre>TypeError: Cannot read properties of undefined (reading &#39;ping&#39;)<br> &nbsp; &nbsp;"
        b"at /app/routes/health.js:7:31<br> &nbsp; &nbsp;at Layer.handle [as handle_request] "
        b"(/app/node_modules/express/lib/router/layer.js:95:5)</pre>\n</body>\n</html>\n",
    ),
    # plain text with angle brackets: shown as written, never as markup
    "angle_500": (500, TEXT, b"Error: expected <number>, got <img src=x>"),
    # every Express + mongoose start, for the whole connect window (readyState 2)
    "db_connecting_503": (503, JSON, json.dumps({"status": "error", "db": "connecting"}).encode()),
    "status_down": (200, JSON, json.dumps({"status": "DOWN"}).encode()),
    "status_down_503": (503, JSON, json.dumps({"status": "DOWN"}).encode()),
    "health_warn": (
        200,
        "application/health+json",
        json.dumps(
            {
                "status": "warn",
                "checks": {
                    "disk:utilization": [{"status": "warn", "observedValue": 91, "observedUnit": "%"}],
                    "mongodb:connections": [{"status": "pass"}],
                },
            }
        ).encode(),
    ),
}

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

#: with --only-path: the one path answered in the current mode (every other path gets 404)
ONLY_PATH: str | None = None

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
GARBAGE = b"SSH-2.0-OpenSSH_9.6\r\n"


class Shared:
    """Mode index and hit counter in anonymous shared memory (survives fork, shared with the child)."""

    _FMT = "qq"

    def __init__(self, mode: str) -> None:
        self._mem = mmap.mmap(-1, struct.calcsize(self._FMT))
        self._lock = threading.Lock()
        self._store(MODES.index(mode), 0)

    def _load(self) -> tuple[int, int]:
        mode, hits = struct.unpack_from(self._FMT, self._mem, 0)
        return int(mode), int(hits)

    def _store(self, mode: int, hits: int) -> None:
        struct.pack_into(self._FMT, self._mem, 0, mode, hits)

    @property
    def mode(self) -> str:
        return MODES[self._load()[0]]

    def set_mode(self, mode: str) -> None:
        with self._lock:
            _, hits = self._load()
            self._store(MODES.index(mode), hits)

    def hit(self) -> None:
        with self._lock:
            mode, hits = self._load()
            self._store(mode, hits + 1)

    @property
    def hits(self) -> int:
        return self._load()[1]


def log(message: str) -> None:
    try:
        sys.stderr.write(f"[backend {os.getpid()}] {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def read_head(conn: socket.socket) -> tuple[bytes, bytes] | None:
    """The request head (up to the blank line) and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            return data, b""
        chunk = conn.recv(65536)
        if not chunk:
            return None if not data else (data, b"")
        data += chunk
        if data[:1] == b"\x16":  # a TLS ClientHello: not HTTP at all
            return data, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def drain_body(conn: socket.socket, headers: dict[str, str], already: int) -> None:
    """Read the request body so that closing does not turn into a reset because of unread data."""
    try:
        remaining = min(int(headers.get("content-length", "0")), MAX_BODY) - already
    except ValueError:
        return
    while remaining > 0:
        chunk = conn.recv(min(remaining, 65536))
        if not chunk:
            return
        remaining -= len(chunk)


def respond(conn: socket.socket, status: int, content_type: str, body: bytes) -> None:
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    conn.sendall(head.encode("latin-1") + body)
    close_gracefully(conn)


def close_gracefully(conn: socket.socket) -> None:
    """FIN, then wait (briefly) for the peer to close so no unread byte triggers an RST."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2.0)
        while conn.recv(65536):
            pass
    except OSError:
        pass
    conn.close()


def handle_control(conn: socket.socket, shared: Shared, method: str, path: str) -> None:
    if path.startswith("/_control/mode/"):
        mode = path[len("/_control/mode/") :]
        if method != "POST":
            respond(conn, 405, TEXT, b"use POST")
        elif mode not in MODES:
            respond(conn, 400, TEXT, f"unknown mode {mode!r}; one of {', '.join(MODES)}".encode())
        else:
            shared.set_mode(mode)
            log(f"mode -> {mode}")
            respond(conn, 200, TEXT, b"ok")
    elif path == "/_control/hits":
        respond(conn, 200, TEXT, str(shared.hits).encode())
    else:
        respond(conn, 404, TEXT, b"unknown control request")


def serve_mode(conn: socket.socket, mode: str, delay: float) -> None:
    if mode == "hang":
        # Never answer; hold the connection until the peer gives up (or we are killed).
        conn.settimeout(None)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        conn.close()
    elif mode == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    elif mode == "close":
        close_gracefully(conn)
    elif mode == "garbage":
        conn.sendall(GARBAGE)
        close_gracefully(conn)
    elif mode == "slow":
        time.sleep(delay)  # ok-sleep: the slow server's own answer time, not a test synchronisation
        respond(conn, *CANNED["healthy"])
    elif mode == "trickle":  # a byte at a time, each well within any read timeout: never a whole answer in time
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok":
            conn.sendall(bytes([byte]))
            time.sleep(delay)  # ok-sleep: the server's own pace
        close_gracefully(conn)
    else:
        respond(conn, *CANNED[mode])


def handshake(conn: socket.socket, tls: ssl.SSLContext, plain_on_tls: str) -> socket.socket | None:
    """The TLS side of a connection, or None when the client spoke plain HTTP (answered like Node or nginx)."""
    conn.settimeout(10)
    first = conn.recv(1, socket.MSG_PEEK)
    if first and first != b"\x16":
        log(f"plain bytes on the TLS port -> {plain_on_tls}")
        if plain_on_tls == "nginx":
            title = b"<title>400 The plain HTTP request was sent to HTTPS port</title>"
            body = b"<html>\r\n<head>" + title + b"</head>\r\n</html>\r\n"
            respond(conn, 400, "text/html", body)
        else:  # Node's tls server reads the bytes, fails the handshake and closes without a byte
            read_head(conn)
            conn.close()
        return None
    try:
        wrapped = tls.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        log(f"TLS handshake failed: {exc}")
        conn.close()
        return None
    wrapped.settimeout(None)
    return wrapped


def handle(
    conn: socket.socket, shared: Shared, delay: float, tls: ssl.SSLContext | None = None, plain_on_tls: str = "close"
) -> None:
    try:
        if tls is not None:
            wrapped = handshake(conn, tls, plain_on_tls)
            if wrapped is None:
                return
            conn = wrapped
        got = read_head(conn)
        if got is None:
            conn.close()
            return
        head, rest = got
        if head[:1] == b"\x16":
            # Like Node's http server: answer a TLS hello on a plain port with a 400 and close.
            log("TLS handshake on a plain HTTP port -> 400")
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            close_gracefully(conn)
            return
        method, target, headers = parse_head(head)
        path = target.split("?", 1)[0]
        drain_body(conn, headers, len(rest))
        if path.startswith("/_control/"):
            log(f"{method} {target} (control)")
            handle_control(conn, shared, method, path)
            return
        shared.hit()
        if ONLY_PATH is not None and path != ONLY_PATH:  # like a real app: one route, 404 elsewhere
            log(f"{method} {target} -> 404 (only {ONLY_PATH})")
            respond(conn, *CANNED["not_found"])
            return
        mode = shared.mode
        log(f"{method} {target} -> {mode}")
        serve_mode(conn, mode, delay)
    except OSError as exc:
        log(f"connection error: {exc}")
        conn.close()


def serve(
    listener: socket.socket,
    shared: Shared,
    delay: float,
    tls: ssl.SSLContext | None = None,
    plain_on_tls: str = "close",
    wake: socket.socket | None = None,
) -> None:
    """Accept connections, a thread each, until a signal's number arrives on ``wake``.

    The main thread waits in select() on both, so it sees a SIGTERM that a connection
    thread took (see signal_wakeup.py). The listener is non-blocking because a forked
    worker waits on the same socket and may take the connection first.
    """
    listener.setblocking(False)
    watched = [listener] if wake is None else [listener, wake]
    while True:
        ready, _, _ = select.select(watched, [], [])
        if wake is not None and wake in ready:
            try:
                if wake.recv(64):
                    return
            except BlockingIOError:
                pass
        if listener not in ready:
            continue
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            continue
        except OSError as exc:
            log(f"accept failed: {exc}")
            continue
        conn.setblocking(True)
        threading.Thread(target=handle, args=(conn, shared, delay, tls, plain_on_tls), daemon=True).start()


def close_and_linger(listener: socket.socket, linger: float) -> None:
    """Like Express's server.close() on SIGTERM: no new connections, then the pool drains."""
    listener.close()
    log(f"SIGTERM: port closed, exiting in {linger:g} s")
    time.sleep(linger)  # ok-sleep: the server's own shutdown time, not a test synchronisation


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, default="healthy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=1.5, help="seconds the slow mode waits before answering")
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM (only SIGKILL stops it)")
    parser.add_argument("--fork-child", action="store_true", help="fork a worker that serves the same socket")
    parser.add_argument(
        "--linger", type=float, default=0.0, help="on SIGTERM close the port at once, exit this many seconds later"
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain: speak HTTPS only")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--plain-on-tls", choices=("close", "nginx"), default="close")
    parser.add_argument("--only-path", help="answer in MODE on this path only, 404 on every other path")
    args = parser.parse_args(argv)
    global ONLY_PATH
    ONLY_PATH = args.only_path
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)

    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # With --linger SIGTERM wakes the main loop, which closes the port and lingers.
    wake = wakeup_socket([signal.SIGTERM]) if args.linger and not args.ignore_term else None
    try:
        listener = bind(args.host, args.port)
    except OSError as exc:
        log(f"cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    port = listener.getsockname()[1]
    shared = Shared(args.mode)

    if args.fork_child:
        pid = os.fork()
        if pid == 0:  # the worker: same socket, same shared state, SIGTERM disposition inherited
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # only the parent talks on stdout
            os.close(devnull)
            log(f"worker serving {args.host}:{port}")
            try:
                if wake is not None:  # a wakeup socket of its own, not the one shared with the parent
                    wake.close()
                    wake = wakeup_socket([signal.SIGTERM])
                serve(listener, shared, args.delay, wake=wake)
                close_and_linger(listener, args.linger)
            finally:
                os._exit(0)
        print(f"CHILD {pid}", flush=True)

    print(f"LISTENING {args.host} {port}", flush=True)
    log(f"serving {args.host}:{port} in mode {args.mode}")
    try:
        serve(listener, shared, args.delay, tls, args.plain_on_tls, wake)
    except KeyboardInterrupt:
        return 0
    close_and_linger(listener, args.linger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
