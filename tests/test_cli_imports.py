"""A command loads only what it needs (issue #12): start-up time is what people feel on every run.

Timings belong in bench/cli_start.py; these tests pin the cause instead: which heavy
libraries a command imports, read from ``python -X importtime`` of the real command.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import free_port
from tests.kit.services import service_toml

HEAVY = ("pymongo", "httpx", "httpcore", "PySide6")
#: commands that never talk to a service need no TLS either
NO_NETWORK = (*HEAVY, "ssl")


def imported(home: Path, *args: str) -> set[str]:
    """Top-level names of the modules the command imported, and its exit code's sanity."""
    command = trayapp_command(*args)
    out = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        cwd=home,
        env=cli_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")]
    assert lines, out.stderr
    return {name.split(".")[0] for name in lines}


@pytest.fixture
def stack_config(tmp_path: Path, backend) -> Path:
    server = backend()
    log = tmp_path / "backend.log"
    log.write_text("listening on 5000\n")
    config = tmp_path / "stack.toml"
    config.write_text(
        service_toml("backend", "http", url=server.url(), log=str(log))
        + service_toml("vite", "tcp", host="127.0.0.1", port=server.port)
        + service_toml("db", "mongo", uri="mongodb://127.0.0.1:27017/app")
    )
    return config


@pytest.mark.parametrize(
    "args",
    [
        ("ports", "{port}"),
        ("ports",),
        ("kill", "{free}", "--yes"),
        ("logs", "backend"),
        ("logs", "backend", "-n", "5"),
    ],
)
def test_ports_kill_and_logs_load_no_driver_no_http_client_no_qt(tmp_path, stack_config, args) -> None:
    values = {"port": str(free_port()), "free": str(free_port())}
    names = imported(tmp_path, *(a.format(**values) for a in args), "--config", str(stack_config))
    assert "psutil" in names or args[0] == "logs"  # the command really ran
    assert names.isdisjoint(NO_NETWORK), sorted(names & set(NO_NETWORK))


def test_status_loads_neither_driver_nor_http_client_for_local_http_and_tcp_services(tmp_path, backend) -> None:
    server = backend()
    tcp_only = tmp_path / "tcp.toml"
    tcp_only.write_text(service_toml("vite", "tcp", host="127.0.0.1", port=server.port))
    names = imported(tmp_path, "status", "--config", str(tcp_only))
    assert "trayapp" in names
    assert names.isdisjoint(HEAVY), sorted(names & set(HEAVY))

    http_only = tmp_path / "http.toml"
    http_only.write_text(service_toml("backend", "http", url=server.url()))
    names = imported(tmp_path, "status", "--config", str(http_only))
    assert "h11" in names  # the check ran, on a plain-HTTP local server without httpx
    assert names.isdisjoint(HEAVY), sorted(names & set(HEAVY))


def test_a_mongo_uri_with_a_bad_option_is_still_a_config_error_without_the_password(tmp_path) -> None:
    # The option check is pymongo's own, loaded only for a URI that has options.
    config = tmp_path / "bad.toml"
    config.write_text(service_toml("db", "mongo", uri="mongodb://u:topsecret@127.0.0.1/?tls=maybe"))
    out = subprocess.run(
        trayapp_command("ports", "--config", config),
        cwd=tmp_path,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "tls" in out.stderr and "'uri'" in out.stderr
    assert "topsecret" not in out.stderr + out.stdout


def test_ports_loads_no_log_file_handler_no_json_no_digest_until_needed(tmp_path, stack_config) -> None:
    """`ports PORT` for a stack with no managed service: the rotating log file (and its
    ``logging.handlers``), ``json``, ``hashlib`` and ``difflib`` stay unloaded; ``--json`` loads json."""
    port = str(free_port())
    command = trayapp_command("ports", port, "--config", stack_config)
    out = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"{port}" in out.stdout + out.stderr  # it answered: nothing listens there
    names = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "trayapp.checks.ports" in names
    assert names.isdisjoint({"logging.handlers", "json", "hashlib", "difflib"}), sorted(
        names & {"logging.handlers", "json", "hashlib", "difflib"}
    )
    assert not list((tmp_path / ".state").rglob("trayapp.log"))  # nothing was logged, so no file
    as_json = imported(tmp_path, "ports", port, "--json", "--config", str(stack_config))
    assert "json" in as_json


def test_the_log_file_is_opened_at_the_first_record_it_keeps(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from trayapp.cli import _LogFile

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    handler = _LogFile(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("trayapp.test_log_file")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.info("below the file's level")
        assert not handler.path.exists()
        assert handler.path.is_relative_to(tmp_path / "state")
        logger.warning("kept")
        logger.error("kept too")
        assert handler.path.read_text() == "WARNING trayapp.test_log_file kept\nERROR trayapp.test_log_file kept too\n"
    finally:
        logger.removeHandler(handler)
        handler.close()
