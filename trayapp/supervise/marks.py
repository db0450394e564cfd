"""A managed service's own processes, wherever they went: the TRAYAPP_SERVICE mark.

A process group holds what a child starts only while nothing leaves it: ``runner.js``
spawning the real server with ``detached: true`` (``setsid``), a daemonising script, a tool
that double-forks. Every managed child therefore gets ``TRAYAPP_SERVICE=<config digest>:<name>``
(:attr:`~trayapp.config.load.ServiceConfig.identity`) in its environment, which every
descendant inherits whatever session or group it moves to; the process's own environment as
the kernel keeps it (psutil's ``Process.environ()``, readable for the user's own processes on
Linux, macOS and Windows) says whose it is. A process that rewrites its environment can hide
the mark; nothing in the Node or Python worlds does.
"""

from __future__ import annotations

import logging
import os
import signal

import psutil

from trayapp.checks.ports import SERVICE_ENV

log = logging.getLogger(__name__)

__all__ = ["SERVICE_ENV", "alive", "marked_processes", "stop_processes"]


def marked_processes(identity: str) -> list[psutil.Process]:
    """The live processes of this user whose environment carries ``identity``; never this
    program or its ancestors. Reads the environment of each of the user's processes (a few
    milliseconds for a few hundred): for a stop or a start, not for every check."""
    me = os.getpid()
    try:
        ours = {me, *(p.pid for p in psutil.Process(me).parents())}
    except psutil.Error:
        ours = {me, os.getppid()}
    uid = os.getuid() if hasattr(os, "getuid") else None
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        if proc.pid in ours or proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        uids = proc.info.get("uids")
        if uid is not None and uids is not None and uids.real != uid:
            continue  # another user's: its environment is not ours to read
        try:
            if proc.environ().get(SERVICE_ENV) == identity:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def stop_processes(procs: list[psutil.Process], sig_name: str, *, soft: bool) -> None:
    """Send ``sig_name`` (then SIGCONT, after a polite one) to each of ``procs``; psutil checks
    each one's identity first, so a pid reused meanwhile is not hit."""
    for proc in procs:
        try:
            if not soft:
                proc.kill()
                continue
            if os.name == "nt":
                proc.terminate()
            else:
                proc.send_signal(getattr(signal, sig_name))
                proc.resume()  # as systemd does: a stopped process can only act on its stop signal awake
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            log.warning("not allowed to signal pid %d", proc.pid)


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` that still run (a zombie has exited)."""
    left = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except psutil.Error:
            continue
    return left
