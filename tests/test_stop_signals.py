"""SIGTERM while stopped (Ctrl-Z, then ``kill %1``): every long-running process still acts on it.

Issue #8: in a process with worker threads, a SIGTERM that a worker thread takes only flags
Python's handler for the main thread; a main thread blocked in a wait never runs it. After
SIGSTOP, SIGTERM, SIGCONT the first thread to run takes the signal, so the old code missed it
in some runs only (measured here, old code: watch 22 of 42 runs, ``logs -f`` 5 of 42, the kit
backend with a connection open 9 of 42). Each process therefore gets the SIGTERM once through
a worker thread (the old code missed that every time) and then ``RUNS`` times while stopped.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.services import service_toml
from tests.kit.sigterm import stop_term_continue, term_to_a_worker_thread, thread_states
from tests.kit.wait import LineReader, wait_until
from trayapp.stop_signals import StopSignals

#: how often each process gets SIGSTOP, SIGTERM, SIGCONT
RUNS = 10

SENDS: dict[str, Callable[[subprocess.Popen[Any]], int]] = {
    "to_a_worker_thread": term_to_a_worker_thread,
    **{f"while_stopped_{run}": stop_term_continue for run in range(RUNS)},
}
send_sigterm = pytest.mark.parametrize("send", SENDS.values(), ids=SENDS.keys())


@contextmanager
def child(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **popen)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@send_sigterm
def test_watch_exits_on_sigterm_whichever_thread_takes_it(tmp_path: Path, send: Callable[..., int]) -> None:
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("db", "tcp", host="127.0.0.1", port=free_port(), interval=0.2, timeout=0.5))
    with child(trayapp_command("watch", "--json", "--config", config), cwd=tmp_path, env=cli_env(tmp_path)) as proc:
        first = json.loads(LineReader(proc.stdout).line())  # the monitor's threads are running
        assert first["event"] == "check"
        assert send(proc) == 1  # db was down when it stopped: watch's exit code says so


@send_sigterm
def test_logs_follow_exits_on_sigterm_whichever_thread_takes_it(tmp_path: Path, send: Callable[..., int]) -> None:
    log = tmp_path / "app.log"
    log.write_text("started\n")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("api", "tcp", port=1, log=str(log)))
    argv = trayapp_command("logs", "api", "-f", "-n", "1", "--config", config)
    with child(argv, cwd=tmp_path, env=cli_env(tmp_path)) as proc:
        assert LineReader(proc.stdout).line() == "started"
        wait_until(lambda: len(thread_states(proc.pid)) > 1, what="the thread of `logs -f` that follows the log")
        assert send(proc) == 0


@send_sigterm
def test_kit_backend_with_a_connection_open_acts_on_sigterm_whichever_thread_takes_it(send: Callable[..., int]) -> None:
    port = free_port()
    argv = [sys.executable, str(BACKEND_SCRIPT), "--port", str(port), "--linger", "0.1"]
    with child(argv, start_new_session=True) as proc:
        assert LineReader(proc.stdout).line() == f"LISTENING 127.0.0.1 {port}"
        # An idle client (a keep-alive pool, a hung health check) keeps a connection thread waiting.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            wait_until(lambda: len(thread_states(proc.pid)) > 1, what="the backend's connection thread")
            assert send(proc) == 0


def test_a_stop_signal_taken_by_a_worker_thread_wakes_the_main_thread_waiting_for_it() -> None:
    # What happens after SIGCONT when a worker runs first, made certain: the signal is the worker's own.
    with StopSignals() as stop:
        worker = threading.Thread(target=lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM))
        worker.start()
        assert stop.wait(timeout=10) is signal.SIGTERM
        worker.join()
        assert stop.wait(timeout=0) is None  # one signal, one wake-up


def _blocked_signals(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        return next(int(line.split()[1], 16) for line in fh if line.startswith("SigBlk:"))


def test_children_started_while_waiting_for_a_stop_signal_still_stop_on_sigterm() -> None:
    # A signal mask blocked in the parent is inherited across fork and exec: a managed service
    # started then would ignore the SIGTERM that `trayapp stop` sends.
    children: list[subprocess.Popen[bytes]] = []
    with StopSignals():
        children.append(subprocess.Popen(["sleep", "60"]))
        spawner = threading.Thread(target=lambda: children.append(subprocess.Popen(["sleep", "60"])))
        spawner.start()
        spawner.join()
    try:
        for child in children:
            assert not _blocked_signals(child.pid) & (1 << (signal.SIGTERM - 1) | 1 << (signal.SIGINT - 1))
            child.terminate()
            assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        for child in children:
            child.kill()
            child.wait()
