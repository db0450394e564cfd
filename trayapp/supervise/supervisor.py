"""Starting, stopping and restarting the services trayapp manages, and watching them crash.

Children run in their own session / process group with their output going straight to a
per-service log file (so the log window tails it like any other log, and a child started
by ``trayapp restart`` outlives the command). Each child is recorded in a small state file
(pid, process group, start time), so a later trayapp adopts it instead of starting a
second copy; identity is always checked by start time before signalling.

Its parts: :mod:`~trayapp.supervise.groups` (process groups per OS),
:mod:`~trayapp.supervise.records` (child records on disk, adoption),
:mod:`~trayapp.supervise.crashes` (crash loops and backoff), :mod:`~trayapp.supervise.output`
(the captured-output file and its rotation).

The operations (:meth:`Supervisor.start`, :meth:`~Supervisor.stop`,
:meth:`~Supervisor.restart`) block until done, bounded by the service's timeouts: run them
off the GUI thread. Events go to subscribers on the thread that produced them.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psutil
from dotenv import dotenv_values

from trayapp.checks.checker import Checker, log_sources
from trayapp.checks.evidence import (
    ALL_TOPICS,
    FileMark,
    LogSource,
    Topic,
    current_run,
    exit_topics,
    floor_of,
    mark,
    topics_for,
    unresolved_error,
)
from trayapp.checks.ports import describe_owner, listeners
from trayapp.clock import Clock, SystemClock
from trayapp.config.load import Config, ServiceConfig
from trayapp.config.redact import redact_command, redact_text, scrub
from trayapp.logs.format import watcher_crash_line
from trayapp.logs.tail import FileFollower, LogLine, last_lines
from trayapp.model import CheckResult, Reason, State
from trayapp.monitor.notifier import Announcement, Severity
from trayapp.monitor.scheduler import CheckEvent, Event, Monitor
from trayapp.paths import captured_output, children_dir, config_records, service_log_dir
from trayapp.supervise.crashes import CRASH_LOOP_WINDOW, CrashPolicy, backoff_delay, describe_exit
from trayapp.supervise.groups import ProcessGroup, adopt, attach, group_alive, release, signal_group, spawn_options
from trayapp.supervise.kill import KillPlan, describe_holders, execute_kill, plan_kill
from trayapp.supervise.marks import SERVICE_ENV, alive, marked_processes, stop_processes
from trayapp.supervise.output import LOG_CHECK_S, LOG_MAX_BYTES, OutputRotator, open_for_child, write_header
from trayapp.supervise.records import ChildRecord, RecordStore, adopt_old_layout, is_running
from trayapp.text import humanize_age, join_and

log = logging.getLogger(__name__)

PORT_FREE_TIMEOUT = 5.0
POLL = 0.05  # seconds between looks at a process group, a port or a starting child's output
CHECK_PAUSE = 0.2  # seconds between health checks of a starting service
KILL_WAIT = 5.0  # seconds to wait for a group to go after SIGKILL
ADOPTED_POLL = 0.5  # seconds between looks at an adopted child (no exit code to wait for)
OPERATION_WAIT = 120.0  # seconds a queued operation waits for the one in progress
EXIT_HANDLED_WAIT = 5.0  # seconds a failed start waits for its exit watcher's verdict

Confirm = Callable[[KillPlan], bool]


class ChildState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    BACKOFF = "backoff"  # crashed; autorestart waits before the next start
    CRASH_LOOP = "crash_loop"  # crashed too often; not restarted any more


@dataclass(frozen=True)
class ChildStatus:
    state: ChildState
    pid: int | None
    started: float | None  # Unix time
    stopping_since: float | None  # monotonic; set while a stop signal waits for the exit
    stop_signal: str
    last_exit: str | None  # "exited with code 1: Error: ..." of the last crash


@dataclass(frozen=True)
class SupervisorEvent:
    """Something that happened to a managed service, for popups and the UI."""

    service: str
    kind: str  # started | restarted | start_failed | exited | crash_loop | stop_sent | stopped | backoff
    detail: str
    t: float  # Unix time
    ok: bool = True
    auto: bool = False  # part of an automatic restart, not something the user asked for


#: the kinds of :class:`SupervisorEvent` that say how a start, a stop or a run ended (its
#: ``detail`` is then what last happened to the process); ``stop_sent`` and ``backoff`` say what is under way
OUTCOME_KINDS = ("exited", "crash_loop", "start_failed", "stopped", "started", "restarted")


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str
    elapsed_s: float
    kind: str = ""  # the event kind it was announced as

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "elapsed_s": round(self.elapsed_s, 3)}


class _Run:
    """One child process: the one trayapp started (``proc``), or one adopted from an earlier
    trayapp (``proc`` None: there is no exit code to wait for)."""

    def __init__(self, record: ChildRecord, proc: subprocess.Popen[bytes] | None, group: ProcessGroup) -> None:
        self.record = record
        self.proc = proc
        self.group = group
        #: until the start that made it has ended, healthy or not (guarded by the supervisor's lock)
        self.starting = proc is not None
        self.handled = threading.Event()  # set once its exit has been dealt with
        self.crash_loop = False  # its exit made a crash loop (written before ``handled`` is set)

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return is_running(self.record)

    def group_alive(self) -> bool:
        return group_alive(self.group, self.proc)


class _ManagedChild:
    """Book-keeping for one managed service.

    The lock rule: every field below except ``config``, ``log_path``, ``force`` and ``busy``
    is read and written only with the supervisor's ``_lock`` held, and a change of state is
    made in one critical section together with the fields it depends on. The lock is never
    held while waiting, signalling, checking health or calling subscribers.
    """

    def __init__(self, config: ServiceConfig, log_path: Path, crashes: CrashPolicy, records: RecordStore) -> None:
        self.config = config
        self.log_path = log_path
        self.records = records  # its config's child records
        self.force = threading.Event()  # Force: skip the rest of a stop's grace period
        self.busy = threading.Lock()  # one start/stop/restart at a time
        self.state = ChildState.STOPPED
        self.run: _Run | None = None  # the child that runs (or starts, or stops) now
        self.stopping_since: float | None = None
        self.stopping = False  # a deliberate stop is under way: its exit is not a crash
        self.crashes = crashes
        self.last_exit: str | None = None
        self.autorestart_timer: threading.Timer | None = None
        self.retired = False  # a reload dropped it: its child runs on, unwatched
        #: bumped by each start, stop or restart the user asks for: an automatic restart
        #: scheduled before it is void, so a Stop wins over a pending autorestart
        self.intent = 0
        self.auto_busy = False  # ``busy`` is held by an automatic restart (a user's stop waits for it)
        #: where the captured output ended at the last healthy check: an error line before it
        #: was followed by a healthy check, so it does not explain a later exit
        self.healthy_mark: FileMark | None = None
        #: its last child exited on its own (a crash, a start command that ended), not by a stop
        self.crashed = False


class Supervisor:
    def __init__(
        self,
        config: Config,
        *,
        monitor: Monitor | None = None,
        log_dir: Path | None = None,
        state_dir: Path | None = None,
        backoff: Callable[[int], float] = backoff_delay,
        log_max_bytes: int = LOG_MAX_BYTES,
        log_check_interval: float = LOG_CHECK_S,
        clock: Clock | None = None,
    ) -> None:
        self.monitor = monitor
        self.log_max_bytes = log_max_bytes
        self._rotating = threading.Lock()  # one rotation at a time (the watcher's, or a start's)
        self._auto = threading.local()  # set while an automatic restart runs on this thread
        self.log_dir = log_dir or service_log_dir()
        self.state_dir = state_dir or children_dir()
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[SupervisorEvent], None]] = []
        self._clock = clock or SystemClock()
        self._backoff = backoff
        self._services = {s.name: self._managed_child(s) for s in config.services if s.managed is not None}
        if monitor is not None:  # failed checks quote the captured output from where it really is
            for service in self._services.values():
                monitor.set_logs(service.config.name, log_sources(service.config, self.log_dir))
                monitor.set_child_state(
                    service.config.name,
                    functools.partial(self.child_running, service.config.name),
                    functools.partial(self.owns, service.config.name),
                )
            monitor.subscribe(self._on_monitor_event)
        self._closed = threading.Event()
        self._rotator = OutputRotator(
            self._running_outputs, self._rotating, self._closed, max_bytes=log_max_bytes, interval=log_check_interval
        )
        for service in self._services.values():
            self._adopt_old_layout(service)
            self._adopt(service)

    # -- queries -----------------------------------------------------------------------

    def managed(self, name: str) -> bool:
        return name in self._services

    def services(self) -> list[ServiceConfig]:
        """The managed services' configs, in config order."""
        with self._lock:
            return [service.config for service in self._services.values() if not service.retired]

    def identity(self, name: str) -> str | None:
        """The identity (:mod:`trayapp.identity`) of managed service ``name``; None if not managed."""
        service = self._services.get(name)
        return service.config.identity if service else None

    def config_home(self, name: str) -> str | None:
        """The config (file, or discovered project's trayapp.toml) managed service ``name`` comes from."""
        service = self._services.get(name)
        return service.config.home if service else None

    def log_path(self, name: str) -> Path | None:
        service = self._services.get(name)
        return service.log_path if service else None

    def status(self, name: str) -> ChildStatus | None:
        service = self._services.get(name)
        if service is None:
            return None
        with self._lock:
            record = service.run.record if service.run else None
            return ChildStatus(
                state=service.state,
                pid=record.pid if record else None,
                started=record.started if record else None,
                stopping_since=service.stopping_since,
                stop_signal=service.config.managed.stop_signal if service.config.managed else "SIGTERM",
                last_exit=service.last_exit,
            )

    def is_ours(self, pid: int) -> bool:
        """Whether ``pid`` belongs to the process group of a child we started, or carries the
        TRAYAPP_SERVICE mark of one of our services (a descendant that left the group)."""
        with self._lock:
            groups = {s.run.group.pgid for s in self._services.values() if s.run is not None}
        identities = {s.config.identity for s in self._services.values()}
        try:
            if hasattr(os, "getpgid") and os.getpgid(pid) in groups:
                return True
            return psutil.Process(pid).environ().get(SERVICE_ENV) in identities
        except (OSError, psutil.Error):
            return False

    def owns(self, name: str, pid: int) -> bool:
        """Whether ``pid`` is one of ``name``'s own processes: in its child's process group, or
        carrying its TRAYAPP_SERVICE mark."""
        service = self._services.get(name)
        if service is None:
            return False
        with self._lock:
            pgid = service.run.group.pgid if service.run is not None else None
        try:
            if pgid is not None and hasattr(os, "getpgid") and os.getpgid(pid) == pgid:
                return True
            return bool(psutil.Process(pid).environ().get(SERVICE_ENV) == service.config.identity)
        except (OSError, psutil.Error):
            return False

    def child_running(self, name: str) -> bool | None:
        """Whether trayapp's child for ``name`` runs (True), exited on its own (False), or
        neither is known (None: never started here, or stopped by the user)."""
        service = self._services.get(name)
        if service is None:
            return None
        with self._lock:
            if service.state in (ChildState.RUNNING, ChildState.STARTING, ChildState.STOPPING):
                return True
            return False if service.crashed else None

    def subscribe(self, callback: Callable[[SupervisorEvent], None]) -> None:
        self._subscribers.append(callback)

    # -- operations (blocking, bounded; call off the GUI thread) --------------------

    def start(self, name: str, confirm: Confirm | None = None) -> ActionResult:
        service = self._get(name)
        if not self._acquire(service):
            return ActionResult(False, f"{name} is already being started or stopped", 0.0)
        try:
            return self._start(service, confirm, time.monotonic(), "started")
        finally:
            service.busy.release()

    def stop(self, name: str) -> ActionResult:
        service = self._get(name)
        if not self._acquire(service):
            return ActionResult(False, f"{name} is already being started or stopped", 0.0)
        try:
            return self._stop(service, time.monotonic(), announce=True)
        finally:
            service.busy.release()

    def restart(self, name: str, confirm: Confirm | None = None, *, queue: bool = False) -> ActionResult:
        """Stop (if running) and start. ``queue`` waits for an operation in progress instead of refusing."""
        service = self._get(name)
        if not self._acquire(service, queue=queue):
            return ActionResult(False, f"{name} is already being started or stopped", 0.0)
        try:
            return self._restart(service, confirm)
        finally:
            service.busy.release()

    def force(self, name: str) -> None:
        """Skip the rest of a stop's grace period: kill the process group now."""
        self._get(name).force.set()

    def reconfigure(self, config: Config) -> list[str]:
        """Take a new config in place. Any thread but the GUI's: adopting reads records and looks at processes.

        A managed service keeps its child, state and crash history; new settings (command,
        env, timeouts, autorestart) apply from its next start or exit, and a running child is
        not restarted. A service managed only now is adopted if an earlier run's child of it
        still runs. One no longer managed is no longer watched: its child keeps running and its
        record stays, for a config that names it again. Returns the names of running children
        whose start settings changed (a restart applies them).
        """
        wanted = {s.name: s for s in config.services if s.managed is not None}
        stale: list[str] = []
        added: list[_ManagedChild] = []
        with self._lock:
            services = {}
            for name, service_config in wanted.items():
                service = self._services.get(name)
                if service is None or service.config.home != service_config.home:  # another config's service
                    service = self._managed_child(service_config)
                    added.append(service)
                elif service.config != service_config:
                    managed = service_config.managed
                    assert managed is not None
                    if service.run is not None and service.config.managed != managed:
                        stale.append(name)
                    service.config = service_config
                    service.crashes.autorestart = managed.autorestart
                services[name] = service
            for name, service in self._services.items():
                if services.get(name) is not service:
                    service.retired = True
                    service.intent += 1  # voids a pending automatic restart
                    if service.autorestart_timer is not None:
                        service.autorestart_timer.cancel()
                        service.autorestart_timer = None
            self._services = services
        if self.monitor is not None:
            for service in services.values():
                self.monitor.set_logs(service.config.name, log_sources(service.config, self.log_dir))
        for service in added:
            self._adopt(service)
        self._report_idle(added)
        return stale

    def _managed_child(self, config: ServiceConfig) -> _ManagedChild:
        assert config.managed is not None
        return _ManagedChild(
            config,
            captured_output(config.home, config.name, self.log_dir),
            CrashPolicy(self._clock, autorestart=config.managed.autorestart, backoff=self._backoff),
            RecordStore(config_records(config.home, self.state_dir)),
        )

    def close(self) -> None:
        """Stop watching (children keep running and are adopted next time)."""
        self._closed.set()
        with self._lock:
            for service in self._services.values():
                if service.autorestart_timer is not None:
                    service.autorestart_timer.cancel()
                    service.autorestart_timer = None

    def _acquire(self, service: _ManagedChild, *, queue: bool = False) -> bool:
        """Take ``busy`` for something the user asked for, voiding any pending automatic restart.

        An automatic restart in progress is waited for (bounded), so the user's Stop comes
        after it and wins; another operation of the user's is refused unless ``queue``.
        """
        with self._lock:
            service.intent += 1
            if service.autorestart_timer is not None:
                service.autorestart_timer.cancel()
                service.autorestart_timer = None
            wait = queue or service.auto_busy
        if service.busy.acquire(blocking=False):
            return True
        return wait and service.busy.acquire(timeout=OPERATION_WAIT)

    def _restart(self, service: _ManagedChild, confirm: Confirm | None) -> ActionResult:
        name = service.config.name
        began = time.monotonic()
        if self._current_alive(service) is not None:
            stopped = self._stop(service, began, announce=False)
            if not stopped.ok:
                why = f"{name} could not be stopped: {stopped.detail}"
                return self._announce(service, False, why, began, "start_failed")
        return self._start(service, confirm, began, "restarted")

    # -- starting ----------------------------------------------------------------------

    def _start(self, service: _ManagedChild, confirm: Confirm | None, began: float, kind: str) -> ActionResult:
        name, config = service.config.name, service.config
        managed = config.managed
        assert managed is not None
        running = self._current_alive(service)
        if running is not None:
            return self._already_running(service, running, began)
        freed = self._free_port(service, confirm)
        if freed is not None:
            return self._announce(service, False, f"{name} was not started: {freed}", began, "start_failed")
        try:
            run, output = self._spawn(service)
        except OSError as exc:
            return self._announce(
                service, False, f"{name} failed to start: {exc.strerror or exc}", began, "start_failed"
            )
        try:
            self._event(service, "starting", f"{name} is starting (pid {run.record.pid})")
            if self.monitor is not None:
                self.monitor.mark_starting(
                    name, managed.start_timeout, self._result(service, State.STARTING, Reason.OK, "starting…")
                )
            return self._wait_healthy(service, run, output, began, kind)
        finally:
            output.close()
            with self._lock:
                run.starting = False

    def _already_running(self, service: _ManagedChild, run: _Run, began: float) -> ActionResult:
        """``start`` of a service whose child runs: a success only if it is healthy now (one check)."""
        name = service.config.name
        checker = Checker(service.config, logs=log_sources(service.config, self.log_dir))
        try:
            result = checker.check()
        finally:
            checker.close()
        if result.state is State.UP:
            return ActionResult(True, f"{name} is already running (pid {run.record.pid})", time.monotonic() - began)
        return ActionResult(
            False,
            f"{name} is running (pid {run.record.pid}) but not healthy: {result.detail.rstrip('.')}; "
            f"`trayapp restart {name}` starts it afresh",
            time.monotonic() - began,
        )

    def _free_port(self, service: _ManagedChild, confirm: Confirm | None) -> str | None:
        """Make sure nothing else holds the service's port; a sentence when it cannot."""
        port = service.config.port
        if port is None or not listeners([port]):
            return None
        plan = plan_kill(port)
        if plan.problem is not None:
            return plan.problem
        listening = [t for t in plan.targets if t.role == "listener"]
        own = bool(listening) and all(t.tag == service.config.identity for t in listening)
        if own:  # left over from an earlier run of this very service (detached from its group): ours to stop
            log.info("%s: stopping its own earlier processes on port %d first", service.config.name, port)
        elif confirm is None or not confirm(plan):
            return (
                f"port {port} is held by {describe_holders(plan)}, which trayapp did not start; kill it first (--yes)"
            )
        report = execute_kill(plan)
        if not report.ok:
            return report.detail
        return None

    def _spawn(self, service: _ManagedChild) -> tuple[_Run, FileFollower]:
        """Start the child; returns its run and a follower of its output from the first line it writes."""
        config, managed = service.config, service.config.managed
        assert managed is not None
        env = dict(os.environ)
        if managed.env_file:
            if not Path(managed.env_file).is_file():
                raise FileNotFoundError(f"env_file {managed.env_file} does not exist")
            env.update({k: v for k, v in dotenv_values(managed.env_file).items() if v is not None})
        env.update(dict(managed.env))
        env[SERVICE_ENV] = config.identity  # whose it is, inherited by every descendant (see marks.py)
        argv = _argv(service.config, env)
        shown = _shown(service.config, argv)  # never a password on disk
        with open_for_child(service.log_path, self.log_max_bytes, self._rotating) as out:
            write_header(out, config.name, shown, managed.cwd)
            output = FileFollower(service.log_path, config.name)  # from here: what this run writes
            try:
                proc = subprocess.Popen(  # argv from the user's own config; a shell only with shell = true
                    argv,
                    cwd=managed.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Own session / process group, so a stop reaches every process it spawned
                    # (and on Windows, so CTRL_BREAK can be sent to it alone).
                    **spawn_options(),
                )
                group = attach(proc)
            except BaseException:
                output.close()
                raise
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            started = time.time()
        record = ChildRecord(config.name, proc.pid, group.pgid, started, shown, str(service.log_path), config.identity)
        run = _Run(record, proc, group)
        with self._lock:
            service.run = run
            service.state = ChildState.STARTING
            service.stopping = False
            service.healthy_mark = None  # a new run: its start marker bounds what explains its exit
            service.crashed = False
            service.force.clear()
        service.records.save(record)
        self._rotator.ensure_started()
        threading.Thread(
            target=self._watch_child, args=(service, run), name=f"trayapp-child-{config.name}", daemon=True
        ).start()
        return run, output

    def _wait_healthy(
        self, service: _ManagedChild, run: _Run, output: FileFollower, began: float, kind: str
    ) -> ActionResult:
        """Until the first healthy check, the child's exit, a watcher's crash line, or ``start_timeout``.

        Checks run on a helper thread so that the exit and the output are looked at every
        ``POLL`` seconds even while a check waits for its timeout.
        """
        name, managed = service.config.name, service.config.managed
        assert managed is not None
        checker = Checker(service.config, logs=log_sources(service.config, self.log_dir))
        deadline = time.monotonic() + managed.start_timeout
        written: list[str] = []  # what the child wrote since it started
        last: CheckResult | None = None
        pending: Future[CheckResult] | None = None
        next_check = 0.0
        with ThreadPoolExecutor(1, thread_name_prefix=f"trayapp-startcheck-{name}") as pool:
            try:
                while True:
                    if not run.alive():
                        return self._exited_at_start(service, run, began)
                    fresh = [item.text for item in output.poll() if isinstance(item, LogLine)]
                    written += fresh
                    crash = next((redact_text(c) for c in map(watcher_crash_line, fresh) if c), None)
                    if crash is not None:
                        error = _error_in(written, service, ALL_TOPICS)
                        said = f"its watcher says: {crash}" + (f"; the app's output says: {error}" if error else "")
                        return self._fail_start(service, run, f"{name} failed to start: {said}", began, Reason.EXITED)
                    if pending is None and time.monotonic() >= next_check:
                        pending = pool.submit(checker.check)
                    if pending is not None and pending.done():
                        last, pending = pending.result(), None
                        if last.state is State.UP:
                            break
                        next_check = time.monotonic() + CHECK_PAUSE
                    if time.monotonic() >= deadline:
                        # Only an error of a kind that explains the last check's failure (a
                        # wrong health path's 404 is explained by no line of the output).
                        error = _error_in(written, service, topics_for(last) if last else ALL_TOPICS)
                        if error:
                            hint = f"; its output says: {error}"
                        else:
                            hint = f"; last check: {last.detail.rstrip('.')}" if last else ""
                        why = f"{name} failed to start: not healthy within {managed.start_timeout:g} s{hint}"
                        return self._fail_start(service, run, why, began, Reason.START_TIMEOUT)
                    self._closed.wait(POLL)
            finally:
                pool.submit(checker.close)
        with self._lock:
            if service.run is run and service.state is ChildState.STARTING:
                service.state = ChildState.RUNNING
        self._note_healthy(service)
        if self.monitor is not None:
            self.monitor.check_now([name])
        elapsed = time.monotonic() - began
        return self._announce(service, True, f"{name} {kind} in {elapsed:.1f} s", began, kind)

    def _exited_at_start(self, service: _ManagedChild, run: _Run, began: float) -> ActionResult:
        """The child died before it was healthy: its exit watcher counts the crash; this says why."""
        run.handled.wait(EXIT_HANDLED_WAIT)  # the exit watcher's verdict first (a crash loop, a restart)
        code = run.proc.returncode if run.proc is not None else None
        why = f"{service.config.name} failed to start: " + self._exit_sentence(service, code)
        if not run.crash_loop:
            self._report_down(service, Reason.EXITED, why)
        self._event(service, "start_failed", why, ok=False)
        return ActionResult(False, why, time.monotonic() - began, "start_failed")

    def _fail_start(self, service: _ManagedChild, run: _Run, why: str, began: float, reason: Reason) -> ActionResult:
        """A child that runs but did not become healthy: stop it (as systemd does after
        TimeoutStartSec), so a later ``start`` starts afresh instead of finding it running."""
        managed = service.config.managed
        assert managed is not None
        with self._lock:
            if service.run is not run:  # a user's stop came first (Force from the window)
                return self._announce(service, False, why, began, "start_failed")
            service.stopping = True
            service.state = ChildState.STOPPING
            service.stopping_since = time.monotonic()
        forced, still = self._end_group(service, run, managed.stop_signal, managed.stop_timeout)
        if still:
            with self._lock:
                service.stopping_since = None
                service.state = ChildState.RUNNING
            why += f"; it is still running (pid {run.record.pid}) after SIGKILL."
        else:
            self._forget(service, run, ChildState.STOPPED)
            how = f"it ignored {managed.stop_signal} for {managed.stop_timeout:g} s and was killed" if forced else None
            why += f"; trayapp stopped it ({how or managed.stop_signal})."
        self._report_down(service, reason, why)
        self._event(service, "start_failed", why, ok=False)
        return ActionResult(False, why, time.monotonic() - began, "start_failed")

    # -- stopping ----------------------------------------------------------------------

    def _stop(self, service: _ManagedChild, began: float, *, announce: bool) -> ActionResult:
        name, managed = service.config.name, service.config.managed
        assert managed is not None
        with self._lock:
            run = service.run
        if run is None or not run.alive():
            self._forget(service, run, ChildState.STOPPED)
            with self._lock:
                service.crashed = False
            stopped = self._stop_strays(service)
            port = service.config.port
            holders = listeners([port]) if port is not None else []
            if holders:
                return ActionResult(
                    False,
                    f"{name} is not running under trayapp, but port {port} is held by {describe_owner(holders[0])}; "
                    f"stop that with `trayapp kill {port}`",
                    time.monotonic() - began,
                )
            if stopped:
                return ActionResult(True, f"{name} stopped: {stopped}", time.monotonic() - began, "stopped")
            return ActionResult(True, f"{name} is not running", time.monotonic() - began)
        record = run.record
        with self._lock:
            service.stopping = True
            service.state = ChildState.STOPPING
            service.stopping_since = time.monotonic()
        sig_name = managed.stop_signal
        if self.monitor is not None:
            waiting = (
                f"{sig_name} sent to {name} (pid {record.pid}); SIGKILL follows if it is still running "
                f"after {managed.stop_timeout:g} s."
            )
            self.monitor.mark_stopping(name, self._result(service, State.STOPPING, Reason.OK, waiting))
        try:
            forced, still = self._end_group(service, run, sig_name, managed.stop_timeout, announce=True)
        except Exception as exc:  # never leave the service shown as "stopping" for good
            with self._lock:
                service.stopping_since = None
                if service.state is ChildState.STOPPING:
                    service.state = ChildState.RUNNING if run.alive() else ChildState.STOPPED
            self._end_stopping(service, f"stopping {name} failed: {exc}")
            raise
        if still:
            with self._lock:
                service.stopping_since = None
                service.state = ChildState.RUNNING
            detail = f"{name} (pid {record.pid}) is still running after SIGKILL"
            self._end_stopping(service, detail + ".")
            return self._announce(service, False, detail, began, "stopped")
        self._forget(service, run, ChildState.STOPPED)
        waited = time.monotonic() - began
        how = (
            f"ignored {sig_name} for {managed.stop_timeout:g} s and was killed"
            if forced and not service.force.is_set()
            else ("was killed (Force)" if forced else f"exited {waited:.1f} s after {sig_name}")
        )
        detail = f"{name} stopped: it {how}"
        with self._lock:
            service.crashed = False
        still_held = self._wait_port_free(service)
        if still_held:
            detail += f"; but {still_held}"
        if self.monitor is not None:
            self.monitor.report(self._result(service, State.STOPPED, Reason.STOPPED, stopped_detail(name, by_you=True)))
        result = ActionResult(not still_held, detail, time.monotonic() - began, "stopped")
        if announce:
            self._event(service, "stopped", detail, ok=result.ok)
        return result

    def _end_group(
        self, service: _ManagedChild, run: _Run, sig_name: str, grace: float, *, announce: bool = False
    ) -> tuple[bool, bool]:
        """Send the stop signal to the group, wait ``grace`` (or until Force), then SIGKILL it and
        wait a little more. Returns (whether it was killed, whether it is still alive)."""
        record = run.record
        service.force.clear()
        signal_group(run.group, sig_name, soft=True, label=record.service)
        # Then the service's processes that left the group (``detached: true``, setsid): they carry
        # its mark. Looked for after the group's signal, which must not wait for the search.
        strays = [p for p in marked_processes(service.config.identity) if not _in_group(p, run.group.pgid)]
        stop_processes(strays, sig_name, soft=True)
        if announce:
            self._event(service, "stop_sent", f"{sig_name} sent to {record.service} (pid {record.pid})")

        def running() -> bool:
            return run.group_alive() or bool(alive(strays))

        deadline = time.monotonic() + grace
        while running() and time.monotonic() < deadline and not service.force.is_set():
            service.force.wait(POLL)
        forced = running()
        if forced:
            signal_group(run.group, "SIGKILL", soft=False, label=record.service)
            stop_processes(alive(strays), "SIGKILL", soft=False)
            end = time.monotonic() + KILL_WAIT
            while running() and time.monotonic() < end:
                self._closed.wait(POLL)
        return forced, running()

    def _end_stopping(self, service: _ManagedChild, why: str) -> None:
        """A stop that did not end the process: leave "stopping" and let the next check say what it is."""
        if self.monitor is not None:
            self.monitor.report(self._result(service, State.UNKNOWN, Reason.ERROR, why))
            self.monitor.check_now([service.config.name])

    def _wait_port_free(self, service: _ManagedChild) -> str | None:
        """Wait (bounded) for the service's port to be free; a sentence naming whoever still
        holds it after that, with how to stop it."""
        port = service.config.port
        if port is None:
            return None
        end = time.monotonic() + PORT_FREE_TIMEOUT
        while time.monotonic() < end:
            if not listeners([port]):
                return None
            self._closed.wait(POLL)
        holders = listeners([port])
        if not holders:
            return None
        who = join_and(describe_owner(x) for x in holders)
        return (
            f"port {port} is still held by {who}, which is not {service.config.name}'s: `trayapp kill {port}` stops it"
        )

    def _stop_strays(self, service: _ManagedChild) -> str | None:
        """Stop the service's own processes that run without its child (its start command
        exited, or was killed, and left them running detached); what was stopped, or None."""
        managed = service.config.managed
        assert managed is not None
        strays = marked_processes(service.config.identity)
        if not strays:
            return None
        names = []
        for proc in strays:
            try:
                names.append(f"{proc.name()} (pid {proc.pid})")
            except psutil.Error:
                continue
        stop_processes(strays, managed.stop_signal, soft=True)
        deadline = time.monotonic() + managed.stop_timeout
        while alive(strays) and time.monotonic() < deadline and not service.force.is_set():
            service.force.wait(POLL)
        forced = alive(strays)
        if forced:
            stop_processes(forced, "SIGKILL", soft=False)
        how = "were killed" if forced else f"exited after {managed.stop_signal}"
        return f"its processes that ran without it, {join_and(names)}, {how}"

    # -- crashes -----------------------------------------------------------------------

    def _watch_child(self, service: _ManagedChild, run: _Run) -> None:
        """Waits for our child to exit (its own thread): a crash is seen at once."""
        assert run.proc is not None
        try:
            code = run.proc.wait()
            self._on_exit(service, run, code)
        except Exception:
            log.exception("watching %s (pid %d) failed", service.config.name, run.record.pid)
        finally:
            run.handled.set()

    def _watch_adopted(self, service: _ManagedChild, run: _Run) -> None:
        """A child we did not start in this process: poll its identity (no exit code to wait for)."""
        try:
            while not self._closed.is_set():
                with self._lock:
                    current = service.run is run and not service.retired
                if not current:
                    return
                if not is_running(run.record):
                    self._on_exit(service, run, None)
                    return
                self._closed.wait(ADOPTED_POLL)
        except Exception:
            log.exception("watching adopted %s (pid %d) failed", service.config.name, run.record.pid)
        finally:
            run.handled.set()

    def _on_exit(self, service: _ManagedChild, run: _Run, code: int | None) -> None:
        """The child exited: unless a deliberate stop ended it, count the crash, report it, and
        schedule the automatic restart; all decided in one critical section with the run still current."""
        name = service.config.name
        with self._lock:
            if service.run is not run or service.stopping or service.retired or self._closed.is_set():
                return  # a deliberate stop, an older child, or a service no longer managed
        # A signal from outside is explained by the signal: nothing to read (and the exit is
        # reported sooner, before the monitor's own checks find the port closed).
        lines = self._run_output(service) if exit_topics(code) else []
        error = self._exit_error(service, code, lines)
        sentence = f"{name} {describe_exit(code)}" + (f": {error}" if error else "")
        timer: threading.Timer | None = None
        with self._lock:
            if service.run is not run or service.stopping or service.retired or self._closed.is_set():
                return  # a stop came in meanwhile: it wins
            service.run = None
            service.crashed = True
            uptime = self._clock.wall() - run.record.started
            verdict = service.crashes.exited(error, uptime)
            run.crash_loop = verdict.crash_loop
            service.last_exit = sentence
            service.state = ChildState.STOPPED
            if verdict.crash_loop:
                service.state = ChildState.CRASH_LOOP
            elif verdict.restart_in is not None:
                service.state = ChildState.BACKOFF
                timer = threading.Timer(verdict.restart_in, self._autorestart, args=(service, service.intent))
                timer.daemon = True
                service.autorestart_timer = timer
                timer.start()
            starting = run.starting
        release(run.group)
        service.records.forget(name, run.record)
        if verdict.crash_loop:
            why = verdict.repeated or describe_exit(code)
            detail = f"{name} is in a crash loop ({verdict.exits} exits in {CRASH_LOOP_WINDOW:g} s): {why}"
            self._report_down(service, Reason.CRASH_LOOP, detail)
            self._event(service, "crash_loop", detail, ok=False)
            return
        if not starting:  # a start that fails says it itself
            self._report_down(service, Reason.EXITED, sentence + exit_hint(code, error, lines))
            self._event(service, "exited", sentence, ok=False)
        if timer is not None:
            self._event(service, "backoff", f"{name} will be restarted in {verdict.restart_in:g} s")

    def _autorestart(self, service: _ManagedChild, intent: int) -> None:
        """The backoff timer's thread: restart, unless the user asked for anything since it was set."""
        try:
            if not service.busy.acquire(timeout=OPERATION_WAIT):
                log.warning("automatic restart of %s skipped: another operation held it too long", service.config.name)
                return
            try:
                with self._lock:
                    if self._closed.is_set() or service.intent != intent or service.state is not ChildState.BACKOFF:
                        return  # the user stopped (or started) it meanwhile: their word wins
                    service.autorestart_timer = None
                    service.auto_busy = True
                self._auto.active = True
                self._restart(service, None)
            finally:
                self._auto.active = False
                with self._lock:
                    service.auto_busy = False
                service.busy.release()
        except Exception:
            log.exception("automatic restart of %s failed", service.config.name)

    def _run_output(self, service: _ManagedChild, n: int = 40) -> list[str]:
        """The last lines of the current run's captured output written since its last healthy
        check (see :func:`run_output`)."""
        with self._lock:
            since = service.healthy_mark
        return run_output(str(service.log_path), service.config.name, since, n)

    def _exit_error(self, service: _ManagedChild, code: int | None, lines: list[str] | None = None) -> str | None:
        """The line of the current run's output (``lines``, default read now, see :meth:`_run_output`)
        that explains this exit: none for a signal from outside (SIGKILL, SIGTERM: the signal says
        it), none written before the last healthy check, none that a later line says has passed
        (issue 9, section 1)."""
        topics = exit_topics(code)
        if not topics:
            return None
        return _error_in(self._run_output(service) if lines is None else lines, service, topics)

    def _exit_sentence(self, service: _ManagedChild, code: int | None) -> str:
        error = self._exit_error(service, code)
        if error:
            return f"{describe_exit(code)}: {error}"
        return f"{describe_exit(code)}" + (exit_hint(code, None, []) or " (no error in its output)")

    def _note_healthy(self, service: _ManagedChild) -> None:
        """Remember where the captured output ends now, at a healthy check."""
        ended = mark([str(service.log_path)]).get(str(service.log_path))
        with self._lock:
            service.healthy_mark = ended

    def _on_monitor_event(self, event: Event) -> None:
        """A healthy check of a managed service (the monitor's worker thread): note where its output ends."""
        if isinstance(event, CheckEvent) and event.result.state is State.UP:
            service = self._services.get(event.result.service)
            if service is not None:
                self._note_healthy(service)

    def _report_down(self, service: _ManagedChild, reason: Reason, detail: str) -> None:
        if self.monitor is not None:
            self.monitor.report(self._result(service, State.DOWN, reason, detail))

    # -- adoption and records --------------------------------------------------------------

    def _forget(self, service: _ManagedChild, run: _Run | None, state: ChildState) -> None:
        """``run`` is gone: leave it behind, in memory and on disk (unless a newer run took its place)."""
        with self._lock:
            if service.run is not run:
                return
            service.run = None
            service.state = state
            service.stopping_since = None
        if run is not None:
            release(run.group)
            service.records.forget(service.config.name, run.record)

    def _adopt_old_layout(self, service: _ManagedChild) -> None:
        """What the old layout (one folder for every config) kept of this service, taken over once."""
        config, managed = service.config, service.config.managed
        assert managed is not None
        env = {**os.environ, **dict(managed.env)}
        try:
            adopt_old_layout(
                self.state_dir, self.log_dir, service.records, config.name, identity=config.identity,
                command=_shown(config, _argv(config, env)), cwd=managed.cwd or os.getcwd(), log_path=service.log_path,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - an unreadable old file must not stop supervision
            log.exception("%s: cannot adopt the old layout's records", config.name)

    def report_stopped(self) -> None:
        """Tell the monitor which managed services are ``stopped``: no child runs and none
        exited unseen (no record left behind). Call before the monitor's first checks; a
        service that answers after all (started outside trayapp) is shown as it is."""
        with self._lock:
            services = list(self._services.values())
        self._report_idle(services)

    def _report_idle(self, services: list[_ManagedChild]) -> None:
        if self.monitor is None:
            return
        for service in services:
            with self._lock:
                idle = service.run is None and service.state is ChildState.STOPPED
            if idle and service.records.peek(service.config.name) is None:
                self.monitor.report(stopped_result(service.config))

    def _adopt(self, service: _ManagedChild) -> None:
        """Take over a child recorded by an earlier trayapp, if it is still that process."""
        record = service.records.load(service.config.name)
        if record is None:
            return
        run = _Run(record, None, adopt(record.pid, record.pgid))
        with self._lock:
            service.run = run
            service.state = ChildState.RUNNING
        self._rotator.ensure_started()
        threading.Thread(
            target=self._watch_adopted, args=(service, run), daemon=True, name=f"trayapp-adopted-{record.service}"
        ).start()

    def _current_alive(self, service: _ManagedChild) -> _Run | None:
        """The current run if its process is alive."""
        with self._lock:
            run = service.run
        return run if run is not None and run.alive() else None

    # -- helpers ---------------------------------------------------------------------------

    def _get(self, name: str) -> _ManagedChild:
        service = self._services.get(name)
        if service is None:
            raise KeyError(f"{name} has no 'start' command in the config, so trayapp cannot start or stop it")
        return service

    def _result(self, service: _ManagedChild, state: State, reason: Reason, detail: str) -> CheckResult:
        config = service.config
        return CheckResult(
            config.name, config.kind, config.display_target, state, reason, detail, None, time.time(), port=config.port
        )

    def _announce(self, service: _ManagedChild, ok: bool, detail: str, began: float, kind: str) -> ActionResult:
        if not ok and kind == "start_failed":
            self._report_down(service, Reason.START_TIMEOUT, detail)
        self._event(service, kind, detail, ok=ok)
        return ActionResult(ok, detail, time.monotonic() - began, kind)

    def _event(self, service: _ManagedChild, kind: str, detail: str, ok: bool = True) -> None:
        log.info("%s: %s", kind, detail)
        event = SupervisorEvent(
            service.config.name, kind, detail, time.time(), ok, getattr(self._auto, "active", False)
        )
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a broken subscriber must not break supervision
                log.exception("supervisor subscriber failed")

    # -- captured output --------------------------------------------------------------------

    def _running_outputs(self) -> list[tuple[str, Path]]:
        """(name, output file) of every child that runs now (for the rotator's thread)."""
        with self._lock:
            return [(s.config.name, s.log_path) for s in self._services.values() if s.run is not None]


def stopped_detail(name: str, *, by_you: bool = False) -> str:
    """The sentence of a managed service that is ``stopped``."""
    said = f"{name} was stopped by you" if by_you else f"{name} is not running"
    return f"{said}: start it with Start or `trayapp start {name}`."


def stopped_result(service: ServiceConfig, t: float | None = None) -> CheckResult:
    """``stopped``: a managed service trayapp has no child of, that the user never started or stopped."""
    return CheckResult(
        service.name, service.kind, service.display_target, State.STOPPED, Reason.STOPPED,
        stopped_detail(service.name), None, time.time() if t is None else t, port=service.port,
    )  # fmt: skip


def settle_stopped(
    services: Sequence[ServiceConfig], results: list[CheckResult], state_dir: Path | None = None
) -> list[CheckResult]:
    """``results`` with each managed service that nothing listens for (``refused``) and that has
    no child record (never started, or stopped by trayapp; a record left behind means it exited
    unseen, which stays ``down``) shown as ``stopped``. For a command that checks once
    (``trayapp status``), where no supervisor runs."""
    settled = []
    for service, result in zip(services, results, strict=True):
        if service.managed is not None and result.reason is Reason.REFUSED:
            if RecordStore(config_records(service.home, state_dir)).peek(service.name) is None:
                result = stopped_result(service, result.t)
        settled.append(result)
    return settled


def idle_services(services: Sequence[ServiceConfig], state_dir: Path | None = None) -> list[CheckResult]:
    """The ``stopped`` result of each managed service without a child record (see
    :func:`settle_stopped`), for a monitor run without a supervisor (``trayapp watch``) to
    :meth:`~trayapp.monitor.scheduler.Monitor.report` before its first checks."""
    return [
        stopped_result(s)
        for s in services
        if s.managed is not None and RecordStore(config_records(s.home, state_dir)).peek(s.name) is None
    ]


def _argv(config: ServiceConfig, env: dict[str, str]) -> list[str]:
    """The argv a managed service is started with (its shell's, with ``shell = true``)."""
    managed = config.managed
    assert managed is not None
    argv = list(managed.command)
    if managed.shell:  # the user's own command line from their config, run by their shell
        argv = ["cmd", "/c", argv[0]] if sys.platform == "win32" else [env.get("SHELL", "/bin/sh"), "-c", argv[0]]
    return argv


def _shown(config: ServiceConfig, argv: list[str]) -> tuple[str, ...]:
    """``argv`` as it may be written down (start line, child record): credentials hidden."""
    return tuple(scrub(arg, config.secrets) for arg in redact_command(argv))


def _in_group(proc: psutil.Process, pgid: int) -> bool:
    """Whether ``proc`` is in the POSIX process group ``pgid`` (Windows: never; its job is signalled)."""
    try:
        return hasattr(os, "getpgid") and os.getpgid(proc.pid) == pgid
    except OSError:
        return False


def _error_in(lines: list[str], service: _ManagedChild, topics: frozenset[Topic]) -> str | None:
    return error_in(lines, service.config, topics)


def error_in(lines: list[str], config: ServiceConfig, topics: frozenset[Topic]) -> str | None:
    """The line of a child's output (this run's) that says what went wrong, of a kind in ``topics``
    and not cleared by a later line, with any credentials in it hidden."""
    found = unresolved_error(lines, topics)
    return None if found is None else scrub(redact_text(found[0]), config.secrets)


def run_output(path: str, name: str, since: FileMark | None, n: int = 40) -> list[str]:
    """The last ``n`` lines of service ``name``'s captured output ``path`` that its current run
    wrote (after its start marker) since ``since`` (the file's end at its last healthy check, if
    known); none when the file cannot be read (deleted, no permission)."""
    try:
        lines = last_lines(path, n, floor=floor_of(path, os.stat(path), since))
    except OSError as exc:
        log.warning("cannot read the output of %s: %s", name, exc.strerror or exc)
        return []
    return current_run(lines, LogSource(path, name))


def exit_hint(code: int | None, error: str | None, lines: list[str]) -> str:
    """What to add to "backend exited …" when no line of its current run (``lines``) explains it."""
    if error:
        return ""  # the error line says it
    if code is not None and code < 0 and not exit_topics(code):  # a signal we did not send
        return " (not by trayapp: a kill from another program or a terminal, or the kernel's out-of-memory killer)"
    tail = [line for line in lines[-3:] if line.strip()]
    return (" — last output: " + " ⏎ ".join(tail)) if tail else ""


def stopping_text(status: ChildStatus, now: float | None = None) -> str:
    """ "SIGTERM sent 3 s ago" for a stop in progress, "" otherwise."""
    if status.stopping_since is None:
        return ""
    waited = (now if now is not None else time.monotonic()) - status.stopping_since
    return f"{status.stop_signal} sent {humanize_age(waited)} ago"


def announcement_for(event: SupervisorEvent) -> Announcement | None:
    """The popup for a supervisor event, if it deserves one.

    Results of what the user asked for (started, restarted, failed to start, stopped) and
    crash loops. A plain crash is announced by the monitor's transition to down, and the
    steps of an automatic restart stay quiet until they amount to a crash loop.
    """
    if event.kind == "crash_loop":
        return Announcement(
            f"{event.service} is in a crash loop", event.detail, (event.service,), Severity.CRITICAL, "crash_loop"
        )
    if event.auto:
        return None
    if event.kind in ("started", "restarted"):
        return Announcement(event.detail, "", (event.service,), Severity.INFO, "recovered")
    if event.kind == "start_failed":
        title, _, why = event.detail.partition(": ")
        return Announcement(title, why or event.detail, (event.service,), Severity.CRITICAL, "problem")
    if event.kind == "stopped":
        how = event.detail.removeprefix(f"{event.service} stopped: ")  # "it exited 0.3 s after SIGTERM"
        severity = Severity.INFO if event.ok else Severity.WARNING  # stopped, but something still holds its port
        return Announcement(
            f"{event.service} stopped", how[:1].upper() + how[1:], (event.service,), severity, "stopped"
        )
    return None
