"""Sending SIGTERM the two ways a multi-threaded process can miss it (Linux; issue #8).

A signal sent to a process goes to one of its threads. Python runs its handler only on the
main thread, so a program whose main thread sits in a blocking call must be woken some other
way when a worker thread takes the signal.

- :func:`stop_term_continue` is Ctrl-Z then ``kill %1`` (bash sends SIGTERM, then SIGCONT):
  the SIGTERM stays pending while every thread is stopped, and after SIGCONT whichever thread
  runs first takes it, so a program that misses it does so in some runs only.
- :func:`term_to_a_worker_thread` makes the worker take it every time: ``kill(2)`` on a thread
  id sends a signal to the whole process, which Linux gives to that thread first.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

from tests.kit.wait import wait_until


def thread_states(pid: int) -> dict[int, str]:
    """Thread id -> state letter (R, S, T, Z...) for each thread of ``pid``, from /proc/PID/task/*/stat."""
    states = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as fh:
                states[int(tid)] = fh.read().rpartition(")")[2].split()[0]
        except OSError:
            continue  # the thread ended meanwhile
    return states


def _exit_code(proc: subprocess.Popen[Any], timeout: float, how: str) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        threads = len(thread_states(proc.pid))
        raise AssertionError(
            f"pid {proc.pid} ({threads} threads) ignored {how}: still running after {timeout} s"
        ) from None


def stop_term_continue(proc: subprocess.Popen[Any], timeout: float = 2.0) -> int:
    """SIGSTOP ``proc`` and wait until all its threads are stopped, then SIGTERM, then SIGCONT.

    Returns the exit code; fails if the process is still running ``timeout`` seconds after
    SIGCONT (a bound on the wait: a process that missed the SIGTERM never exits by itself).
    """
    proc.send_signal(signal.SIGSTOP)
    wait_until(
        lambda: (states := thread_states(proc.pid)) and all(s in "tT" for s in states.values()),
        what=f"every thread of pid {proc.pid} to stop",
    )
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    return _exit_code(proc, timeout, "a SIGTERM sent while it was stopped")


def term_to_a_worker_thread(proc: subprocess.Popen[Any], timeout: float = 2.0) -> int:
    """SIGTERM ``proc`` so that a thread other than its main thread takes it; returns the exit code."""
    workers = [tid for tid in thread_states(proc.pid) if tid != proc.pid]
    assert workers, f"pid {proc.pid} has no thread besides its main thread"
    os.kill(workers[0], signal.SIGTERM)
    return _exit_code(proc, timeout, "a SIGTERM that a worker thread took")
