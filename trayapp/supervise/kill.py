"""Safely stopping whatever holds a port.

Two steps, so a UI can show what would be stopped before anything is signalled:
:func:`plan_kill` finds every process holding the port's listening sockets (a pre-fork
server's workers too, orphaned or not) and their descendants, notes a watcher above them that
would start them again (nodemon, PM2, …; stopped as well only when asked), and refuses what
must not be touched (pid 0 and 1, this program, its ancestors, other users' processes);
:func:`execute_kill` stops the planned processes, politely first, and waits until the port
is free. :func:`kill_port` does both. A restart is claimed only when a *new* socket listens on
the port afterwards; the old socket still listening means a holder was missed, not restarted.

The plan keeps the ``psutil.Process`` objects it was built from: psutil's signal methods
check pid plus creation time, and before signalling we also compare the current creation
time with the one recorded in the plan, so a pid reused by a new process is never signalled.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psutil

from trayapp.checks.ports import (
    SERVICE_ENV,
    describe_owner,
    docker_target,
    is_docker_proxy,
    listeners,
    listening_sockets,
    outside_view,
    restarts_when,
    watcher_of,
)
from trayapp.config.redact import redact_command
from trayapp.model import Listener
from trayapp.text import command, format_cmdline, humanize_age, join_and, shorten_home

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "KillPlan",
    "KillReport",
    "KillTarget",
    "execute_kill",
    "include_watchers",
    "is_planned_process",
    "kill_port",
    "plan_kill",
    "refusal",
]

WINDOWS = sys.platform == "win32"

#: pids that are never signalled (the idle/swapper "process" and init)
PROTECTED_PIDS = frozenset({0, 1})
#: creation times are read as wall-clock seconds; boot-time rounding and clock steps move
#: them slightly between reads, a different process on the same pid moves them more
CTIME_TOLERANCE_S = 1.0
#: after SIGKILL, how long to wait for the kernel to reap
KILL_WAIT_S = 2.0
#: how often to look at the port while waiting for it to be released
POLL_S = 0.05
#: how long the port must stay free to count as freed: supervisors restart within
#: ~0.1 s (systemd RestartSec, PM2 restart_delay 0), and a restart is worth reporting
SETTLE_S = 0.3
#: bound on the soft ``taskkill`` call on Windows
TASKKILL_TIMEOUT_S = 5.0

NOT_LISTENING = "not_listening"
REFUSED = "refused"
ACCESS_DENIED = "access_denied"
FREED = "freed"
FORCED = "forced"
STILL_BUSY = "still_busy"
GONE = "gone"


@dataclass(frozen=True)
class KillTarget:
    """One process a kill would stop: a listener on the port or one of its descendants."""

    pid: int
    name: str | None
    cmdline: tuple[str, ...] | None
    cwd: str | None
    user: str | None
    started: float | None  # creation time, Unix seconds: the identity guard
    role: str  # "listener", "child" or "watcher" (a file watcher or process manager above a listener)
    #: the managed service it was started for (its TRAYAPP_SERVICE mark), when it has one
    tag: str | None = None
    #: for a watcher: what it is ("nodemon", "PM2", …)
    kind: str | None = None

    @property
    def label(self) -> str:
        """``node (pid 4242)``; a watcher by what it is: ``nodemon (pid 77)``."""
        name = self.kind or self.name or (os.path.basename(self.cmdline[0]) if self.cmdline else None) or "a process"
        return f"{name} (pid {self.pid})"

    def describe(self, now: float | None = None) -> str:
        """``node (pid 4242, started 3 h ago in ~/old-checkout, command: node server.js)``: what
        someone needs to tell whose process it is (its command line with credentials hidden)."""
        details = [f"pid {self.pid}"]
        where = []
        if self.started is not None:
            where.append(f"started {humanize_age((time.time() if now is None else now) - self.started)} ago")
        if self.cwd:
            where.append(f"in {shorten_home(self.cwd)}")
        if where:
            details.append(" ".join(where))
        if self.cmdline:
            details.append(f"command: {format_cmdline(self.cmdline)}")
        return f"{self.label.partition(' (pid ')[0]} ({', '.join(details)})"

    @property
    def service(self) -> str | None:
        """The name of the managed service trayapp started it for (from its mark), if any."""
        return self.tag.rpartition(":")[2] if self.tag else None

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "name": self.name,
            "cmdline": list(self.cmdline) if self.cmdline is not None else None,
            "cwd": self.cwd,
            "user": self.user,
            "started": self.started,
            "role": self.role,
        }


def describe_holders(plan: KillPlan, now: float | None = None) -> str:
    """The listeners of ``plan``, each by :meth:`KillTarget.describe`, joined with "; "."""
    return "; ".join(t.describe(now) for t in plan.targets if t.role == "listener") or "a process"


@dataclass(frozen=True)
class KillPlan:
    """What :func:`execute_kill` would stop, or why it will not.

    ``problem`` is a sentence when nothing may or can be killed; ``blocked`` then holds the
    outcome the execution reports without signalling anything (``not_listening``,
    ``refused`` or ``access_denied``).
    """

    port: int
    targets: tuple[KillTarget, ...]
    problem: str | None = None
    blocked: str | None = None
    #: the planned processes, by pid; kept so signals go to the same process identity
    processes: dict[int, psutil.Process] = field(default_factory=dict, compare=False, repr=False)
    #: watchers above the listeners that would start them again; among ``targets`` only when asked
    watchers: tuple[KillTarget, ...] = ()
    #: the listening sockets' identities (inodes) when planned: one listening afterwards is no restart
    sockets: frozenset[int] = frozenset()

    @property
    def spared_watchers(self) -> tuple[KillTarget, ...]:
        """Watchers that would start the listeners again and are not to be stopped."""
        planned = {t.pid for t in self.targets}
        return tuple(w for w in self.watchers if w.pid not in planned)

    def to_json(self) -> dict[str, object]:
        return {
            "port": self.port,
            "targets": [t.to_json() for t in self.targets],
            "problem": self.problem,
            "blocked": self.blocked,
            "watchers": [t.to_json() for t in self.watchers],
        }


@dataclass(frozen=True)
class KillReport:
    """How a kill went. ``ok`` means the port is free afterwards."""

    port: int
    outcome: str  # freed | forced | not_listening | refused | access_denied | still_busy | gone
    ok: bool
    detail: str  # one sentence for the user
    terminated: tuple[int, ...] = ()  # pids sent the polite stop (SIGTERM / taskkill)
    forced: tuple[int, ...] = ()  # pids that needed SIGKILL / TerminateProcess
    elapsed_s: float = 0.0
    #: planned pids that had already exited or whose pid now belongs to another process
    skipped: tuple[int, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "port": self.port,
            "outcome": self.outcome,
            "ok": self.ok,
            "detail": self.detail,
            "terminated": list(self.terminated),
            "forced": list(self.forced),
            "skipped": list(self.skipped),
            "elapsed_s": round(self.elapsed_s, 3),
        }


# --------------------------------------------------------------------------- planning


def plan_kill(port: int, with_watcher: bool = False) -> KillPlan:
    """Find what to stop to free ``port``: every process holding a listening socket on it plus
    all their descendants, and (``with_watcher``) the watchers above them with theirs; signals
    nothing."""
    found = listeners([port], fresh=True)  # every holder, not only those seen last time
    if not found:
        return KillPlan(port, (), f"nothing is listening on port {port}", NOT_LISTENING)
    sockets = frozenset(x.socket for x in found if x.socket is not None)

    hidden = [lst for lst in found if lst.pid is None or not lst.visible]
    if hidden:
        return KillPlan(port, (), _access_denied_sentence(port, hidden[0]), ACCESS_DENIED, sockets=sockets)

    targets: dict[int, KillTarget] = {}
    processes: dict[int, psutil.Process] = {}
    listener_pids: list[int] = []
    for lst in found:
        if lst.pid is None or lst.pid in targets:  # (None was ruled out above)
            continue
        proc = _planned_process(lst.pid, lst.started)
        if proc is None:
            continue  # exited (or pid reused) since it was listed
        target = _target(proc, "listener")
        if target is None:
            continue
        targets[proc.pid] = target
        processes[proc.pid] = proc
        listener_pids.append(proc.pid)

    watchers: dict[int, KillTarget] = {}
    for pid in listener_pids:
        above = watcher_of(processes[pid])
        if above is None or above.pid in targets or above.pid in watchers:
            continue
        proc = _planned_process(above.pid, above.started)
        target = _target(proc, "watcher", above.name) if proc is not None else None
        if target is not None:
            watchers[above.pid] = target
            if with_watcher:
                targets[above.pid] = target
                processes[above.pid] = proc  # type: ignore[assignment]  # not None when target is not

    roots = [pid for pid in targets if targets[pid].role in ("listener", "watcher")]
    for pid in roots:
        try:
            descendants = processes[pid].children(recursive=True)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for child in descendants:
            if child.pid in targets:
                continue
            target = _target(child, "child")
            if target is not None:
                targets[child.pid] = target
                processes[child.pid] = child

    if not targets:
        return KillPlan(port, (), f"nothing is listening on port {port} any more", NOT_LISTENING)

    ordered = tuple(targets.values())  # listeners in listing order, watchers, then descendants (parents first)
    spotted = tuple(watchers.values())
    problem = refusal(port, ordered)
    if problem is not None:
        return KillPlan(port, ordered, problem, REFUSED, processes, spotted, sockets)
    denied = [t for t in ordered if not _may_signal(t.pid)]
    if denied:
        owner = _listener_like(denied[0], port)
        return KillPlan(port, ordered, _access_denied_sentence(port, owner), ACCESS_DENIED, processes, spotted, sockets)
    return KillPlan(port, ordered, None, None, processes, spotted, sockets)


def include_watchers(plan: KillPlan) -> KillPlan:
    """``plan`` with the watchers it spared added to what is stopped (and their descendants), as
    ``plan_kill(port, with_watcher=True)`` would plan it, for a confirmation that offered them.
    The watchers' identities are those recorded in the plan: a watcher that has exited since,
    or whose pid now names another process, is left out."""
    spared = plan.spared_watchers
    if not spared or plan.blocked is not None:
        return plan
    targets = {t.pid: t for t in plan.targets}
    processes = dict(plan.processes)
    for watcher in spared:
        proc = _planned_process(watcher.pid, watcher.started)
        if proc is None:
            continue
        targets[watcher.pid] = watcher
        processes[watcher.pid] = proc
        try:
            descendants = proc.children(recursive=True)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for child in descendants:
            if child.pid not in targets and (target := _target(child, "child")) is not None:
                targets[child.pid] = target
                processes[child.pid] = child
    ordered = tuple(targets.values())
    problem = refusal(plan.port, ordered)
    if problem is not None:
        return KillPlan(plan.port, ordered, problem, REFUSED, processes, plan.watchers, plan.sockets)
    return KillPlan(plan.port, ordered, None, None, processes, plan.watchers, plan.sockets)


def _planned_process(pid: int, started: float | None) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > CTIME_TOLERANCE_S:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _target(proc: psutil.Process, role: str, kind: str | None = None) -> KillTarget | None:
    """The plan's record of ``proc``; None when it has exited. Unreadable fields stay None."""

    def read(getter: Callable[[], T]) -> T | None:
        try:
            return getter()
        except psutil.AccessDenied:
            return None

    try:
        with proc.oneshot():
            started = read(proc.create_time)
            name = read(proc.name)
            cmdline = read(proc.cmdline)
            user = read(proc.username)
            cwd = read(proc.cwd)
        environ = read(proc.environ)
    except psutil.NoSuchProcess:  # includes ZombieProcess: exited, nothing left to stop
        return None
    return KillTarget(
        pid=proc.pid,
        name=name or None,
        cmdline=redact_command(cmdline) if cmdline else None,  # shown in the confirmation: secrets hidden
        cwd=cwd or None,
        user=user,
        started=started,
        role=role,
        tag=(environ or {}).get(SERVICE_ENV) or None,
        kind=kind,
    )


