"""What a log may say about "nothing listens", with real processes writing real logs (user trial,
cases 4 to 6): a database error the server lived past, a line stamped yesterday, a clean stop, a
Python traceback, an EADDRINUSE whose holder is gone, a SyntaxError with Node's location line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.cli import run_cli
from tests.kit.servers import free_port
from tests.kit.services import http_service, service_toml
from tests.kit.stack import Stack, get_json, require_installed
from tests.kit.wait import wait_until
from trayapp.checks.checker import Checker
from trayapp.headline import MAX_HEADLINE
from trayapp.model import Reason
from trayapp.text import shorten_home

DAY_S = 86400.0


class Children:
    """Child processes of one test, each in its own session, its output appended to a log file."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def children() -> Iterator[Children]:
    made = Children()
    yield made
    made.close()


def answers(port: int) -> bool:
    """Whether an HTTP server answers on 127.0.0.1:``port`` (any status)."""
    try:
        get_json(f"http://127.0.0.1:{port}/", timeout=2.0)
    except OSError:
        return False
    return True


def status_row(config: Path, home: Path) -> dict:
    [row] = json.loads(run_cli("status", "--json", "--config", config, home=home).stdout)["services"]
    return row


def config_for(tmp_path: Path, port: int, log: Path) -> Path:
    config = tmp_path / "trayapp.toml"
    config.write_text(
        service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", timeout=1.0, log=str(log)),
        encoding="utf-8",
    )
    return config


# -- case 4a: a database error does not stop a server listening --------------------------------------------------


def test_a_database_error_the_server_lived_past_is_not_why_nothing_listens(tmp_path: Path, stack: Stack) -> None:
    """The tutorials' backend logs "MongoDB connection error: MongooseServerSelectionError …", keeps
    answering 503, and is stopped with SIGTERM (it has no handler: nothing more in its log). The
    row said "Its log (…) says: MongoDB connection error: …" as the reason nothing listens."""
    backend = stack.backend(f"mongodb://127.0.0.1:{free_port()}/app", server_selection_ms=500)
    backend.wait_for_output("MongoDB connection error: MongooseServerSelectionError")
    service = http_service(backend.url("/api/health"), log=str(backend.log))
    checker = Checker(service)  # the engine of watch and the tray: it sees the 503s first
    answering = checker.check()
    assert answering.reason is Reason.DEPENDENCY_DOWN  # here the database error does explain it
    assert "says: MongoDB connection error: MongooseServerSelectionError" in answering.detail

    assert backend.stop() == -signal.SIGTERM
    stopped = checker.check()
    assert stopped.reason is Reason.REFUSED
    assert "Mongo" not in stopped.detail and "Its log" not in stopped.detail
    assert stopped.headline == f"nothing listens on port {backend.port}"

    fresh = status_row(config_for(tmp_path, backend.port, backend.log), tmp_path)  # no earlier answer seen
    assert fresh["reason"] == "refused" and "Mongo" not in fresh["detail"] and "Its log" not in fresh["detail"]


# -- case 4b: a line's own time; a clean stop --------------------------------------------------------------------

#: a Node server logging as pino does (one JSON object a line, "time" in ms), with a SIGTERM handler
PINO_APP = r"""
const http = require('node:http');
const log = (level, msg) =>
  console.log(JSON.stringify({level, time: Date.now(), pid: process.pid, hostname: 'h', msg}));
const server = http.createServer((req, res) => { res.writeHead(200, {'Content-Type': 'application/json'});
  res.end('{"status":"ok"}'); });
server.listen(Number(process.env.PORT), '127.0.0.1', () => log(30, `Server listening on port ${process.env.PORT}`));
process.on('SIGTERM', () => { log(30, 'Received SIGTERM, shutting down'); server.close(() => process.exit(0)); });
"""


def pino_line(level: int, when: float, msg: str) -> str:
    return json.dumps({"level": level, "time": int(when * 1000), "pid": 4242, "hostname": "h", "msg": msg})


def test_a_line_stamped_yesterday_is_not_todays_reason_and_a_shutdown_line_is(
    tmp_path: Path, children: Children
) -> None:
    """Yesterday's run died of an uncaught TypeError; today's run was stopped with SIGTERM and said
    so. The row quoted yesterday's line as "written 0 s ago" (the file's time, not the line's)."""
    log = tmp_path / "app.log"
    yesterday = time.time() - DAY_S
    crash = "uncaughtException: TypeError: Cannot read properties of undefined (reading 'id')"
    log.write_text(pino_line(60, yesterday, crash) + "\n", encoding="utf-8")
    port = free_port()
    app = tmp_path / "app.js"
    app.write_text(PINO_APP, encoding="utf-8")
    proc = children.spawn([require_installed(), str(app)], log, env={"PORT": str(port)})
    wait_until(lambda: answers(port), what="the pino app to answer")
    config = config_for(tmp_path, port, log)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    row = status_row(config, tmp_path)

    assert row["reason"] == "refused" and "TypeError" not in row["detail"]
    assert row["detail"].endswith("says it was stopped: Received SIGTERM, shutting down")
    assert row["headline"] == "stopped (no crash in its log)"

    # Without today's run, yesterday's line alone is no reason either, however new the file is.
    log.write_text(pino_line(60, yesterday, crash) + "\n", encoding="utf-8")
    alone = status_row(config, tmp_path)
    assert alone["reason"] == "refused" and "Its log" not in alone["detail"]


