"""The browser's path through Vite's proxy, one root cause and stale drivers, against the real stack
(tests/stack: Express 5 + mongoose 9, Vite 8, NX-27017 as MongoDB), seen as a user sees them:
``trayapp status`` and ``trayapp watch --json`` as child processes (issue #10 sections 3 to 5)."""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.servers import free_port
from tests.kit.services import service_toml
from tests.kit.splitstack import split_project
from tests.kit.stack import NodeProcess, Stack, get_json
from tests.kit.wait import wait_until

HEALTHY = (200, {"status": "ok", "db": "connected"})


def wait_connected(backend: NodeProcess) -> None:
    wait_until(lambda: get_json(backend.url("/api/health")) == HEALTHY, what="backend connected to MongoDB")


def status_in(project: Path, home: Path) -> tuple[int, str, dict[str, dict], str]:
    """``trayapp status`` and ``status --json`` with no config, in the project folder (discovery)."""
    text = run_cli("status", "-v", home=home, cwd=project)  # -v: each row's full sentence below it
    data = run_cli("status", "--json", home=home, cwd=project)
    assert text.returncode in (0, 1), text.stderr
    services = {s["name"]: s for s in json.loads(data.stdout)["services"]}
    return text.returncode, text.stdout, services, json.loads(data.stdout)["overall"]


def line_of(output: str, name: str) -> str:
    """The service's row of ``status -v`` (state, headline) and the sentence on the line below it."""
    lines = output.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(f"{name} "))
    return f"{lines[row]}  {lines[row + 1].strip()}"


def discovered_stack(stack: Stack, proxy_target: str | None, backend_host: str | None = None):
    """db, backend and Vite running in a server/ + client/ project whose files say where each is."""
    db = stack.db()
    backend_port, vite_port = free_port(), free_port()
    target = proxy_target.format(backend=backend_port, free=free_port()) if proxy_target else None
    project = split_project(
        stack, backend_port=backend_port, mongodb_uri=f"{db.uri}/app", vite_port=vite_port, proxy_target=target
    )
    backend = stack.backend(f"{db.uri}/app", port=backend_port, host=backend_host)
    vite = stack.vite("http://proxy-target.invalid", port=vite_port)  # the literal in vite.config.js wins
    wait_connected(backend)
    return project, db, backend, vite, target


def test_vite_proxy_to_the_wrong_port_names_both_ports_and_their_lines(tmp_path: Path, stack: Stack) -> None:
    project, _db, backend, vite, target = discovered_stack(stack, "http://localhost:{free}")
    code, _page = get_json(vite.url("/api/health"))
    assert code == 502  # what the browser gets

    exit_code, output, services, overall = status_in(project, tmp_path)

    wrong_port = target.rsplit(":", 1)[1] if target else ""
    assert line_of(output, "frontend").endswith(
        f"Vite's /api proxy targets port {wrong_port} (client/vite.config.js:23), but backend listens on "
        f"{backend.port} (server/.env:1): every /api call fails with 502."
    )
    assert "down" in line_of(output, "frontend") and "up" in line_of(output, "backend")
    assert exit_code == 1 and overall == "down"
    frontend = services["frontend"]
    assert (frontend["state"], frontend["reason"], frontend["blocked_by"]) == ("down", "proxy_error", None)
    assert frontend["proxy"] == {
        "path": "/api/health",
        "to": "backend",
        "state": "down",
        "http_status": 502,
        "latency_ms": frontend["proxy"]["latency_ms"],
    }
    assert services["backend"]["state"] == "up"


def test_proxy_target_on_ipv6_loopback_with_a_backend_on_127_0_0_1_only(tmp_path: Path, stack: Stack) -> None:
    # localhost is 127.0.0.1 only on this machine (/etc/hosts), so the ::1-first case is made
    # honestly with a literal target; the "resolves to ::1 first" sentence is tested with the
    # resolver's order injected in test_rootcause.py.
    project, _db, backend, vite, _target = discovered_stack(stack, "http://[::1]:{backend}", backend_host="127.0.0.1")
    assert get_json(vite.url("/api/health"))[0] == 502
    assert "ECONNREFUSED ::1:" in vite.output()  # Vite's own log says it

    exit_code, output, services, _overall = status_in(project, tmp_path)

    assert line_of(output, "frontend").endswith(
        f"Vite's /api proxy targets http://[::1]:{backend.port}, but backend listens on 127.0.0.1 only: "
        f"set the target to http://127.0.0.1:{backend.port} or make backend listen on both."
    )
    assert exit_code == 1
    assert (services["frontend"]["reason"], services["backend"]["state"]) == ("proxy_error", "up")