def _ourselves() -> tuple[int, set[int]]:
    """Our pid and our ancestors' pids."""
    me = os.getpid()
    ancestors: set[int] = set()
    try:
        ancestors = {p.pid for p in psutil.Process(me).parents()}
    except psutil.Error as exc:
        log.debug("could not list our ancestors: %r", exc)
        ancestors = {os.getppid()}
    return me, ancestors


def refusal(port: int, targets: tuple[KillTarget, ...]) -> str | None:
    """Why these targets must never be signalled (pid 0/1, this program, its ancestors), or None."""
    me, ancestors = _ourselves()
    for t in targets:
        if t.pid in PROTECTED_PIDS:
            return f"port {port} is held by {t.label}, a system process; refusing to kill it"
        if t.pid == me:
            return f"port {port} is held by this program itself ({t.label}); refusing to kill it"
        if t.pid in ancestors:
            return f"port {port} is held by {t.label}, which started this program; refusing to kill it"
    return None


def _may_signal(pid: int) -> bool:
    """Whether we are allowed to signal ``pid`` (POSIX: signal 0 checks without sending)."""
    if WINDOWS:
        return True  # no cheap check; AccessDenied surfaces when signalling
    try:
        os.kill(pid, 0)
    except PermissionError:
        return False
    except OSError:
        return True  # gone: nothing to be denied
    return True


