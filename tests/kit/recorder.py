"""A real HTTP(S) server that writes down each request's User-Agent (run as a child process).

    python -m tests.kit.recorder LOG [CERT KEY]

Prints its port on stdout once it listens; answers every GET with 200 {"status": "ok"} and
appends "<path> <User-Agent or ->" to LOG, one line per request. With CERT and KEY it speaks
HTTPS only.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    log_path: Path

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with self.log_path.open("a") as log:
            log.write(f"{self.path} {self.headers.get('User-Agent', '-')}\n")
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def main(argv: list[str]) -> None:
    _Handler.log_path = Path(argv[0])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if len(argv) == 3:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(argv[1], argv[2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@dataclass
class Recorder:
    port: int
    log: Path

    def agents(self) -> list[str]:
        """The User-Agent of each request so far."""
        text = self.log.read_text() if self.log.exists() else ""
        return [line.split(" ", 1)[1] for line in text.splitlines()]


@contextmanager
def recorder(folder: Path, cert: Path | None = None, key: Path | None = None) -> Iterator[Recorder]:
    log = folder / f"agents-{'tls' if cert else 'plain'}.log"
    extra = [str(cert), str(key)] if cert and key else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.kit.recorder", str(log), *extra],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the port, once it listens
        assert line.strip().isdigit(), f"recorder did not start: {line!r}"
        yield Recorder(int(line), log)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    main(sys.argv[1:])
