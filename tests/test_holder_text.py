"""What trayapp says of a process it did not start: the start refusal names it fully (command
line, folder, age), and the command lines of other processes never show credentials: in
`trayapp ports`, the kill confirmation, `status --json` (issue 9, section 5). Real holders."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.cli import run_cli
from tests.kit.servers import BACKEND_SCRIPT, free_port
from trayapp.cli import _confirm
from trayapp.supervise.kill import plan_kill

HOLDER = (
    "import signal, socket, sys\n"
    "server = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
    "print('LISTENING', flush=True)\n"
    "signal.pause()\n"
)
SECRETS = ("s3cret-pw", "pr0xy-pw", "t0ken-abc")


@pytest.fixture
def holder(tmp_path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A real listener started in ``tmp_path/old-checkout`` whose argv carries credentials."""
    port = free_port()
    folder = tmp_path / "old-checkout"
    folder.mkdir()
    argv = [
        sys.executable, "-c", HOLDER, str(port), "--password", "s3cret-pw",
        "MONGO_URL=mongodb://app:pr0xy-pw@127.0.0.1:27017/app", "--api-token=t0ken-abc",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=folder, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "LISTENING\n"
    yield port, proc
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def managed_on(folder: Path, port: int) -> Path:
    argv = [sys.executable, str(BACKEND_SCRIPT), "--port", str(port)]
    path = folder / "trayapp.toml"
    path.write_text(
        f'[[service]]\nname = "backend"\nkind = "http"\nurl = "http://127.0.0.1:{port}/api/health"\n'
        f"start = {json.dumps(argv)}\nstart_timeout = 10\n"
    )
    return path


def assert_hidden(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_the_start_refusal_names_the_holder_by_command_line_folder_and_age(tmp_path, holder) -> None:
    port, proc = holder
    config = managed_on(tmp_path, port)
    refused = run_cli("start", "backend", "--config", config, home=tmp_path)  # no terminal to ask on
    assert refused.returncode == 1
    said = refused.stderr.strip()
    assert re.fullmatch(
        rf"trayapp: port {port} is held by python[\d.]* \(pid {proc.pid}, started \d+ s ago in "
        r"~/old-checkout, command: .*\), which trayapp did not start; "  # the CLI's home is tmp_path
        r"pass --yes to kill it first",
        said,
    ), said
    assert "--password '***'" in said and "mongodb://***@127.0.0.1:27017/app" in said and "--api-token=***" in said
    assert_hidden(said)
    assert proc.poll() is None  # nothing was killed


def test_other_processes_command_lines_are_shown_without_credentials(tmp_path, holder, monkeypatch) -> None:
    port, _proc = holder
    ports = run_cli("ports", "--json", str(port), home=tmp_path)
    [row] = [r for r in json.loads(ports.stdout)["listeners"] if r["port"] == port]
    assert isinstance(row["cmdline"], list) and all(isinstance(a, str) for a in row["cmdline"])
    assert row["cmdline"][-4:] == [
        "--password", "***", "MONGO_URL=mongodb://***@127.0.0.1:27017/app", "--api-token=***",
    ]  # fmt: skip
    assert_hidden(run_cli("ports", str(port), home=tmp_path).stdout)

    status = run_cli("status", "--json", "--config", managed_on(tmp_path, port), home=tmp_path)
    [backend] = json.loads(status.stdout)["services"]
    assert backend["listeners"] and all(isinstance(a, str) for a in backend["listeners"][0]["cmdline"])
    assert_hidden(status.stdout)

    shown = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert _confirm(plan_kill(port), shown) is False  # the kill confirmation, answered "no"
    assert "--password '***'" in shown.getvalue()
    assert_hidden(shown.getvalue())
