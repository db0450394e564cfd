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

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psutil
from dotenv import dotenv_values

from trayapp.checks.checker import Checker, log_sources
from trayapp.checks.ports import describe_owner, listeners
from trayapp.clock import Clock, SystemClock
from trayapp.config.load import Config, ServiceConfig
from trayapp.logs.format import first_error_line
from trayapp.logs.tail import last_lines
from trayapp.model import CheckResult, Reason, State
from trayapp.monitor.notifier import Announcement, Severity
from trayapp.monitor.scheduler import Monitor
from trayapp.paths import captured_output, children_dir, service_log_dir
from trayapp.supervise.crashes import CRASH_LOOP_WINDOW, CrashPolicy, backoff_delay, describe_exit
from trayapp.supervise.groups import group_alive, group_of, signal_group, spawn_options
from trayapp.supervise.kill import KillPlan, execute_kill, plan_kill
from trayapp.supervise.output import LOG_CHECK_S, LOG_MAX_BYTES, OutputRotator, open_for_child, write_header
from trayapp.supervise.records import ChildRecord, RecordStore, is_running
from trayapp.text import humanize_age

log = logging.getLogger(__name__)

PORT_FREE_TIMEOUT = 5.0
POLL = 0.05  # seconds between looks at a process group or a port while waiting

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


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str
    elapsed_s: float
    kind: str = ""  # the event kind it was announced as

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "elapsed_s": round(self.elapsed_s, 3)}