def test_no_proxy_in_the_vite_config_is_named_as_vites_index_html(tmp_path: Path, stack: Stack) -> None:
    project, db, backend, vite, _target = discovered_stack(stack, None)
    code, page = get_json(vite.url("/api/health"), accept="*/*")
    assert code == 200 and "<!doctype html>" in str(page).lower()  # the browser's `Unexpected token <`
    # the user's config names the path the app calls; the Vite config no longer proxies it
    config = project / "trayapp.toml"
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"])
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend")
        + service_toml("db", "mongo", uri=f"{db.uri}/app"),
        encoding="utf-8",
    )

    exit_code, output, services, _overall = status_in(project, tmp_path)

    assert line_of(output, "frontend").endswith(
        "/api is not proxied: Vite answers its index.html (the browser's `Unexpected token <`)."
    )
    assert exit_code == 1
    assert (services["frontend"]["state"], services["frontend"]["reason"]) == ("down", "proxy_error")
    assert services["frontend"]["proxy"]["http_status"] == 404  # asked with Accept: application/json


def test_backend_down_the_frontend_row_says_its_api_path_fails_because_of_it(tmp_path: Path, stack: Stack) -> None:
    project, db, backend, vite, _target = discovered_stack(stack, "http://localhost:{backend}")
    backend.kill()

    # discovered, the backend has a start command (npm run dev): not running, it is "stopped"
    exit_code, output, services, overall = status_in(project, tmp_path)
    assert line_of(output, "frontend").endswith("frontend's API path /api/health fails because backend is stopped.")
    assert "root cause: backend is stopped; frontend is affected" in output
    assert (services["backend"]["state"], services["frontend"]["blocked_by"]) == ("stopped", "backend")

    # a config that does not manage the backend: it crashed, it is down
    (project / "trayapp.toml").write_text(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"])
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend")
        + service_toml("db", "mongo", uri=f"{db.uri}/app"),
        encoding="utf-8",
    )
    exit_code, output, services, overall = status_in(project, tmp_path)

    assert line_of(output, "frontend").endswith(
        "frontend's API path /api/health fails because backend is down (refused)."
    )
    assert "root cause: backend is down (refused); frontend is affected" in output
    assert services["frontend"]["blocked_by"] == "backend" and services["backend"]["blocked_by"] is None
    assert (exit_code, overall) == (1, "down")


def test_db_stopped_names_one_root_cause_for_three_red_rows(tmp_path: Path, stack: Stack) -> None:
    project, db, backend, _vite, _target = discovered_stack(stack, "http://localhost:{backend}")
    db.stop()
    down = (503, {"status": "error", "db": "disconnected"})
    wait_until(lambda: get_json(backend.url("/api/health")) == down, what="the backend to notice the database is gone")

    exit_code, output, services, overall = status_in(project, tmp_path)

    assert output.count("root cause:") == 1
    assert "root cause: db is down (refused); backend and frontend are affected" in output
    assert {n: (s["state"], s["blocked_by"]) for n, s in services.items()} == {
        "backend": ("degraded", "db"),
        "frontend": ("degraded", "db"),
        "db": ("down", None),
    }
    assert (exit_code, overall) == (1, "down")  # unchanged by the root cause


def watch(config: Path, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        trayapp_command("watch", "--json", "--config", config),
        cwd=home,
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], done, timeout: float = 30.0) -> tuple[dict, list[dict]]:
    """Events of ``watch --json`` until one for which ``done(event)`` is true."""
    events: list[dict] = []
    assert proc.stdout is not None
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        assert ready, f"watch printed nothing for {timeout} s; so far: {events[-5:]}"
        line = proc.stdout.readline()
        assert line, f"watch ended: {proc.stderr.read() if proc.stderr else ''}"
        event = json.loads(line)
        events.append(event)
        if done(event):
            return event, events


