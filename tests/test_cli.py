"""The command line end to end, as a child process: output contracts and exit codes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil
import pytest

from tests.kit.cli import REPO, cli_env, run_cli, trayapp_command
from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.kit.wait import wait_until
from trayapp.checks.checker import check_once, lookup_owners
from trayapp.config.load import load_config
from trayapp.model import Listener

SERVICE_KEYS = {
    "source",
    "name",
    "kind",
    "target",
    "state",
    "reason",
    "headline",
    "detail",
    "latency_ms",
    "http_status",
    "port",
    "listeners",
    "blocked_by",  # issue #10 section 4: the service whose failure explains this one's, or null
    "proxy",  # issue #10 section 3: a dev server's proxy_path checked through its proxy, or null
}
LISTENER_KEYS = {"pid", "name", "address", "port", "cmdline", "cwd", "user", "started"}


def write_config(tmp_path: Path, *services: str) -> Path:
    path = tmp_path / "stack.toml"
    path.write_text("\n".join(services))
    return path


def test_version_and_help(tmp_path) -> None:
    version = run_cli("--version", home=tmp_path)
    # the installed distribution's version, though read from trayapp.__version__ (issue #12)
    assert version.returncode == 0 and version.stdout == f"trayapp {importlib.metadata.version('trayapp')}\n"
    helptext = run_cli("--help", home=tmp_path)
    assert helptext.returncode == 0
    for command in ("status", "watch", "ports", "kill"):
        assert command in helptext.stdout


def test_python_dash_m_and_console_script_agree(tmp_path) -> None:
    script = Path(os.sys.executable).parent / "trayapp"
    if not script.exists():
        pytest.fail(f"console script not installed next to {os.sys.executable}: pip install -e . first")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, env=cli_env(tmp_path), timeout=30)
    assert out.stdout == run_cli("--version", home=tmp_path).stdout


def test_status_json_contract_and_exit_code(tmp_path, backend, mongo) -> None:
    api, db = backend("healthy"), mongo()
    config = write_config(
        tmp_path,
        service_toml("backend", "http", url=api.url()),
        service_toml("db", "mongo", uri=f"mongodb://127.0.0.1:{db.port}/app"),
    )
    result = run_cli("status", "--config", config, "--json", home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["overall"] == "up"
    assert [s["name"] for s in data["services"]] == ["backend", "db"]
    for service in data["services"]:
        assert set(service) == SERVICE_KEYS
        assert service["state"] == "up" and service["reason"] == "ok"
        assert service["source"] == "config"
        assert service["blocked_by"] is None and service["proxy"] is None
    backend_json = data["services"][0]
    assert backend_json["http_status"] == 200 and backend_json["port"] == api.port
    [listener] = backend_json["listeners"]
    assert set(listener) >= LISTENER_KEYS
    assert listener["pid"] == api.pid and listener["address"] == "127.0.0.1"
    assert "backend.py" in " ".join(listener["cmdline"])


def test_status_never_prints_the_mongo_password(tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, service_toml("db", "mongo", uri=f"mongodb://app:hunter22@127.0.0.1:{port}/app"))
    for args in (["status", "--json"], ["status"], ["ports"]):
        result = run_cli(*args, "--config", config, home=tmp_path)
        assert "hunter22" not in result.stdout + result.stderr
    data = json.loads(run_cli("status", "--json", "--config", config, home=tmp_path).stdout)
    assert data["services"][0]["target"] == f"mongodb://***@127.0.0.1:{port}/app"


def test_status_against_a_hung_backend_and_a_stopped_mongo_gives_up_at_the_timeout(tmp_path, backend, mongo) -> None:
    api, db = backend("hang"), mongo()
    db.pause()
    config = write_config(
        tmp_path,
        service_toml("backend", "http", url=api.url(), timeout=1.0),
        service_toml("db", "mongo", uri=db.uri, timeout=1.0),
        service_toml("vite", "tcp", host="127.0.0.1", port=free_port()),
    )
    result = run_cli("status", "--config", config, "--json", home=tmp_path)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["overall"] == "down"
    reasons = {s["name"]: s["reason"] for s in data["services"]}
    assert reasons == {"backend": "timeout", "db": "paused", "vite": "refused"}
    # How long it took is the next test's subject: the checks, without the interpreter's start-up.

    scans: list[float] = []

    def timed_owner_scan(ports: Iterable[int]) -> Sequence[Listener]:
        began = time.monotonic()
        try:
            return lookup_owners(ports)
        finally:
            scans.append(time.monotonic() - began)

    services = load_config(str(config)).services
    started = time.monotonic()
    results = check_once(services, owners=timed_owner_scan)
    checking = time.monotonic() - started - sum(scans)
    assert {r.service: str(r.reason) for r in results} == reasons
    # The contract: status gives up on hung services at the largest timeout (1 s) + 1 s, owner scan aside
    # (a hung probe left to pymongo's or the socket's own defaults would take 30 s or forever).
    assert len(scans) == 1 and checking < 1.0 + 1.0, f"the checks took {checking:.2f} s"


def test_status_table_for_people(tmp_path) -> None:
    port = free_port()
    config = write_config(tmp_path, service_toml("api", "http", url=f"http://127.0.0.1:{port}/health"))
    result = run_cli("status", "--config", config, home=tmp_path)
    assert result.returncode == 1
    assert "api  down" in result.stdout
    assert f"nothing listens on port {port}" in result.stdout  # the headline, not the sentence
    assert "Nothing listens on" not in result.stdout
    assert "overall: down" in result.stdout


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[service]]\nname = "api"\nkind = "http"\nurl = "http://x"\ntimeout = -2', "service 'api': field 'timeout'"),
        ('[[service]]\nname = "api"\nkind = "smtp"', "service 'api': field 'kind'"),
        ("[[service]\n", "is not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_sentence(tmp_path, text: str, words: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    for command in ("status", "watch", "ports"):
        result = run_cli(command, "--config", config, home=tmp_path)
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"trayapp: {config}")
        assert words in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_missing_config_file_exits_2(tmp_path) -> None:
    result = run_cli("status", "--config", tmp_path / "nope.toml", home=tmp_path)
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_usage_errors_exit_2(tmp_path) -> None:
    assert run_cli("kill", "99999", home=tmp_path).returncode == 2
    assert run_cli("frobnicate", home=tmp_path).returncode == 2


def test_trayapp_toml_in_the_working_directory_is_used(tmp_path, backend) -> None:
    api = backend("healthy")
    (tmp_path / "trayapp.toml").write_text(service_toml("here", "http", url=api.url()))
    result = run_cli("status", "--json", home=tmp_path)
    assert [s["name"] for s in json.loads(result.stdout)["services"]] == ["here"]


def test_watch_json_prints_checks_and_transitions_and_stops_on_sigterm(tmp_path, backend) -> None:
    api = backend("healthy")
    config = write_config(tmp_path, service_toml("backend", "http", url=api.url(), interval=0.2, timeout=0.5))
    proc = subprocess.Popen(
        trayapp_command("watch", "--config", config, "--json"),
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        events = []

        def read_event() -> dict:
            ready, _, _ = select.select([proc.stdout], [], [], 10)
            assert ready, "watch printed nothing for 10 s"
            event = json.loads(proc.stdout.readline())
            events.append(event)
            return event

        first = read_event()
        assert first["event"] == "check" and first["service"] == "backend" and first["state"] == "up"
        assert {"event", "service", "state", "reason", "headline", "detail", "latency_ms", "t"} <= set(first)
        assert first["headline"].startswith("answers in ")
        transition = read_event()
        assert (transition["event"], transition["from"], transition["to"]) == ("transition", "unknown", "up")
        api.set_mode("status_500")
        while not (events[-1]["event"] == "transition" and events[-1]["to"] == "down"):
            read_event()
        down = events[-1]
        assert set(down) == {"event", "service", "from", "to", "reason", "headline", "detail", "t"}
        assert (down["from"], down["reason"]) == ("up", "http_status")
        failed = next(e for e in events if e["event"] == "check" and e["reason"] == "http_status")
        assert failed["headline"] == "health check fails (500)"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 1  # something was down when it stopped
    finally:
        proc.kill()
        proc.wait()


def test_ports_json_names_the_owner_and_marks_the_watched_service(tmp_path, backend) -> None:
    api = backend("healthy")
    config = write_config(tmp_path, service_toml("backend", "http", url=api.url()))
    result = run_cli("ports", "--config", config, "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)["listeners"]
    assert (row["pid"], row["port"], row["service"], row["services"]) == (api.pid, api.port, "backend", ["backend"])
    assert row["cwd"] == str(REPO)
    table = run_cli("ports", str(api.port), "--config", config, home=tmp_path)
    assert f"pid {api.pid}" in table.stdout and "backend.py" in table.stdout
    free = free_port()
    missing = run_cli("ports", str(free), "--config", config, home=tmp_path)
    assert missing.returncode == 1
    assert f"nothing listens on port {free}" in missing.stdout


def test_ports_names_every_service_that_watches_a_port(tmp_path, backend) -> None:
    api = backend("healthy")
    free = free_port()
    config = write_config(
        tmp_path,
        service_toml("backend", "http", url=api.url()),
        service_toml("api-tcp", "tcp", host="127.0.0.1", port=api.port),
        service_toml("db", "tcp", host="127.0.0.1", port=free),
        service_toml("db-again", "tcp", host="127.0.0.1", port=free),
    )
    result = run_cli("ports", "--config", config, "--json", home=tmp_path)
    assert result.returncode == 1, result.stderr  # a watched port has no listener
    data = json.loads(result.stdout)
    [row] = data["listeners"]
    assert (row["pid"], row["service"], row["services"]) == (api.pid, "backend", ["backend", "api-tcp"])
    assert data["not_listening"] == [free]
    table = run_cli("ports", "--config", config, home=tmp_path).stdout
    [line] = [line for line in table.splitlines() if f"pid {api.pid}" in line]
    assert "backend, api-tcp" in line
    assert f"nothing listens on port {free} (db, db-again)" in table


def test_kill_yes_frees_the_port(tmp_path, backend) -> None:
    api = backend("healthy", ignore_term=True)
    result = run_cli("kill", str(api.port), "--yes", "--grace", "0.3", "--json", home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "forced"
    assert api.proc.wait(timeout=5) == -signal.SIGKILL


def test_kill_nothing_listening_exits_1(tmp_path) -> None:
    port = free_port()
    result = run_cli("kill", str(port), "--yes", home=tmp_path)
    assert result.returncode == 1
    assert str(port) in result.stdout


def test_kill_without_a_terminal_or_yes_refuses(tmp_path, backend) -> None:
    api = backend("healthy")
    result = run_cli("kill", str(api.port), home=tmp_path)
    assert result.returncode == 2
    assert "--yes" in result.stderr
    # what it would have stopped is shown all the same: the pid and its command line
    assert f"These processes hold port {api.port} and would be stopped" in result.stderr
    assert f"pid {api.pid} " in result.stderr and "backend.py" in result.stderr
    assert psutil.pid_exists(api.pid) and api.proc.poll() is None


def _run_on_terminal(tmp_path: Path, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout, answer its prompt, return (code, screen)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        trayapp_command(*args), cwd=tmp_path, env=cli_env(tmp_path), stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    screen = b""
    try:
        while b"[y/N]" not in screen:
            ready, _, _ = select.select([master], [], [], 10)
            assert ready, f"no prompt; screen so far: {screen!r}"
            screen += os.read(master, 4096)
        os.write(master, answer)
        code = proc.wait(timeout=15)
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        return code, screen.decode(errors="replace")
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def test_kill_on_a_terminal_shows_command_and_cwd_then_asks(tmp_path, backend) -> None:
    api = backend("healthy")
    code, screen = _run_on_terminal(tmp_path, ["kill", str(api.port)], b"n\n")
    assert code == 1
    assert f"pid {api.pid}" in screen and "backend.py" in screen and f"cwd:     {REPO}" in screen
    assert ", started " in screen and " ago" in screen
    assert api.proc.poll() is None  # "n" kills nothing

    code, screen = _run_on_terminal(tmp_path, ["kill", str(api.port)], b"y\n")
    assert code == 0, screen
    assert f"port {api.port} is free" in screen
    wait_until(lambda: api.proc.poll() is not None, what="the backend to be reaped")


def test_config_is_taken_before_or_after_the_sub_command(tmp_path, backend) -> None:
    api = backend("healthy")
    config = tmp_path / "elsewhere" / "mine.toml"  # not ./trayapp.toml, so nothing else would find it
    config.parent.mkdir()
    config.write_text(service_toml("api", "http", url=api.url()))
    for args in (
        ["--config", config, "status", "--json"],
        ["status", "--config", config, "--json"],
        ["-v", "--config", config, "status", "--json"],
    ):
        result = run_cli(*args, home=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert [s["name"] for s in json.loads(result.stdout)["services"]] == ["api"], args
    stopped = run_cli("--config", config, "stop", "api", home=tmp_path)
    assert stopped.returncode == 2
    assert f"{config}: service 'api' has no 'start' command" in stopped.stderr  # the file given, not a default


# -- --json: one JSON object for every outcome --------------------------------------------------

BAD_PORT = '[[service]]\nname = "vite"\nkind = "tcp"\nport = 70000\n'


def refusal_cases(tmp_path: Path, holder_port: int) -> list[tuple[list[str], int, set[str]]]:
    """(arguments, exit code, the command's own fields besides ok and detail) of each refusal."""
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_PORT)
    unmanaged = tmp_path / "unmanaged.toml"
    unmanaged.write_text('[[service]]\nname = "db"\nkind = "tcp"\nport = 27017\n')
    held = tmp_path / "held.toml"
    held.write_text(
        f'[[service]]\nname = "api"\nkind = "tcp"\nport = {holder_port}\nstart = ["python3", "-m", "http.server"]\n'
    )
    action = {"elapsed_s"}
    kill = {"port", "outcome", "terminated", "forced", "skipped", "elapsed_s"}
    return [
        (["status", "--json", "--config", str(bad)], 2, set()),
        (["watch", "--json", "--config", str(bad)], 2, set()),
        (["ports", "--json", "--config", str(bad)], 2, set()),
        (["status", "--json", "--no-such-option"], 2, set()),
        (["kill", str(holder_port), "--json"], 2, kill),  # no terminal to ask on, no --yes
        (["start", "db", "--json", "--config", str(unmanaged)], 2, action),
        (["stop", "nope", "--json", "--config", str(unmanaged)], 2, set()),
        (["restart", "db", "--json", "--config", str(bad)], 2, set()),
        (["start", "api", "--json", "--config", str(held)], 1, action),  # a process trayapp did not start
        (["doctor", str(tmp_path / "nowhere"), "--json"], 2, set()),
        (["doctor", str(tmp_path), "--json"], 2, set()),  # not a JavaScript project
    ]


