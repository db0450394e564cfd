"""Issue 9, section 3 on the real stack (tests/stack: Express 5 + mongoose 9 under nodemon 3, with
NX-27017 as MongoDB): a stale server from another checkout and the watcher behind an app are
named as a user would meet them, through ``trayapp status`` and ``trayapp kill``."""

from __future__ import annotations

import json
import re
import signal

import psutil

from tests.kit.cli import run_cli
from tests.kit.services import service_toml
from tests.kit.stack import LISTENING, NODEMON_CRASHED, Stack, get_json
from tests.kit.wait import wait_until
from trayapp.checks.ports import listeners

EADDRINUSE = "Error: listen EADDRINUSE: address already in use :::{port}"


def holders(port: int) -> list[int]:
    return sorted(x.pid for x in listeners([port]) if x.pid is not None)


def test_a_stale_express_from_another_checkout_is_named_while_nodemons_log_says_eaddrinuse(tmp_path, stack: Stack):
    """node from the old checkout holds the port; this checkout's nodemon starts the app, which
    dies with Node's EADDRINUSE. A health path the old code lacks gets Express's 404."""
    db = stack.db()
    stale = stack.backend(f"{db.uri}/app", project="old-checkout")
    current = stack.nodemon(f"{db.uri}/app", port=stale.port, wait=False)
    current.wait_for_output(NODEMON_CRASHED)
    assert EADDRINUSE.format(port=stale.port) in current.output()
    config = tmp_path / "trayapp.toml"

    for path, answer in (("/api/healthz", "with 404 Not Found"), ("/api/health", "")):
        config.write_text(service_toml("backend", "http", url=stale.url(path), log=str(current.log)))
        result = run_cli("status", "--json", "--config", config, home=tmp_path)
        [backend] = json.loads(result.stdout)["services"]
        assert (backend["state"], backend["reason"]) == ("down", "stale_holder"), backend["detail"]
        assert re.match(
            rf"port {stale.port} is answered by node \(pid {stale.pid}, started \d+ (s|min) ago in "
            rf"~/stack/old-checkout\)( {answer})?, not by backend, whose log says EADDRINUSE",
            backend["detail"],
        ), backend["detail"]
        assert f"stop it with `trayapp kill {stale.port}`." in backend["detail"]
        assert backend["detail"].endswith(f"says: {EADDRINUSE.format(port=stale.port)}")
        if not answer:  # a 200 from the old code: not what the user edits
            assert "the code you edit is not what answers" in backend["detail"]


def test_killing_an_app_under_real_nodemon_says_nodemon_restarts_it_and_with_watcher_stops_both(
    tmp_path, stack: Stack
) -> None:
    db = stack.db()
    nodemon = stack.nodemon(f"{db.uri}/app")
    app = nodemon.app_pid()
    assert app is not None and holders(nodemon.port) == [app]

    killed = run_cli("kill", str(nodemon.port), "--yes", "--json", home=tmp_path)
    report = json.loads(killed.stdout)
    assert killed.returncode == 0, report
    assert report["terminated"] == [app]
    assert report["detail"].endswith(
        f"; nodemon (pid {nodemon.pid}) above it was not stopped and will start it again on the next file save: "
        f"`trayapp kill {nodemon.port} --with-watcher` stops it too"
    )
    assert nodemon.running()
    nodemon.touch()  # the next save: nodemon starts it again, as said
    nodemon.wait_for_output(f"{LISTENING} {nodemon.port}", count=2)
    wait_until(lambda: get_json(nodemon.url("/api/health"))[0] == 200, what="the app to answer again")

    killed = run_cli("kill", str(nodemon.port), "--yes", "--with-watcher", "--json", home=tmp_path)
    report = json.loads(killed.stdout)
    assert killed.returncode == 0, report
    assert nodemon.pid in report["terminated"]
    assert "--with-watcher" not in report["detail"]
    assert nodemon.wait_exit() == 128 + signal.SIGTERM  # nodemon's own exit code after SIGTERM
    assert holders(nodemon.port) == []


def test_an_eaddrinuse_that_nodemon_restarted_past_is_not_quoted_for_a_paused_app(tmp_path, stack: Stack) -> None:
    """Issue 9, section 1, on real nodemon: EADDRINUSE, a clean restart after a save, then the
    app is stopped with SIGSTOP. Status says paused, with the kill -CONT, and nothing of the log."""
    db = stack.db()
    blocker = stack.backend(f"{db.uri}/app", project="old-checkout")
    nodemon = stack.nodemon(f"{db.uri}/app", port=blocker.port, wait=False)
    nodemon.wait_for_output(NODEMON_CRASHED)
    blocker.kill()
    wait_until(lambda: not holders(blocker.port), what="the blocker to let go of the port")
    nodemon.touch()
    nodemon.wait_for_output(f"{LISTENING} {nodemon.port}")
    app = nodemon.app_pid()
    assert app is not None
    nodemon_app = psutil.Process(app)
    nodemon_app.suspend()
    try:
        wait_until(lambda: nodemon_app.status() == psutil.STATUS_STOPPED, what="the app to stop")
        config = tmp_path / "trayapp.toml"
        config.write_text(service_toml("backend", "http", url=nodemon.url("/api/health"), timeout=1.0,
                                       log=str(nodemon.log)))  # fmt: skip
        result = run_cli("status", "--json", "--config", config, home=tmp_path)
        [backend] = json.loads(result.stdout)["services"]
    finally:
        nodemon_app.resume()
    assert backend["reason"] == "paused"
    assert backend["detail"].endswith(f"it cannot answer until it continues (kill -CONT {app}, or fg in its terminal).")
    assert "EADDRINUSE" not in backend["detail"] and "Its log" not in backend["detail"]