def _listener_like(target: KillTarget, port: int) -> Listener:
    return Listener(address="", port=port, pid=target.pid, name=target.name, user=target.user, visible=False)


def _access_denied_sentence(port: int, owner: Listener) -> str:
    who = describe_owner(owner)
    if is_docker_proxy(owner):
        target = docker_target(owner)
        into = f" to a container ({target})" if target else ""
        return (
            f"port {port} is held by {who}, Docker's port publisher, which forwards{into}: stop or fix the "
            f"container instead; see {command(f'docker ps --filter publish={port}')}"
        )
    if outside_view(owner):
        return f"port {port} is held by {who}, which trayapp cannot stop from here: stop it where it runs"
    if owner.pid is not None:
        hint = f"stop it as that user or run `sudo kill {owner.pid}`"
        if WINDOWS:
            hint = f"stop it as that user or run `taskkill /PID {owner.pid}` as administrator"
    elif sys.platform == "darwin":
        hint = f"see who with `sudo lsof -nP -iTCP:{port} -sTCP:LISTEN`"
    elif WINDOWS:
        hint = f"see who with `netstat -ano | findstr :{port}`"
    else:
        hint = f"see who with `sudo ss -ltnp 'sport = :{port}'`"
    return f"port {port} is held by {who}, which this user may not stop; {hint}"