def test_mongoose_that_gave_up_is_a_stale_connection_once_db_answers(tmp_path: Path, stack: Stack) -> None:
    db_port = free_port()
    # The tutorials' app: one mongoose.connect(), no retry. The database is not there yet.
    backend = stack.backend(f"mongodb://127.0.0.1:{db_port}/app", server_selection_ms=500)
    backend.wait_for_output("MongoDB connection error")
    db = stack.db(port=db_port)  # MongoDB is back; mongoose will never look again
    assert get_json(backend.url("/api/health")) == (503, {"status": "error", "db": "disconnected"})
    config = tmp_path / "trayapp.toml"
    config.write_text(
        service_toml(
            "backend", "http", url=backend.url("/api/health"), depends_on=["db"], interval=0.2, stale_after_checks=3
        )
        + service_toml("db", "mongo", uri=f"{db.uri}/app", interval=0.2),
        encoding="utf-8",
    )
    proc = watch(config, tmp_path)
    try:
        stale, events = read_until(
            proc, lambda e: e["event"] == "check" and e["service"] == "backend" and e["reason"] == "stale_connection"
        )
        db_ups = [e for e in events if e["event"] == "check" and e["service"] == "db" and e["state"] == "up"]
        assert len(db_ups) >= 3  # db answered three checks in a row first
        assert stale["state"] == "degraded" and stale["blocked_by"] is None
        assert stale["detail"].startswith("backend still reports db disconnected ")
        assert " s after db answers ping directly (" in stale["detail"]
        assert stale["detail"].endswith(" ms): its driver gave up or its pool is stale; restart backend.")
        before = [e for e in events if e["event"] == "check" and e["service"] == "backend"][0]
        assert before["reason"] == "dependency_down"  # until db had answered three times
    finally:
        proc.kill()
        proc.wait(timeout=10)

    # `trayapp status` checks once: db's process has run long enough, but how long db has answered is
    # not known from one check, so it names no duration
    wait_until(
        lambda: "restart backend." in run_cli("status", "-v", "--config", config, home=tmp_path).stdout,
        what="status to call the connection stale",
    )
    out = run_cli("status", "-v", "--config", config, home=tmp_path).stdout
    assert "backend still reports db disconnected while db answers ping directly (" in out
    assert " after db" not in out


def test_a_db_continued_after_sigstop_is_not_said_to_be_down_nor_to_have_answered_for_long(
    tmp_path: Path, stack: Stack
) -> None:
    """User trial, case 2: db stopped with SIGSTOP, the backend restarted (mongoose gives up on its
    first connect), db continued. The backend's connection is stale; db is up. The frontend's
    headline said "blocked by backend · db is down; frontend affected" and `status` "… 7 min after
    db started" while db had answered for 3 s."""
    db = stack.db()
    db.pause()
    backend = stack.backend(f"{db.uri}/app", server_selection_ms=500)
    backend.wait_for_output("MongoDB connection error")  # mongoose gave up; it will not look again
    db.resume()
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    assert get_json(backend.url("/api/health")) == (503, {"status": "error", "db": "disconnected"})
    config = tmp_path / "trayapp.toml"
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"], interval=0.2)
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend")
        + service_toml("db", "mongo", uri=f"{db.uri}/app", interval=0.2),
        encoding="utf-8",
    )

    services = {
        s["name"]: s
        for s in json.loads(run_cli("status", "--json", "--config", config, home=tmp_path).stdout)["services"]
    }

    backend_row, frontend_row = services["backend"], services["frontend"]
    assert (backend_row["reason"], backend_row["headline"]) == (
        "stale_connection",
        "stale database connection; restart it",
    )
    assert backend_row["detail"].startswith("backend still reports db disconnected while db answers ping directly (")
    assert (frontend_row["state"], frontend_row["blocked_by"]) == ("degraded", "backend")
    assert frontend_row["headline"] == "blocked by backend · backend's db connection is stale"
    assert frontend_row["detail"] == (
        "frontend's API path /api/health reaches backend, which reports a dependency down: db: disconnected. "
        "backend's db connection is stale: restart backend."
    )

    # the same rows in watch, where the time db has answered is known from this run's checks
    proc = watch(config, tmp_path)
    try:
        front, _ = read_until(
            proc,
            lambda e: e["event"] == "check" and e["service"] == "frontend" and "stale" in e["headline"],
        )
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert (front["blocked_by"], front["headline"]) == (
        "backend",
        "blocked by backend · backend's db connection is stale",
    )


