"""Process groups per OS: how a managed child is started so that a stop reaches every process
it spawned, how the group is signalled, and whether anything in it is still alive.

POSIX: the child leads its own session and process group (``start_new_session``); the
group is signalled with ``killpg``. Windows: the child gets its own console process group
(``CREATE_NEW_PROCESS_GROUP``), so ``CTRL_BREAK_EVENT`` reaches it alone.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import Any

import psutil

log = logging.getLogger(__name__)


def spawn_options() -> dict[str, Any]:
    """Keyword arguments for :class:`subprocess.Popen` that put the child in a group of its own."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def group_of(pid: int) -> int:
    """The process group id of ``pid`` (``pid`` itself where there are none, or it is gone)."""
    try:
        return os.getpgid(pid) if hasattr(os, "getpgid") else pid
    except OSError:
        return pid


def signal_group(pid: int, pgid: int, sig_name: str, *, soft: bool, label: str = "") -> None:
    """Send ``sig_name`` to the group (``soft``: the polite stop signal, followed by SIGCONT)."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        try:
            if soft:
                os.kill(pid, signal.CTRL_BREAK_EVENT)
            else:
                psutil.Process(pid).kill()
        except (OSError, psutil.Error):
            pass
        return
    try:
        os.killpg(pgid, getattr(signal, sig_name))
        if soft:  # as systemd does: a stopped process (Ctrl-Z, SIGSTOP) can only act on its stop signal awake
            os.killpg(pgid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("not allowed to signal process group %d of %s", pgid, label)


def group_alive(pid: int, pgid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    """Whether any live (non-zombie) process is left in the group."""
    if proc is not None:
        proc.poll()  # reap our own child so it does not linger as a zombie
    if sys.platform == "win32":  # pragma: no cover
        return psutil.pid_exists(pid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for p in psutil.process_iter(["status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False
