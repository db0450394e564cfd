"""A failed check quotes the line of the service's own log that says why, if it is new enough."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from tests.kit.cli import run_cli
from tests.kit.servers import free_port
from tests.kit.services import http_service, make_service, service_toml
from trayapp.checks.checker import Checker, log_sources
from trayapp.model import Reason, State

EADDRINUSE = "Error: listen EADDRINUSE: address already in use :::5000"
NODE_CRASH = [
    "Server starting",
    "node:events:497",
    "      throw er; // Unhandled 'error' event",
    EADDRINUSE,
    "    at Server.setupListenHandle [as _listen2] (node:net:1872:16)",
    "[nodemon] app crashed - waiting for file changes before starting...",
]


def write_log(path: Path, lines: list[str], age_s: float = 0.0) -> Path:
    path.write_text("\n".join(lines) + "\n")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_refused_quotes_the_error_line_of_a_fresh_log(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", NODE_CRASH)
    result = Checker(http_service(f"http://127.0.0.1:{free_port()}/api/health", log=str(log))).check()
    assert result.reason is Reason.REFUSED
    assert result.detail.startswith("Nothing listens on port ")
    # the line that states the error, not the stack frame or nodemon's notice below it
    assert re.search(rf"Its log \(app\.log, written \d+ s ago\) says: {re.escape(EADDRINUSE)}$", result.detail)


def test_an_old_log_is_not_passed_off_as_todays_reason(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", NODE_CRASH, age_s=3600)
    result = Checker(http_service(f"http://127.0.0.1:{free_port()}/api/health", log=str(log))).check()
    assert result.reason is Reason.REFUSED
    assert "Its log" not in result.detail


def test_only_what_was_written_since_the_service_was_last_up_counts(tmp_path, backend) -> None:
    server = backend("healthy")
    log = write_log(tmp_path / "app.log", NODE_CRASH, age_s=30)  # an error from before it came up
    checker = Checker(http_service(server.url(), log=str(log)))
    assert checker.check().state is State.UP
    server.kill()
    refused = checker.check()
    assert refused.reason is Reason.REFUSED and "Its log" not in refused.detail  # 30 s old: not this outage
    with log.open("a") as fh:
        fh.write("MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017\n")
    assert checker.check().detail.endswith("says: MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017")


def test_a_log_without_an_error_adds_nothing(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", ["Server starting", "GET /api/health 200 1 ms"])
    result = Checker(http_service(f"http://127.0.0.1:{free_port()}/api/health", log=str(log))).check()
    assert result.detail.endswith("or has not started listening yet.")


def test_a_wrong_health_path_is_not_blamed_on_the_log(tmp_path, backend) -> None:
    log = write_log(tmp_path / "app.log", NODE_CRASH)
    result = Checker(http_service(backend("not_found").url(), log=str(log))).check()
    assert (result.reason, result.http_status) == (Reason.HTTP_STATUS, 404)
    assert "Its log" not in result.detail  # the probe already says what is wrong


def test_a_500_quotes_the_log(tmp_path, backend) -> None:
    log = write_log(tmp_path / "app.log", ["GET /api/health 500", "TypeError: Cannot read properties of undefined"])
    result = Checker(http_service(backend("status_500").url(), log=str(log))).check()
    assert result.detail.endswith("says: TypeError: Cannot read properties of undefined")


def test_a_managed_service_quotes_its_captured_output_first(tmp_path) -> None:
    log = str(tmp_path / "a.log")
    service = make_service("api", "http", url="http://127.0.0.1:5000/", start="npm run dev", log=log)
    assert log_sources(service, tmp_path / "out") == (str(tmp_path / "out" / "api.log"), log)
    assert log_sources(make_service("vite", "tcp", host="127.0.0.1", port=5173)) == ()


def test_status_on_the_command_line_says_it_too(tmp_path) -> None:
    log = write_log(tmp_path / "app.log", NODE_CRASH)
    port = free_port()
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", log=str(log)))
    result = run_cli("status", "--json", "--config", config, home=tmp_path)
    assert result.returncode == 1
    [backend] = json.loads(result.stdout)["services"]
    assert backend["reason"] == "refused"
    assert re.search(rf"Its log \(app\.log, written \d+ s ago\) says: {re.escape(EADDRINUSE)}$", backend["detail"])
