"""Process groups: a stop reaches every process a managed child started.

Real processes on this (POSIX) machine; for Windows, whose Job Object code cannot run here,
the decision of how each stop is delivered and the layout of the record read from the job.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys

import psutil
import pytest

from tests.kit.wait import wait_until
from trayapp.supervise.groups import (
    JobAccounting,
    StopMethod,
    attach,
    group_alive,
    signal_group,
    spawn_options,
    stop_method,
)

# a parent that starts a child and says so; both live until killed
GRANDCHILD = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.mark.skipif(sys.platform == "win32", reason="process groups by killpg are POSIX")
def test_a_forced_stop_reaches_a_grandchild_whose_parent_it_outlived() -> None:
    # npm -> node: the process trayapp started spawns the one that does the work.
    proc = subprocess.Popen([sys.executable, "-c", GRANDCHILD], stdout=subprocess.PIPE, **spawn_options())
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        group = attach(proc)
        [grandchild] = psutil.Process(proc.pid).children()
        signal_group(group, "SIGKILL", soft=False, label="test")
        wait_until(lambda: not group_alive(group, proc), what="the whole group to be gone")
        assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
    finally:
        proc.kill()
        proc.wait()


def test_on_windows_a_forced_stop_ends_the_whole_job_not_just_the_leader() -> None:
    assert stop_method(windows=True, soft=False, has_job=True) is StopMethod.TERMINATE_JOB
    # without a job (it could not be made), the leader's descendants are still looked up and killed
    assert stop_method(windows=True, soft=False, has_job=False) is StopMethod.KILL_TREE


def test_on_windows_a_polite_stop_is_ctrl_break_to_the_console_group() -> None:
    assert stop_method(windows=True, soft=True, has_job=True) is StopMethod.CTRL_BREAK
    assert stop_method(windows=True, soft=True, has_job=False) is StopMethod.CTRL_BREAK


def test_on_posix_every_stop_goes_to_the_process_group() -> None:
    for soft in (True, False):
        assert stop_method(windows=False, soft=soft, has_job=False) is StopMethod.KILLPG


def test_the_job_accounting_record_has_the_windows_layout() -> None:
    # QueryInformationJobObject fills 48 bytes; a wrong layout would read another field as
    # ActiveProcesses and call a job with a live node in it empty (and so the stop done).
    assert ctypes.sizeof(JobAccounting) == 48
    assert JobAccounting.ActiveProcesses.offset == 40