# --------------------------------------------------------------------------- executing


def kill_port(port: int, grace: float = 5.0, free_timeout: float = 5.0, settle: float = SETTLE_S) -> KillReport:
    """Plan and execute: stop whatever holds ``port``."""
    return execute_kill(plan_kill(port), grace=grace, free_timeout=free_timeout, settle=settle)


def execute_kill(plan: KillPlan, grace: float = 5.0, free_timeout: float = 5.0, settle: float = SETTLE_S) -> KillReport:
    """Stop the planned processes (children first), escalate after ``grace`` seconds, then wait
    up to ``free_timeout`` seconds for the port to be released and stay free for ``settle``
    seconds (so a supervisor's quick restart is reported, not hidden). Blocks for at most
    about grace + 2 + free_timeout + settle seconds; run it off the GUI thread.
    """
    t0 = time.monotonic()
    port = plan.port

    def report(
        outcome: str,
        ok: bool,
        detail: str,
        terminated: list[int] | tuple[int, ...] = (),
        forced: list[int] | tuple[int, ...] = (),
        skipped: list[int] | tuple[int, ...] = (),
    ) -> KillReport:
        return KillReport(
            port,
            outcome,
            ok,
            detail,
            terminated=tuple(terminated),
            forced=tuple(forced),
            elapsed_s=time.monotonic() - t0,
            skipped=tuple(skipped),
        )

    if plan.blocked is not None:
        problem = plan.problem or f"port {port} cannot be freed"
        if plan.blocked == NOT_LISTENING:
            holders = _holders(port)
            if holders:
                return report(STILL_BUSY, False, f"port {port} is now held by {_who(holders)}")
            return report(NOT_LISTENING, True, problem)
        return report(plan.blocked, False, problem)

    # Checked again here: a plan may be stale or built by hand, and this is the last gate.
    refused = refusal(port, plan.targets)
    if refused is not None:
        return report(REFUSED, False, refused)

    live: list[tuple[KillTarget, psutil.Process]] = []
    skipped: list[int] = []
    for target in plan.targets:
        proc = plan.processes.get(target.pid)
        if proc is not None and is_planned_process(target, proc):
            live.append((target, proc))
        else:
            skipped.append(target.pid)
    listener_labels = [t.label for t in plan.targets if t.role == "listener"] or [t.label for t in plan.targets]
    listener_labels += [t.label for t in plan.targets if t.role == "watcher"]
    main = _and_children(listener_labels, sum(1 for t in plan.targets if t.role == "child"))
    spared = _spared_note(plan)

    if not live:
        # Their sockets closed when they exited; wait only briefly for the kernel to catch up.
        if _wait_port_free(port, min(free_timeout, 1.0), settle):
            return report(GONE, True, f"port {port} is free: {main} had already exited", skipped=skipped)
        detail = (
            f"port {port} is held by {_who(_holders(port))}; the planned {main} no longer exists, "
            "so nothing was signalled (look again before stopping the new owner)"
        )
        return report(STILL_BUSY, False, detail, skipped=skipped)

    # Watchers first, then children deepest first, so nothing can respawn one we already stopped; then the listeners.
    live = (
        [tp for tp in live if tp[0].role == "watcher"]
        + [tp for tp in reversed(live) if tp[0].role == "child"]
        + [tp for tp in live if tp[0].role == "listener"]
    )
    soft_name = "a stop request" if WINDOWS else "SIGTERM"
    terminated: list[int] = []
    denied: list[KillTarget] = []
    exited_at: dict[int, float] = {}
    t_signal = time.monotonic()

    if WINDOWS:
        _taskkill_soft([t.pid for t, _ in live if t.role == "listener"])
        terminated.extend(t.pid for t, _ in live)
    else:
        for target, proc in live:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                skipped.append(target.pid)
                continue
            except psutil.AccessDenied:
                denied.append(target)
                continue
            terminated.append(target.pid)
            try:
                proc.resume()  # SIGCONT, as systemd does: a stopped process (Ctrl-Z, SIGSTOP) can only act on it awake
            except psutil.NoSuchProcess:
                pass  # SIGTERM alone ended it, between the two signals
    if denied:
        return report(ACCESS_DENIED, not _holders(port), _denied_sentence(port, denied), terminated, (), skipped)

    procs = [proc for _, proc in live if proc.pid in terminated]

    def note_exit(proc: psutil.Process) -> None:
        exited_at[proc.pid] = time.monotonic() - t_signal

    _gone, alive = _wait_exit(procs, grace, note_exit)
    forced: list[int] = []
    for proc in alive:
        try:
            proc.kill()
            forced.append(proc.pid)
        except psutil.NoSuchProcess:
            pass
        except psutil.AccessDenied:
            denied.extend(t for t, p in live if p.pid == proc.pid)
    if denied:
        return report(ACCESS_DENIED, not _holders(port), _denied_sentence(port, denied), terminated, forced, skipped)
    still_alive: list[psutil.Process] = []
    if forced:
        _gone2, still_alive = _wait_exit([p for p in alive if p.pid in forced], KILL_WAIT_S)

    free = _wait_port_free(port, free_timeout, settle)
    if not free:
        holders = _holders(port)
        same_socket = [h for h in holders if h.socket is not None and h.socket in plan.sockets]
        if still_alive:
            names = _join([t.label for t, p in live if p.pid in {q.pid for q in still_alive}])
            detail = f"port {port} is still held: {names} survived SIGKILL"
        elif same_socket:
            # The socket we planned for still listens: a holder was missed (it appeared after the
            # plan, or could not be seen), nothing was restarted.
            detail = (
                f"port {port} is still held by {_who(same_socket)}, which shares the listening socket "
                f"{main} had and was not stopped; look again ({command(f'trayapp ports {port}')})"
            )
        elif holders:
            detail = f"port {port} is held again by {_who(holders)} after {main} exited{_restarter(holders)}"
        else:
            detail = f"port {port} is still held by a process that could not be identified"
        return report(STILL_BUSY, False, detail + spared, terminated, forced, skipped)

    if forced:
        forced_labels = _join([t.label for t, p in live if p.pid in forced])
        verb = "were" if len(forced) > 1 else "was"
        ignored = "ignored" if not WINDOWS else "did not stop after"
        detail = f"port {port} is free: {forced_labels} {ignored} {soft_name} for {_secs(grace)} and {verb} killed"
        return report(FORCED, True, detail + spared, terminated, forced, skipped)
    took = max(exited_at.values(), default=time.monotonic() - t_signal)
    verb = {1: "exited", 2: "both exited"}.get(len(live), "all exited")
    detail = f"port {port} is free: {main} {verb} {_secs(took)} after {soft_name}{spared}"
    return report(FREED, True, detail, terminated, forced, skipped)