class _ManagedChild:
    """Book-keeping for one managed service (guarded by the supervisor's lock)."""

    def __init__(self, config: ServiceConfig, log_path: Path, crashes: CrashPolicy) -> None:
        self.config = config
        self.log_path = log_path
        self.state = ChildState.STOPPED
        self.proc: subprocess.Popen[bytes] | None = None
        self.record: ChildRecord | None = None
        self.stopping_since: float | None = None
        self.stopping = False  # a deliberate stop is under way: its exit is not a crash
        self.force = threading.Event()
        self.busy = threading.Lock()  # one start/stop/restart at a time
        self.crashes = crashes
        self.last_exit: str | None = None
        self.autorestart_timer: threading.Timer | None = None


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
        self._records = RecordStore(self.state_dir)
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[SupervisorEvent], None]] = []
        self._clock = clock or SystemClock()
        self._services = {
            s.name: _ManagedChild(
                s,
                captured_output(s.name, self.log_dir),
                CrashPolicy(self._clock, autorestart=s.managed.autorestart, backoff=backoff),
            )
            for s in config.services
            if s.managed is not None
        }
        if monitor is not None:  # failed checks quote the captured output from where it really is
            for service in self._services.values():
                monitor.set_logs(service.config.name, log_sources(service.config, self.log_dir))
        self._closed = threading.Event()
        self._rotator = OutputRotator(
            self._running_outputs, self._rotating, self._closed, max_bytes=log_max_bytes, interval=log_check_interval
        )
        for service in self._services.values():
            self._adopt(service)

    # -- queries -----------------------------------------------------------------------

    def managed(self, name: str) -> bool:
        return name in self._services

    def log_path(self, name: str) -> Path | None:
        service = self._services.get(name)
        return service.log_path if service else None

    def status(self, name: str) -> ChildStatus | None:
        service = self._services.get(name)
        if service is None:
            return None
        with self._lock:
            record = service.record
            return ChildStatus(
                state=service.state,
                pid=record.pid if record else None,
                started=record.started if record else None,
                stopping_since=service.stopping_since,
                stop_signal=service.config.managed.stop_signal if service.config.managed else "SIGTERM",
                last_exit=service.last_exit,
            )

    def is_ours(self, pid: int) -> bool:
        """Whether ``pid`` belongs to the process group of a child we started."""
        with self._lock:
            groups = {s.record.pgid for s in self._services.values() if s.record is not None}
        try:
            return os.getpgid(pid) in groups if hasattr(os, "getpgid") else False
        except OSError:
            return False

    def subscribe(self, callback: Callable[[SupervisorEvent], None]) -> None:
        self._subscribers.append(callback)

    # -- operations (blocking, bounded; call off the GUI thread) --------------------

    def start(self, name: str, confirm: Confirm | None = None) -> ActionResult:
        service = self._get(name)
        if not service.busy.acquire(blocking=False):
            return ActionResult(False, f"{name} is already being started or stopped", 0.0)
        try:
            return self._start(service, confirm, time.monotonic(), "started")
        finally:
            service.busy.release()

    def stop(self, name: str) -> ActionResult:
        service = self._get(name)
        if not service.busy.acquire(blocking=False):
            return ActionResult(False, f"{name} is already being started or stopped", 0.0)
        try:
            return self._stop(service, time.monotonic(), announce=True)
        finally:
            service.busy.release()

    def restart(self, name: str, confirm: Confirm | None = None, *, queue: bool = False) -> ActionResult:
        """Stop (if running) and start. ``queue`` waits for an operation in progress instead of refusing."""
        service = self._get(name)
        acquired = service.busy.acquire(timeout=120) if queue else service.busy.acquire(blocking=False)
        if not acquired:
            return ActionResult(False, f"{name} is already being started or stopped", 0.0)
        try:
            began = time.monotonic()
            if self._alive(service):
                stopped = self._stop(service, began, announce=False)
                if not stopped.ok:
                    return self._announce(
                        service, False, f"{name} could not be stopped: {stopped.detail}", began, "start_failed"
                    )
            return self._start(service, confirm, began, "restarted")
        finally:
            service.busy.release()

    def force(self, name: str) -> None:
        """Skip the rest of a stop's grace period: kill the process group now."""
        self._get(name).force.set()

    def close(self) -> None:
        """Stop watching (children keep running and are adopted next time)."""
        self._closed.set()
        for service in self._services.values():
            if service.autorestart_timer is not None:
                service.autorestart_timer.cancel()

    # -- starting ----------------------------------------------------------------------

    def _start(self, service: _ManagedChild, confirm: Confirm | None, began: float, kind: str) -> ActionResult:
        name, config = service.config.name, service.config
        managed = config.managed
        assert managed is not None
        if self._alive(service):
            return ActionResult(
                True,
                f"{name} is already running (pid {service.record.pid if service.record else '?'})",
                time.monotonic() - began,
            )
        freed = self._free_port(service, confirm)
        if freed is not None:
            return self._announce(service, False, f"{name} was not started: {freed}", began, "start_failed")
        try:
            proc = self._spawn(service)
        except OSError as exc:
            return self._announce(
                service, False, f"{name} failed to start: {exc.strerror or exc}", began, "start_failed"
            )
        self._event(service, "starting", f"{name} is starting (pid {proc.pid})")
        if self.monitor is not None:
            self.monitor.mark_starting(
                name, managed.start_timeout, self._result(service, State.STARTING, Reason.OK, "starting…")
            )
        return self._wait_healthy(service, proc, began, kind)

    def _free_port(self, service: _ManagedChild, confirm: Confirm | None) -> str | None:
        """Make sure nothing else holds the service's port; a sentence when it cannot."""
        port = service.config.port
        if port is None or not listeners([port]):
            return None
        plan = plan_kill(port)
        if plan.problem is not None:
            return plan.problem
        if confirm is None or not confirm(plan):
            holders = ", ".join(f"{t.name or '?'} (pid {t.pid})" for t in plan.targets if t.role == "listener")
            return f"port {port} is held by {holders}, which trayapp did not start; kill it first (--yes)"
        report = execute_kill(plan)
        if not report.ok:
            return report.detail
        return None

    def _spawn(self, service: _ManagedChild) -> subprocess.Popen[bytes]:
        config, managed = service.config, service.config.managed
        assert managed is not None
        env = dict(os.environ)
        if managed.env_file:
            if not Path(managed.env_file).is_file():
                raise FileNotFoundError(f"env_file {managed.env_file} does not exist")
            env.update({k: v for k, v in dotenv_values(managed.env_file).items() if v is not None})
        env.update(dict(managed.env))
        argv = list(managed.command)
        if managed.shell:  # the user's own command line from their config, run by their shell
            argv = ["cmd", "/c", argv[0]] if sys.platform == "win32" else [env.get("SHELL", "/bin/sh"), "-c", argv[0]]
        with open_for_child(service.log_path, self.log_max_bytes, self._rotating) as out:
            write_header(out, config.name, argv, managed.cwd)
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
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            started = time.time()
        record = ChildRecord(config.name, proc.pid, group_of(proc.pid), started, tuple(argv), str(service.log_path))
        with self._lock:
            service.proc, service.record = proc, record
            service.state = ChildState.STARTING
            service.stopping = False
            service.force.clear()
        self._records.save(record)
        self._rotator.ensure_started()
        threading.Thread(
            target=self._watch_child, args=(service, proc), name=f"trayapp-child-{config.name}", daemon=True
        ).start()
        return proc

    def _wait_healthy(
        self, service: _ManagedChild, proc: subprocess.Popen[bytes], began: float, kind: str
    ) -> ActionResult:
        name, managed = service.config.name, service.config.managed
        assert managed is not None
        checker = Checker(service.config, logs=log_sources(service.config, self.log_dir))
        deadline = time.monotonic() + managed.start_timeout
        last: CheckResult | None = None
        try:
            while True:
                if proc.poll() is not None or service.state is not ChildState.STARTING:
                    why = self._exit_sentence(service, proc.returncode)
                    return self._announce(service, False, f"{name} failed to start: {why}", began, "start_failed")
                last = checker.check()
                if last.state is State.UP:
                    break
                if time.monotonic() >= deadline:
                    tail = first_error_line(last_lines(service.log_path, 50))
                    hint = f"; its output says: {tail}" if tail else f"; last check: {last.detail}"
                    return self._announce(
                        service,
                        False,
                        f"{name} failed to start: not healthy within {managed.start_timeout:g} s{hint}",
                        began,
                        "start_failed",
                    )
                time.sleep(0.2)  # between health checks of a starting service
        finally:
            checker.close()
        with self._lock:
            if service.state is ChildState.STARTING:
                service.state = ChildState.RUNNING
        if self.monitor is not None:
            self.monitor.check_now([name])
        elapsed = time.monotonic() - began
        return self._announce(service, True, f"{name} {kind} in {elapsed:.1f} s", began, kind)

    # -- stopping ----------------------------------------------------------------------

    def _stop(self, service: _ManagedChild, began: float, *, announce: bool) -> ActionResult:
        name, managed = service.config.name, service.config.managed
        assert managed is not None
        with self._lock:
            record, proc = service.record, service.proc
            if service.autorestart_timer is not None:
                service.autorestart_timer.cancel()
                service.autorestart_timer = None
        if record is None or not self._alive(service):
            with self._lock:
                service.state = ChildState.STOPPED
            self._forget(service)
            port = service.config.port
            holders = listeners([port]) if port is not None else []
            if holders:
                return ActionResult(
                    False,
                    f"{name} is not running under trayapp, but port {port} is held by {describe_owner(holders[0])}; "
                    f"stop that with `trayapp kill {port}`",
                    time.monotonic() - began,
                )
            return ActionResult(True, f"{name} is not running", time.monotonic() - began)
        with self._lock:
            service.stopping = True
            service.state = ChildState.STOPPING
            service.stopping_since = time.monotonic()
            service.force.clear()
        sig_name = managed.stop_signal
        signal_group(record.pid, record.pgid, sig_name, soft=True, label=name)
        self._event(service, "stop_sent", f"{sig_name} sent to {name} (pid {record.pid})")
        if self.monitor is not None:
            waiting = (
                f"{sig_name} sent to {name} (pid {record.pid}); SIGKILL follows if it is still running "
                f"after {managed.stop_timeout:g} s."
            )
            self.monitor.mark_stopping(name, self._result(service, State.STOPPING, Reason.OK, waiting))
        try:
            forced, still = self._await_exit(service, record, proc, managed.stop_timeout)
        except Exception as exc:  # never leave the service shown as "stopping" for good
            self._end_stopping(service, f"stopping {name} failed: {exc}")
            raise
        with self._lock:
            service.stopping_since = None
            service.state = ChildState.RUNNING if still else ChildState.STOPPED
        if still:
            detail = f"{name} (pid {record.pid}) is still running after SIGKILL"
            self._end_stopping(service, detail + ".")
            return self._announce(service, False, detail, began, "stopped")
        self._forget(service)
        waited = time.monotonic() - began
        how = (
            f"ignored {sig_name} for {managed.stop_timeout:g} s and was killed"
            if forced and not service.force.is_set()
            else ("was killed (Force)" if forced else f"exited {waited:.1f} s after {sig_name}")
        )
        detail = f"{name} stopped: it {how}"
        port_note = self._wait_port_free(service)
        if port_note:
            detail += f"; {port_note}"
        if self.monitor is not None:
            self.monitor.report(self._result(service, State.DOWN, Reason.STOPPED, f"{name} was stopped by you."))
        result = ActionResult(True, detail, time.monotonic() - began, "stopped")
        if announce:
            self._event(service, "stopped", detail)
        return result

    def _end_stopping(self, service: _ManagedChild, why: str) -> None:
        """A stop that did not end the process: leave "stopping" and let the next check say what it is."""
        if self.monitor is not None:
            self.monitor.report(self._result(service, State.UNKNOWN, Reason.ERROR, why))
            self.monitor.check_now([service.config.name])

    def _await_exit(
        self, service: _ManagedChild, record: ChildRecord, proc: subprocess.Popen[bytes] | None, grace: float
    ) -> tuple[bool, bool]:
        """Wait ``grace`` (or until Force) for the group to exit, then SIGKILL it and wait a little
        more. Returns (whether it was killed, whether it is still alive)."""
        deadline = time.monotonic() + grace
        while group_alive(record.pid, record.pgid, proc) and time.monotonic() < deadline and not service.force.is_set():
            service.force.wait(POLL)
        forced = group_alive(record.pid, record.pgid, proc)
        if forced:
            signal_group(record.pid, record.pgid, "SIGKILL", soft=False, label=record.service)
            end = time.monotonic() + 5.0
            while group_alive(record.pid, record.pgid, proc) and time.monotonic() < end:
                time.sleep(POLL)
        return forced, group_alive(record.pid, record.pgid, proc)

    def _wait_port_free(self, service: _ManagedChild) -> str | None:
        port = service.config.port
        if port is None:
            return None
        end = time.monotonic() + PORT_FREE_TIMEOUT
        while time.monotonic() < end:
            if not listeners([port]):
                return None
            time.sleep(POLL)
        return f"port {port} is still held by another process"

    # -- crashes -----------------------------------------------------------------------

    def _watch_child(self, service: _ManagedChild, proc: subprocess.Popen[bytes]) -> None:
        """Waits for our child to exit (its own thread): a crash is seen at once."""
        code = proc.wait()
        self._on_exit(service, code, proc)

    def _on_exit(self, service: _ManagedChild, code: int | None, proc: subprocess.Popen[bytes] | None) -> None:
        name, managed = service.config.name, service.config.managed
        assert managed is not None
        with self._lock:
            if service.proc is not proc or service.stopping or self._closed.is_set():
                return  # a deliberate stop, or an older child
            started = service.record.started if service.record else None
            starting = service.state is ChildState.STARTING
        lines = last_lines(service.log_path, 40)
        error = first_error_line(lines)
        sentence = f"{name} {describe_exit(code)}" + (f": {error}" if error else "")
        with self._lock:
            uptime = self._clock.wall() - started if started else 0.0
            verdict = service.crashes.exited(error, uptime)
            service.last_exit = sentence
            service.state = ChildState.CRASH_LOOP if verdict.crash_loop else ChildState.STOPPED
        self._forget(service)
        if verdict.crash_loop:
            why = verdict.repeated or describe_exit(code)
            detail = f"{name} is in a crash loop ({verdict.exits} exits in {CRASH_LOOP_WINDOW:g} s): {why}"
            self._report_down(service, Reason.CRASH_LOOP, detail)
            self._event(service, "crash_loop", detail, ok=False)
            return
        self._report_down(service, Reason.EXITED, sentence + self._exit_hint(code, error, lines))
        if not starting:
            self._event(service, "exited", sentence, ok=False)
        if verdict.restart_in is not None and not self._closed.is_set():
            delay = verdict.restart_in
            with self._lock:
                service.state = ChildState.BACKOFF
            self._event(service, "backoff", f"{name} will be restarted in {delay:g} s")
            timer = threading.Timer(delay, self._autorestart, args=(service,))
            timer.daemon = True
            service.autorestart_timer = timer
            timer.start()

    def _autorestart(self, service: _ManagedChild) -> None:
        if self._closed.is_set() or service.state is not ChildState.BACKOFF:
            return
        self._auto.active = True
        try:
            self.restart(service.config.name, confirm=None, queue=True)
        finally:
            self._auto.active = False

    def _exit_sentence(self, service: _ManagedChild, code: int | None) -> str:
        error = first_error_line(last_lines(service.log_path, 40))
        return f"{describe_exit(code)}" + (f": {error}" if error else " (no error in its output)")

    @staticmethod
    def _exit_hint(code: int | None, error: str | None, lines: list[str]) -> str:
        """What to add to "backend exited …" when its output named no error."""
        if error:
            return ""  # the error line says it
        if code is not None and code < 0:  # a signal we did not send: its output will not say who
            return " (not by trayapp: a kill from another program or a terminal, or the kernel's out-of-memory killer)"
        tail = [line for line in lines[-3:] if line.strip()]
        return (" — last output: " + " ⏎ ".join(tail)) if tail else ""

    def _report_down(self, service: _ManagedChild, reason: Reason, detail: str) -> None:
        if self.monitor is not None:
            self.monitor.report(self._result(service, State.DOWN, reason, detail))

    # -- adoption and records --------------------------------------------------------------

    def _forget(self, service: _ManagedChild) -> None:
        """The child is gone: drop its record, in memory and on disk."""
        with self._lock:
            service.record = None
        self._records.forget(service.config.name)

    def _adopt(self, service: _ManagedChild) -> None:
        """Take over a child recorded by an earlier trayapp, if it is still that process."""
        record = self._records.load(service.config.name)
        if record is None:
            return
        service.record = record
        service.state = ChildState.RUNNING
        self._rotator.ensure_started()
        threading.Thread(
            target=self._watch_adopted, args=(service, record), daemon=True, name=f"trayapp-adopted-{record.service}"
        ).start()

    def _watch_adopted(self, service: _ManagedChild, record: ChildRecord) -> None:
        """A child we did not start in this process: poll its identity (no exit code to wait for)."""
        while not self._closed.is_set():
            if service.record is not record:
                return
            if not is_running(record):
                self._on_exit(service, None, None)
                return
            self._closed.wait(0.5)

    def _alive(self, service: _ManagedChild) -> bool:
        record = service.record
        if record is None:
            return False
        if service.proc is not None and service.proc.pid == record.pid:
            return service.proc.poll() is None
        return is_running(record)

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
            with self._lock:
                if service.state is ChildState.STARTING:
                    service.state = ChildState.STOPPED
            self._report_down(
                service,
                Reason.EXITED if service.proc and service.proc.poll() is not None else Reason.START_TIMEOUT,
                detail,
            )
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
            return [(s.config.name, s.log_path) for s in self._services.values() if s.record is not None]


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
        return Announcement(
            f"{event.service} stopped", how[:1].upper() + how[1:], (event.service,), Severity.INFO, "stopped"
        )
    return None