def test_every_command_with_json_prints_one_json_object_for_a_refusal_too(tmp_path, backend) -> None:
    holder = backend()  # something trayapp did not start, on a port a managed service wants
    for args, code, fields in refusal_cases(tmp_path, holder.port):
        result = run_cli(*args, home=tmp_path)
        assert result.returncode == code, (args, result.stderr)
        answer = json.loads(result.stdout)  # the whole of stdout is one object
        assert answer["ok"] is False and answer["detail"], args
        assert set(answer) == {"ok", "detail", *fields}, args
        assert answer["detail"] in result.stderr, args  # the same sentence a person reads
    assert holder.proc.poll() is None  # refusing killed nothing


def test_plain_watch_prints_a_new_cause_of_the_same_state_without_an_arrow(capsys) -> None:
    """`trayapp watch` (no --json): a crash explained after the port was found closed is one line
    "backend: down (exited) …", not "down -> down"; a check that finds a new cause (its headline
    changed) while the state stays is printed, the same cause again is not."""
    from trayapp.cli import _HumanPrinter
    from trayapp.model import CheckResult, Kind, Reason, State, Transition
    from trayapp.monitor.scheduler import CheckEvent

    printer = _HumanPrinter(lambda _state, text: text)

    def result(reason: Reason, detail: str, port: int = 5000) -> CheckResult:
        return CheckResult("backend", Kind.HTTP, "u", State.DOWN, reason, detail, None, 0.0, port=port)

    def transition(old: State, r: CheckResult) -> Transition:  # as the monitor makes one
        return Transition("backend", old, r.state, r.reason, r.detail, r.t, headline=r.headline)

    exited = result(Reason.EXITED, "backend exited with code 1")
    printer(transition(State.UP, result(Reason.REFUSED, "Nothing listens on port 5000.")))
    printer(transition(State.DOWN, exited))
    printer(CheckEvent(exited, State.DOWN, 2))  # the same again: not printed
    printer(CheckEvent(result(Reason.REFUSED, "Nothing listens on port 5000."), State.DOWN, 2))
    printer(CheckEvent(result(Reason.REFUSED, "Nothing listens on port 5000. Its log says …"), State.DOWN, 2))
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "backend: up -> down  Nothing listens on port 5000.",
        "backend: down (exited)  backend exited with code 1",
        "backend: down (refused)  Nothing listens on port 5000.",
    ]


def test_status_verbose_adds_sentences_and_trayapps_detail_not_the_drivers_debug_output(
    tmp_path, backend, mongo
) -> None:
    """`status -v` is documented as "the table with each full diagnosis": pymongo's topology
    JSON and httpx's request lines must not bury it on stderr."""
    api, db = backend("healthy"), mongo()
    config = tmp_path / "trayapp.toml"
    config.write_text(service_toml("backend", "http", url=api.url()) + service_toml("db", "mongo", uri=db.uri))
    result = run_cli("status", "-v", "--config", config, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "backend answers 200" in result.stdout and "db answers ping" in result.stdout
    assert "topology" not in result.stderr.lower() and "HTTP Request" not in result.stderr
    assert all(not line.startswith("{") for line in result.stderr.splitlines())