# -- what answers behind the proxy is read for what it is (an upstream's HTML is not Vite's page) -----


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def python_http_server(port: int, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python3 -m http.server PORT`` on 127.0.0.1 in ``folder`` (an old checkout's leftover server)."""
    folder.mkdir(parents=True, exist_ok=True)
    python3 = shutil.which("python3") or sys.executable
    proc = subprocess.Popen(
        [python3, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _listening("127.0.0.1", port), what="http.server to listen")
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_stale_server_on_the_backends_port_is_named_not_a_missing_proxy(tmp_path: Path, stack: Stack) -> None:
    project, _db, backend, vite, _target = discovered_stack(stack, "http://localhost:{backend}")
    backend.kill()
    with python_http_server(backend.port, tmp_path / "old-checkout") as holder:
        code, page = get_json(vite.url("/api/health"))
        assert code == 404 and "File not found" in str(page)  # the proxy works: the stale server answers
        name = psutil.Process(holder.pid).name()

        exit_code, output, services, _overall = status_in(project, tmp_path)

    assert line_of(output, "frontend").endswith(
        f"frontend's API path /api/health fails because backend's port {backend.port} is held by a stale server "
        f"({name} pid {holder.pid})."
    )
    assert "not proxied" not in output
    assert (services["backend"]["state"], services["backend"]["reason"]) == ("down", "stale_holder")
    frontend = services["frontend"]
    assert (frontend["state"], frontend["reason"], frontend["blocked_by"]) == ("down", "proxy_error", "backend")
    assert "root cause: backend is down (stale_holder); frontend is affected" in output
    assert exit_code == 1


def test_a_stale_server_on_the_backends_port_from_a_config_file_blames_the_backend(
    tmp_path: Path, stack: Stack
) -> None:
    # a config file outside the project: whether the holder is stale cannot be told, but the
    # backend's own check fails as the proxied path does, so it is the backend's failure either way
    _project, db, backend, vite, _target = discovered_stack(stack, "http://localhost:{backend}")
    config = tmp_path / "config" / "trayapp.toml"
    config.parent.mkdir()
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"))
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend")
        + service_toml("db", "mongo", uri=f"{db.uri}/app"),
        encoding="utf-8",
    )
    backend.kill()
    with python_http_server(backend.port, config.parent):  # in the config's own folder: not told stale
        out = run_cli("status", "-v", "--config", config, home=tmp_path).stdout
        data = json.loads(run_cli("status", "--json", "--config", config, home=tmp_path).stdout)

    rows = {s["name"]: s for s in data["services"]}
    assert (rows["backend"]["state"], rows["backend"]["reason"]) == ("down", "http_status")
    assert (rows["frontend"]["reason"], rows["frontend"]["blocked_by"]) == ("proxy_error", "backend")
    assert line_of(out, "frontend").endswith(
        "frontend's API path /api/health fails because backend is down (http_status)."
    )


def test_a_wrong_api_path_is_the_backends_404_not_a_missing_proxy(tmp_path: Path, stack: Stack) -> None:
    _project, db, backend, vite, _target = discovered_stack(stack, "http://localhost:{backend}")
    config = tmp_path / "trayapp.toml"
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"])
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/nope", proxy_to="backend")
        + service_toml("db", "mongo", uri=f"{db.uri}/app"),
        encoding="utf-8",
    )

    result = run_cli("status", "-v", "--config", config, home=tmp_path)
    data = json.loads(run_cli("status", "--json", "--config", config, home=tmp_path).stdout)

    row = line_of(result.stdout, "frontend")
    assert row.endswith(
        "frontend's API path /api/nope reaches backend, which answers 404 (Cannot GET /api/nope): "
        "the health path is wrong."
    )
    assert " API path /api/nope not found (404) " in row  # the row's headline
    frontend = next(s for s in data["services"] if s["name"] == "frontend")
    assert (frontend["state"], frontend["reason"], frontend["blocked_by"]) == ("down", "http_status", None)
    assert frontend["proxy"]["http_status"] == 404
    assert "root cause:" not in result.stdout  # nobody else is to blame


def test_a_backend_still_connecting_behind_vite_is_one_grammatical_sentence(tmp_path: Path, stack: Stack) -> None:
    # mongoose's first connect to a database that is not there: "connecting" for 30 s
    backend = stack.backend(f"mongodb://127.0.0.1:{free_port()}/app", server_selection_ms=30000)
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    assert get_json(vite.url("/api/health")) == (503, {"status": "error", "db": "connecting"})
    config = tmp_path / "trayapp.toml"
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"))
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend"),
        encoding="utf-8",
    )

    out = run_cli("status", "-v", "--config", config, home=tmp_path).stdout

    assert line_of(out, "frontend").endswith(
        "frontend's API path /api/health reaches backend, which reports a dependency still connecting: db: connecting."
    )


# -- the backend compared with is as fresh as the proxy's answer -----------------------------------------


def frontend_after(config: Path, home: Path, ready: str, action, done) -> dict:
    """``watch --json``: once backend and frontend were both checked ``ready`` (a state), ``action()``;
    then the first of the frontend's check events for which ``done(event)`` holds."""
    proc = watch(config, home)
    try:
        seen: set[str] = set()

        def both(e: dict) -> bool:
            if e["event"] == "check" and e["state"] == ready:
                seen.add(e["service"])
            return {"backend", "frontend"} <= seen

        read_until(proc, both)
        action()
        event, _ = read_until(proc, lambda e: e["event"] == "check" and e["service"] == "frontend" and done(e))
        return event
    finally:
        proc.kill()
        proc.wait(timeout=10)