def test_a_stamped_line_is_as_old_as_its_stamp_not_as_its_file(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "app.log"
    stamped = time.time() - 120  # written into a file that is touched now
    log.write_text(pino_line(60, stamped, "uncaughtException: TypeError: boom") + "\n", encoding="utf-8")
    detail = Checker(http_service(f"http://127.0.0.1:{port}/api/health", log=str(log))).check().detail
    assert "Its log (app.log, written 2 min ago) says it crashed: uncaughtException: TypeError: boom" in detail


# -- case 4c: a Python traceback --------------------------------------------------------------------------------

PY_CRASH = """
import socket, sys
print("starting on port", sys.argv[1], flush=True)
socket.getaddrinfo("127.0.0.1", "no-such-service")  # socket.gaierror, a class not named ...Error
"""

PY_SERVER = """
import http.server, sys
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
print("serving on port", sys.argv[1], flush=True)
server.serve_forever()
"""


def test_a_python_traceback_is_quoted_by_its_exception_and_ctrl_c_is_a_clean_stop(
    tmp_path: Path, children: Children
) -> None:
    """The quote was "Traceback (most recent call last):"; it is the exception, the traceback's
    last line. A KeyboardInterrupt (Ctrl-C, SIGINT) is a stop, not a crash."""
    port = free_port()
    log = tmp_path / "app.log"
    script = tmp_path / "app.py"
    script.write_text(PY_CRASH, encoding="utf-8")
    assert children.spawn([sys.executable, str(script), str(port)], log).wait(timeout=10) == 1
    config = config_for(tmp_path, port, log)

    crashed = status_row(config, tmp_path)

    assert "Traceback" not in crashed["detail"]
    assert crashed["detail"].endswith(
        "says it crashed: socket.gaierror: [Errno -8] Servname not supported for ai_socktype"
    )
    assert crashed["headline"].startswith("crashed: socket.gaierror: [Errno -8] ")

    script.write_text(PY_SERVER, encoding="utf-8")
    server = children.spawn([sys.executable, str(script), str(port)], log)
    wait_until(lambda: answers(port), what="the Python server to answer")
    server.send_signal(signal.SIGINT)
    server.wait(timeout=10)
    assert log.read_text().rstrip().endswith("KeyboardInterrupt")

    stopped = status_row(config, tmp_path)

    assert stopped["detail"].endswith("says it was stopped: KeyboardInterrupt")
    assert stopped["headline"] == "stopped (no crash in its log)"
    assert "gaierror" not in stopped["detail"]  # the earlier run's crash is not this stop's


# -- case 5: an EADDRINUSE whose holder is gone --------------------------------------------------------------------


def test_an_eaddrinuse_whose_holder_was_killed_says_the_port_is_free_and_to_restart(
    tmp_path: Path, stack: Stack, children: Children
) -> None:
    """nodemon's app found its port taken and crashed; `trayapp kill PORT` freed the port. The row
    quoted the EADDRINUSE as if it were why nothing listens now; it says what happened and what to do."""
    port = free_port()
    script = tmp_path / "holder.py"
    script.write_text(PY_SERVER, encoding="utf-8")
    holder = children.spawn([sys.executable, str(script), str(port)], tmp_path / "holder.log")
    wait_until(lambda: answers(port), what="the holder to answer")
    nodemon = stack.nodemon(f"mongodb://127.0.0.1:{free_port()}/app", port=port, wait=False)
    nodemon.wait_for_output("app crashed")
    assert "EADDRINUSE" in nodemon.output()
    killed = run_cli("kill", str(port), "--yes", home=tmp_path)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert holder.wait(timeout=10) is not None
    config = config_for(tmp_path, port, nodemon.log)

    row = status_row(config, tmp_path)

    assert row["reason"] == "refused"
    assert row["detail"].startswith(
        f"Nothing listens on port {port} (127.0.0.1): backend crashed at start because port {port} was taken; "
        "the port is free now: restart it (save a file, or type rs in nodemon). Its log ("
    )
    assert row["detail"].endswith(f"says: Error: listen EADDRINUSE: address already in use :::{port}")
    assert row["headline"] == f"crashed at start: port {port} was taken"


# -- case 6: a SyntaxError with Node's location line -----------------------------------------------------------


def test_a_syntax_error_is_quoted_with_its_location_and_headlined_as_a_crash(tmp_path: Path, stack: Stack) -> None:
    """An edit breaks server/index.js; nodemon restarts the app, which dies of a SyntaxError. The
    location line above it (server/index.js:N) was left out, and the headline said only "nothing
    listens on port N"."""
    nodemon = stack.nodemon(f"mongodb://127.0.0.1:{free_port()}/app")
    source = nodemon.project / "server" / "index.js"
    lines = source.read_text(encoding="utf-8").splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("app.get('/api/hello'"))
    lines[broken] = lines[broken].replace("(req, res) =>", "(req, res) => )")
    wait_until(lambda: nodemon.watching(), what="nodemon watching server/index.js")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    nodemon.wait_for_output("app crashed")
    assert "SyntaxError" in nodemon.output()
    config = config_for(tmp_path, nodemon.port, nodemon.log)

    row = status_row(config, tmp_path)

    assert row["reason"] == "refused" and row["state"] == "down"
    where = f"{shorten_home(str(source), home=str(tmp_path))}:{broken + 1}"  # status runs with HOME there
    assert row["detail"].endswith(f"says it crashed: SyntaxError: Unexpected token ')' ({where})")
    assert row["headline"].startswith("crashed: SyntaxError: Unexpected token ')'")
    assert len(row["headline"]) <= MAX_HEADLINE