def is_planned_process(target: KillTarget, proc: psutil.Process) -> bool:
    """Whether ``proc`` is still the very process the plan recorded (the PID-reuse guard).

    False when it has exited, or when its pid now belongs to another process: psutil's own
    identity (pid plus creation time) has changed, or the creation time read now differs
    from the ``started`` recorded in the plan.
    """
    try:
        if proc.pid != target.pid or _has_exited(proc):
            return False
        if target.started is None:
            return True
        now_started = psutil.Process(target.pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return abs(now_started - target.started) <= CTIME_TOLERANCE_S


def _wait_exit(
    procs: list[psutil.Process], timeout: float, on_exit: Callable[[psutil.Process], object] | None = None
) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """Wait (at most ``timeout`` s) until every process has exited; returns (gone, alive).

    Unlike ``psutil.wait_procs`` a zombie counts as exited and is not reaped: it holds no
    sockets any more, and its parent (maybe a supervisor in this very program, which wants
    the exit status) may not have collected it yet.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    alive = list(procs)
    gone: list[psutil.Process] = []
    pause = 0.01
    while True:
        waiting = []
        for proc in alive:
            if _has_exited(proc):
                gone.append(proc)
                if on_exit is not None:
                    on_exit(proc)
            else:
                waiting.append(proc)
        alive = waiting
        remaining = deadline - time.monotonic()
        if not alive or remaining <= 0:
            return gone, alive
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, POLL_S)


def _has_exited(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _taskkill_soft(pids: list[int]) -> None:
    """Windows: ask politely (``taskkill /T`` without ``/F``: WM_CLOSE to the tree's windows)."""
    exe = shutil.which("taskkill")
    if exe is None:
        return
    for pid in pids:
        try:
            subprocess.run(
                [exe, "/PID", str(pid), "/T"],
                capture_output=True,
                timeout=TASKKILL_TIMEOUT_S,
                check=False,
                shell=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("taskkill /PID %s failed: %r", pid, exc)


def _denied_sentence(port: int, denied: list[KillTarget]) -> str:
    first = denied[0]
    hint = f"`taskkill /PID {first.pid}` as administrator" if WINDOWS else f"`sudo kill {first.pid}`"
    return f"could not stop {first.label} holding port {port}: it belongs to another user; run {hint}"


def _holders(port: int) -> list[Listener]:
    return listeners([port], fresh=True)


def _wait_port_free(port: int, timeout: float, settle: float) -> bool:
    """Poll (every 50 ms) until nothing has listened on ``port`` for ``settle`` seconds.

    Gives up when the port is still held after ``timeout`` s, or as soon as it is taken
    again after that (a supervisor restarting what we stopped). Bounded by timeout + settle.
    """
    start = time.monotonic()
    deadline = start + max(0.0, timeout)
    free_since: float | None = None
    while True:
        now = time.monotonic()
        if listening_sockets([port]):
            if free_since is not None or now >= deadline:
                return False  # taken again after being free, or never released
        else:
            free_since = now if free_since is None else free_since
            if now - free_since >= settle:
                return True
        time.sleep(POLL_S)


def _spared_note(plan: KillPlan) -> str:
    """``; nodemon (pid 77) above it was not stopped and will start it again …`` for watchers left running."""
    spared = plan.spared_watchers
    if not spared:
        return ""
    when = join_and(restarts_when(w.kind) for w in spared)
    return (
        f"; {join_and(w.label for w in spared)} above it {'were' if len(spared) > 1 else 'was'} not stopped and "
        f"will start it again {when}: {command(f'trayapp kill {plan.port} --with-watcher')} stops it too"
    )


def _restarter(holders: list[Listener]) -> str:
    """``; its parent pm2 (pid 12) probably restarted it`` when the new holder has a parent to blame."""
    for holder in holders:
        if holder.ppid is None or holder.ppid <= 1:
            continue
        try:
            parent = psutil.Process(holder.ppid).name()
        except psutil.Error:
            continue
        return f"; its parent {parent} (pid {holder.ppid}) probably restarted it, stop that instead"
    return "; a supervisor may have restarted it"


def _who(holders: list[Listener]) -> str:
    seen: list[str] = []
    for holder in holders:
        text = describe_owner(holder)
        if text not in seen:
            seen.append(text)
    return _join(seen) if seen else "an unknown process"


def _and_children(labels: list[str], children: int) -> str:
    text = _join(labels)
    if children:
        text += f" and {children} child process{'es' if children > 1 else ''}"
    return text


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _secs(seconds: float) -> str:
    """``0.3 s``, ``5 s``, ``12 s``."""
    if seconds >= 10:
        return f"{round(seconds)} s"
    text = f"{seconds:.2f}" if seconds < 0.1 else f"{seconds:.1f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{text} s"