def slow_backend_config(path: Path, backend: NodeProcess, vite: NodeProcess) -> Path:
    """backend checked once a minute, so its own result stays what it was after it stops; the
    frontend five times a second: only fresh evidence may speak of the backend."""
    path.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"), interval=60)
        + service_toml(
            "frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend", interval=0.2
        ),
        encoding="utf-8",
    )
    return path


def test_a_backend_that_just_stopped_is_not_called_a_wrong_proxy_target(tmp_path: Path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_connected(backend)
    config = slow_backend_config(tmp_path / "trayapp.toml", backend, vite)

    event = frontend_after(config, tmp_path, "up", backend.kill, lambda e: e["state"] != "up")

    assert event["detail"] == "frontend's API path /api/health fails because backend is down (refused)."
    assert (event["state"], event["reason"], event["blocked_by"]) == ("down", "proxy_error", "backend")


def test_a_degraded_backend_that_then_stops_is_named_down_not_degraded(tmp_path: Path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_connected(backend)
    db.stop()
    down = (503, {"status": "error", "db": "disconnected"})
    wait_until(lambda: get_json(backend.url("/api/health")) == down, what="the backend to notice the database is gone")
    config = slow_backend_config(tmp_path / "trayapp.toml", backend, vite)

    event = frontend_after(config, tmp_path, "degraded", backend.kill, lambda e: e["reason"] == "proxy_error")

    assert event["detail"] == "frontend's API path /api/health fails because backend is down (refused)."
    assert (event["state"], event["blocked_by"]) == ("down", "backend")


def test_a_backend_that_just_hung_is_not_called_a_stuck_proxy(tmp_path: Path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_connected(backend)
    config = slow_backend_config(tmp_path / "trayapp.toml", backend, vite)

    # stopped (SIGSTOP), the backend's port still accepts connections (the kernel does that), but
    # nothing answers: Vite's proxy waits, the frontend's check times out
    event = frontend_after(
        config, tmp_path, "up", lambda: backend.signal_group(signal.SIGSTOP), lambda e: e["state"] != "up"
    )

    assert event["detail"] == "frontend's API path /api/health fails because backend is down (timeout)."
    assert (event["state"], event["reason"], event["blocked_by"]) == ("down", "proxy_error", "backend")


def test_a_proxy_to_ipv6_loopback_from_a_config_file_says_what_to_set(tmp_path: Path, stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app", host="127.0.0.1")
    vite = stack.vite(f"http://[::1]:{backend.port}")
    wait_connected(backend)
    config = tmp_path / "trayapp.toml"  # written by hand: the proxy's target is not known to trayapp
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"))
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend"),
        encoding="utf-8",
    )

    out = run_cli("status", "-v", "--config", config, home=tmp_path).stdout

    sentence = line_of(out, "frontend")
    assert " (it cannot reach its target), though backend answers directly in " in sentence
    assert sentence.endswith(
        f" ms on port {backend.port}, but backend listens on 127.0.0.1 only: a target of "
        f"http://localhost:{backend.port} (where localhost resolves to ::1 first) or http://[::1]:{backend.port} "
        f"fails there; set the target to http://127.0.0.1:{backend.port}."
    )


def test_a_dependency_reported_down_that_answers_its_own_check_is_not_called_down(tmp_path: Path, stack: Stack) -> None:
    """The backend reports db disconnected while db answers ping (db has just come back; too soon to
    call the connection stale): the headline said "db is down; backend affected"."""
    db_port = free_port()
    backend = stack.backend(f"mongodb://127.0.0.1:{db_port}/app", server_selection_ms=500)
    backend.wait_for_output("MongoDB connection error")
    db = stack.db(port=db_port)
    config = tmp_path / "trayapp.toml"
    config.write_text(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"])
        + service_toml("db", "mongo", uri=f"{db.uri}/app", interval=60.0),  # stale only after 3 min of db
        encoding="utf-8",
    )

    data = json.loads(run_cli("status", "--json", "--config", config, home=tmp_path).stdout)

    row = {s["name"]: s for s in data["services"]}["backend"]
    assert (row["reason"], row["blocked_by"]) == ("dependency_down", None)
    assert row["detail"] == (
        "backend answers (503) but reports a dependency down: db: disconnected. db answers its own check: "
        "backend's connection to it is down."
    )
    assert row["headline"] == "db up, but backend's connection to it is down"
