"""Process groups per OS: how a managed child is started so that a stop reaches every process
it spawned (``npm run dev`` -> ``node``, a watcher -> its app), how the group is signalled,
and whether anything in it is still alive.

POSIX: the child leads its own session and process group (``start_new_session``); the
group is signalled with ``killpg``, and alive means a non-zombie process with that group id.

Windows: there is no process group to signal, so the child is started suspended, put in a
Job Object of its own, and then resumed: everything it starts later is in the job too (no
breakaway is allowed). The polite stop is ``CTRL_BREAK_EVENT`` to its console process group
(``CREATE_NEW_PROCESS_GROUP``); the forced one is ``TerminateJobObject``, which ends every
process in the job, grandchildren included, where ``TerminateProcess`` on the leader left
``node`` running under a killed ``npm``. Alive means the job still counts active processes.
The job is created *without* ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`` (which syncthingtray's
Boost.Process groups pair with it): a managed child outlives the trayapp that started it
(quitting the tray, a finished ``trayapp restart``), and kill-on-close would end it the moment
that process exits. An adopted child gets a new job holding it and its descendants.
If a job cannot be made (an old Windows that forbids nested jobs), the forced stop falls back
to the leader and its descendants as psutil sees them.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

import psutil

log = logging.getLogger(__name__)


@dataclass
class ProcessGroup:
    """The processes one managed child is made of."""

    pid: int  # the leader: the process trayapp started
    pgid: int  # POSIX process group id; on Windows the leader's pid (its console process group)
    job: int | None = None  # Windows: a Job Object handle holding the leader and all it starts


class StopMethod(Enum):
    """How a signal reaches a group."""

    KILLPG = "killpg"  # POSIX: the signal to the process group (SIGCONT after a polite one)
    CTRL_BREAK = "ctrl_break"  # Windows, polite: CTRL_BREAK_EVENT to the console process group
    TERMINATE_JOB = "terminate_job"  # Windows, forced: TerminateJobObject, every process in the job
    KILL_TREE = "kill_tree"  # Windows, forced, no job: the leader and its descendants, one by one


def stop_method(*, windows: bool, soft: bool, has_job: bool) -> StopMethod:
    """The way to deliver a polite (``soft``) or forced stop to a group on this OS."""
    if not windows:
        return StopMethod.KILLPG
    if soft:
        return StopMethod.CTRL_BREAK  # a job cannot be asked politely; the console group can
    return StopMethod.TERMINATE_JOB if has_job else StopMethod.KILL_TREE


class JobAccounting(ctypes.Structure):
    """JOBOBJECT_BASIC_ACCOUNTING_INFORMATION (winnt.h): 48 bytes, ``ActiveProcesses`` at offset 40."""

    _fields_ = [
        ("TotalUserTime", ctypes.c_int64),
        ("TotalKernelTime", ctypes.c_int64),
        ("ThisPeriodTotalUserTime", ctypes.c_int64),
        ("ThisPeriodTotalKernelTime", ctypes.c_int64),
        ("TotalPageFaultCount", ctypes.c_uint32),
        ("TotalProcesses", ctypes.c_uint32),
        ("ActiveProcesses", ctypes.c_uint32),
        ("TotalTerminatedProcesses", ctypes.c_uint32),
    ]


JOB_OBJECT_BASIC_ACCOUNTING_INFORMATION = 1  # JOBOBJECTINFOCLASS
PROCESS_TERMINATE, PROCESS_SET_QUOTA = 0x0001, 0x0100
CREATE_SUSPENDED = 0x00000004
CREATE_NEW_PROCESS_GROUP = 0x00000200


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    from ctypes import wintypes

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    _kernel32.CreateJobObjectW.argtypes = (wintypes.LPVOID, wintypes.LPCWSTR)
    _kernel32.OpenProcess.restype = wintypes.HANDLE
    _kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    _kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
    _kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
    _kernel32.TerminateJobObject.restype = wintypes.BOOL
    _kernel32.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
    _kernel32.QueryInformationJobObject.restype = wintypes.BOOL
    _kernel32.QueryInformationJobObject.argtypes = (
        wintypes.HANDLE,
        ctypes.c_int,
        wintypes.LPVOID,
        wintypes.DWORD,
        ctypes.POINTER(wintypes.DWORD),
    )
    _kernel32.CloseHandle.restype = wintypes.BOOL
    _kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)

    def _new_job(pids: list[int]) -> int | None:
        """A Job Object holding ``pids`` (no limits: see the module docstring); None if it cannot be made."""
        job = _kernel32.CreateJobObjectW(None, None)
        if not job:
            log.warning("cannot create a job object: %s", ctypes.WinError(ctypes.get_last_error()))
            return None
        for pid in pids:
            process = _kernel32.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, False, pid)
            if not process:
                continue  # gone meanwhile
            try:
                if not _kernel32.AssignProcessToJobObject(job, process):
                    log.warning("cannot put pid %d in a job object: %s", pid, ctypes.WinError(ctypes.get_last_error()))
                    if pid == pids[0]:
                        _kernel32.CloseHandle(job)
                        return None
            finally:
                _kernel32.CloseHandle(process)
        return int(job)

    def _job_active(job: int) -> int:
        info = JobAccounting()
        if not _kernel32.QueryInformationJobObject(
            job, JOB_OBJECT_BASIC_ACCOUNTING_INFORMATION, ctypes.byref(info), ctypes.sizeof(info), None
        ):
            raise ctypes.WinError(ctypes.get_last_error())
        return int(info.ActiveProcesses)


def spawn_options() -> dict[str, Any]:
    """Keyword arguments for :class:`subprocess.Popen` that put the child in a group of its own.

    On Windows the child starts suspended: :func:`attach` puts it in its job, then resumes it,
    so not even its first child can be started outside the job.
    """
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED}
    return {"start_new_session": True}


def attach(proc: subprocess.Popen[bytes]) -> ProcessGroup:
    """The group of a child just started with :func:`spawn_options` (on Windows: its job, then resumed)."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        job = _new_job([proc.pid])
        try:
            psutil.Process(proc.pid).resume()  # NtResumeProcess: it was created suspended
        except psutil.Error as exc:
            proc.kill()
            raise OSError(f"cannot resume the child after putting it in its job object: {exc}") from exc
        return ProcessGroup(proc.pid, proc.pid, job)
    return ProcessGroup(proc.pid, group_of(proc.pid))


