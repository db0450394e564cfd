"""A CLI that teaches (issue #11, item 8): help with examples and exit codes, `trayapp config`,
kinds inferred and suggested, TOML errors with their line, `watch` without repeats, formatted
`logs`, and health requests that say who they are. Each through the real CLI as a subprocess."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess

import pytest

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.projects import copy_project
from tests.kit.recorder import recorder
from tests.kit.services import service_toml
from trayapp import package_version
from trayapp.logs.format import clock_text

COMMANDS = (
    "status", "watch", "ports", "kill", "start", "stop", "restart", "init", "doctor", "logs", "config", "desktop",
    "autostart",
)  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_says_what_it_does_with_an_example_and_its_exit_codes(tmp_path, command) -> None:
    result = run_cli(command, "--help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    usage, _, rest = text.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert len(description) > 40 and not description.startswith(("positional", "options")), text
    examples = text.split("examples:\n", 1)[1].split("\n\n")[0].splitlines()
    assert examples and all(line.strip().startswith(f"trayapp {command}") or "trayapp" in line for line in examples)
    assert any(line.strip().startswith(f"trayapp {command}") for line in examples), examples
    codes = text.split("exit codes:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in codes if line.strip()][:1] == ["0"], codes


def test_arguments_have_help_and_defaults_are_shown(tmp_path) -> None:
    ports = run_cli("ports", "--help", home=tmp_path).stdout
    assert "PORT           a TCP port number (1-65535)" in ports
    logs = run_cli("logs", "--help", home=tmp_path).stdout
    assert "NAME             the service's name in the config" in logs
    assert "(default: 20)" in logs
    kill = run_cli("kill", "--help", home=tmp_path).stdout
    assert re.search(r"--grace S +seconds between SIGTERM and SIGKILL \(default: 5\)", kill), kill
    top = run_cli("--help", home=tmp_path).stdout
    assert "examples:" in top and "exit codes:" in top and "config" in top


# -- trayapp config ------------------------------------------------------------------------


def test_config_says_the_built_in_default_is_in_use_and_where_to_put_one(tmp_path) -> None:
    result = run_cli("config", home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("config in use: <built-in default>\nwhy: no config file anywhere trayapp looks")
    assert "backend   http   http://127.0.0.1:5000/api/health" in out
    assert "put trayapp.toml at ~/.config/trayapp/trayapp.toml" in out
    assert "`trayapp init` writes ./trayapp.toml" in out


@pytest.mark.parametrize("where", ["here", "option", "env", "user"])
def test_config_names_the_file_in_use_and_why(tmp_path, where) -> None:
    text = service_toml("api", "http", url="http://127.0.0.1:5999/health")
    files = {
        "here": tmp_path / "trayapp.toml",
        "option": tmp_path / "elsewhere.toml",
        "env": tmp_path / "from-env.toml",
        "user": tmp_path / ".config" / "trayapp" / "trayapp.toml",
    }
    files[where].parent.mkdir(parents=True, exist_ok=True)
    files[where].write_text(text)
    env = cli_env(tmp_path)
    args = ["config"]
    if where == "env":
        env["TRAYAPP_CONFIG"] = str(files["env"])
    if where == "option":
        args += ["--config", str(files["option"])]
    result = subprocess.run(trayapp_command(*args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    why = {
        "here": "trayapp.toml in the current folder",
        "option": "given with --config",
        "env": "named by $TRAYAPP_CONFIG",
        "user": "your user config file",
    }[where]
    lines = result.stdout.splitlines()
    assert lines[0] == f"config in use: {str(files[where]).replace(str(tmp_path), '~')}"
    assert lines[1].startswith(f"why: {why}")
    assert lines[3].split() == ["api", "http", "http://127.0.0.1:5999/health", "(from", "the", "config", "file)"]


def test_config_in_a_project_folder_says_it_was_discovered_and_from_what(tmp_path) -> None:
    project = copy_project("backend3001", tmp_path)
    result = run_cli("config", home=tmp_path, cwd=project / "server")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config in use: <discovered in ~/backend3001>\n")
    assert "why: no trayapp.toml here: discovered from the project you are in (~/backend3001)" in result.stdout
    assert "server/.env:1 PORT=3001" in result.stdout


def test_config_with_a_broken_file_says_which_and_what_is_wrong(tmp_path) -> None:
    (tmp_path / "trayapp.toml").write_text('[[service]]\nname = "api"\nurl = = "http://x"\n')
    result = run_cli("config", home=tmp_path)
    assert result.returncode == 2
    assert result.stdout == "config in use: ~/trayapp.toml  (trayapp.toml in the current folder)\n"
    assert "line 3 is not valid TOML" in result.stderr


# -- config mistakes -----------------------------------------------------------------------------


def test_kind_is_inferred_from_the_url_or_the_uri(tmp_path, backend) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(
        f'[[service]]\nname = "api"\nurl = "{api.url()}"\n\n'
        '[[service]]\nname = "db"\nuri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"\ntimeout = 0.5\n'
    )
    result = run_cli("status", "--json", "--config", config, home=tmp_path)
    assert result.returncode == 1, result.stderr  # nothing listens on port 9
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert (services["api"]["kind"], services["api"]["state"]) == ("http", "up")
    assert (services["db"]["kind"], services["db"]["state"]) == ("mongo", "down")


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("mongodb", "'mongodb' is not a known kind; did you mean 'mongo'?"),
        ("htp", "'htp' is not a known kind; did you mean 'http'?"),
        ("grpc", "'grpc' is not a known kind (one of: 'http', 'mongo', 'tcp')"),
    ],
)
def test_an_unknown_kind_gets_a_suggestion(tmp_path, kind, said) -> None:
    config = tmp_path / "stack.toml"
    config.write_text(f'[[service]]\nname = "db"\nkind = "{kind}"\nuri = "mongodb://127.0.0.1:27017"\n')
    result = run_cli("status", "--config", config, home=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"trayapp: {config}: service 'db': field 'kind': {said}\n"


def test_a_missing_kind_that_nothing_implies_says_how_to_give_it(tmp_path) -> None:
    config = tmp_path / "stack.toml"
    config.write_text('[[service]]\nname = "vite"\nport = 5173\n')
    result = run_cli("status", "--config", config, home=tmp_path)
    assert result.returncode == 2
    assert 'field \'kind\': is required unless url = "http://…" or uri = "mongodb://…" says it' in result.stderr


def test_a_toml_syntax_error_is_one_sentence_with_the_line_number_and_the_line(tmp_path) -> None:
    config = tmp_path / "stack.toml"
    config.write_text(
        '[[service]]\nname = "db"\nuri = "mongodb://admin:hunter2@127.0.0.1:27017" # the db\ntimeout = 2 s\n'
    )
    result = run_cli("status", "--config", config, home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr == (
        f"trayapp: {config}: line 4 is not valid TOML "
        "(expected newline or end of document after a statement at column 13): timeout = 2 s\n"
    )
    config.write_text('[[service]]\nname = "db"\nuri = "mongodb://admin:hunter2@127.0.0.1:27017\n')
    result = run_cli("status", "--config", config, home=tmp_path)
    assert result.stderr.startswith(f"trayapp: {config}: line 3 is not valid TOML (illegal character")
    assert "hunter2" not in result.stderr and "mongodb://***@127.0.0.1:27017" in result.stderr


# -- watch ------------------------------------------------------------------------------------


def test_plain_watch_prints_each_change_once(tmp_path, backend) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url(), interval=0.1, timeout=0.5))
    proc = subprocess.Popen(
        trayapp_command("watch", "--config", config),
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read_until(fragment: str) -> None:
        while not (lines and fragment in lines[-1]):
            ready, _, _ = select.select([proc.stdout], [], [], 10)
            assert ready, f"watch printed nothing for 10 s after {lines}"
            lines.append(proc.stdout.readline().rstrip("\n"))

    try:
        read_until("backend: unknown -> up")
        api.set_mode("status_500")  # meanwhile, healthy checks every 0.1 s said nothing new
        read_until("backend: up -> down")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 1
    finally:
        proc.kill()
        proc.wait()
    body = [line.split(" ", 1)[1] for line in lines[1:]]  # without the time
    assert lines[0].startswith("watching backend (config: ")
    assert [b.split("  ")[0] for b in body] == [
        "backend: unknown -> up",
        "backend: down (http_status)",  # the first failure; one more confirms it (down_after = 2)
        "backend: up -> down",
    ], lines


# -- logs --------------------------------------------------------------------------------------


def _pino(level: int, msg: str, t_ms: int, **extra: object) -> str:
    return json.dumps({"level": level, "time": t_ms, "pid": 7, "hostname": "box", "msg": msg, **extra})


def test_logs_shows_json_lines_as_the_window_does_and_raw_as_they_are(tmp_path) -> None:
    log = tmp_path / "api.log"
    lines = [
        _pino(30, "server listening on 5000", 1_700_000_000_000),
        "plain line \x1b[31mred\x1b[0m",
        _pino(50, "db down", 1_700_000_001_500, err={"type": "Error", "message": "x", "stack": "Error: x\n    at f"}),
    ]
    log.write_text("\n".join(lines) + "\n")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("api", "tcp", port=5999, log=str(log)))

    shown = run_cli("logs", "api", "--config", config, home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        f"{clock_text(1_700_000_000)}  INFO   server listening on 5000",
        "plain line red",
        f"{clock_text(1_700_000_001.5)}  ERROR  db down  err.type=Error  err.message=x",
        "    at f",
    ]
    raw = run_cli("logs", "api", "--raw", "--config", config, home=tmp_path)
    assert raw.stdout.splitlines() == lines


# -- who is asking ------------------------------------------------------------------------------


def test_health_requests_say_who_they_are_on_every_path(tmp_path, tls_files) -> None:
    agent = f"trayapp/{package_version()}"
    with (
        recorder(tmp_path) as plain,
        recorder(tmp_path, tls_files.cert, tls_files.key) as tls,
    ):
        config = tmp_path / "stack.toml"
        config.write_text(
            # plain http on this machine: h11 over one socket
            service_toml("plain", "http", url=f"http://127.0.0.1:{plain.port}/health")
            # https: httpx
            + service_toml("tls", "http", url=f"https://127.0.0.1:{tls.port}/health", tls_ca_file=str(tls_files.ca))
            # https to a plain server: the handshake fails, and a plain GET finds out what it speaks
            + service_toml("wrong", "http", url=f"https://127.0.0.1:{plain.port}/other")
        )
        result = run_cli("status", "--json", "--config", config, home=tmp_path)
        states = {s["name"]: (s["state"], s["detail"]) for s in json.loads(result.stdout)["services"]}
        assert states["plain"][0] == states["tls"][0] == "up", states
        assert "speaks plain HTTP, not TLS" in states["wrong"][1], states
        assert plain.agents() and tls.agents()
        assert set(plain.agents()) == set(tls.agents()) == {agent}
        assert len(plain.agents()) == 2  # the check of "plain" and the plain GET of "wrong"