def adopt(pid: int, pgid: int) -> ProcessGroup:
    """The group of a child an earlier trayapp started (on Windows: a new job for it and its descendants)."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        try:
            descendants = [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            descendants = []
        return ProcessGroup(pid, pgid, _new_job([pid, *descendants]))
    return ProcessGroup(pid, pgid)


def release(group: ProcessGroup) -> None:
    """Let go of the group's OS handles (the processes go on)."""
    if sys.platform == "win32" and group.job is not None:  # pragma: no cover - Windows only
        _kernel32.CloseHandle(group.job)
    group.job = None


def group_of(pid: int) -> int:
    """The process group id of ``pid`` (``pid`` itself where there are none, or it is gone)."""
    try:
        return os.getpgid(pid) if hasattr(os, "getpgid") else pid
    except OSError:
        return pid


def signal_group(group: ProcessGroup, sig_name: str, *, soft: bool, label: str = "") -> None:
    """Send ``sig_name`` to the group (``soft``: the polite stop signal, followed by SIGCONT)."""
    method = stop_method(windows=sys.platform == "win32", soft=soft, has_job=group.job is not None)
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        try:
            if method is StopMethod.CTRL_BREAK:
                os.kill(group.pid, signal.CTRL_BREAK_EVENT)
            elif method is StopMethod.TERMINATE_JOB:
                if not _kernel32.TerminateJobObject(group.job, 1):
                    raise ctypes.WinError(ctypes.get_last_error())
            else:
                _kill_tree(group.pid)
        except (OSError, psutil.Error) as exc:
            log.warning("cannot stop %s (pid %d): %s", label, group.pid, exc)
        return
    try:
        os.killpg(group.pgid, getattr(signal, sig_name))
        if soft:  # as systemd does: a stopped process (Ctrl-Z, SIGSTOP) can only act on its stop signal awake
            os.killpg(group.pgid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("not allowed to signal process group %d of %s", group.pgid, label)


def _kill_tree(pid: int) -> None:  # pragma: no cover - the Windows fallback without a job
    try:
        leader = psutil.Process(pid)
        family = [*leader.children(recursive=True), leader]
    except psutil.Error:
        return
    for process in family:
        try:
            process.kill()
        except psutil.Error:
            pass


def group_alive(group: ProcessGroup, proc: subprocess.Popen[bytes] | None) -> bool:
    """Whether any live (non-zombie) process is left in the group."""
    if proc is not None:
        proc.poll()  # reap our own child so it does not linger as a zombie
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        if group.job is not None:
            try:
                return _job_active(group.job) > 0
            except OSError:
                pass
        try:
            leader = psutil.Process(group.pid)
            return leader.is_running() or bool(leader.children(recursive=True))
        except psutil.Error:
            return False
    try:
        os.killpg(group.pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for p in psutil.process_iter(["status"]):
        try:
            if os.getpgid(p.pid) == group.pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False
