"""Seeing the exit of a managed child at once without a supervisor (``trayapp watch``).

The tray's supervisor waits on the children it started (``Popen.wait``), so a crash is known
the moment it happens. A headless ``trayapp watch`` starts none; it knows the children that
trayapp started for the services of its config (by the tray or by ``trayapp start``) from
their records (:mod:`trayapp.supervise.records`: pid and start time, one file per service in
the config's folder) and waits for those processes to end, on one thread for all of them:

- **Linux** (5.3 or later): a pidfd per child (``os.pidfd_open``, which works for a process
  that is not our child), all in one selector: it becomes readable when the process ends.
  Nothing is polled.
- **Elsewhere**, or when ``pidfd_open`` fails: the same thread looks at each followed child
  every :data:`POLL` seconds (its pid still that process, not a zombie), as the tray does for
  a child it adopted. *Not run here*: macOS's kqueue ``EVFILT_PROC``/``NOTE_EXIT`` would
  tell at once too.

A record is followed only while its pid is the process it names (pids are reused): the pidfd
is opened first, then the process's start time is compared with the record's
(:func:`~trayapp.supervise.records.is_running`), so the pidfd cannot belong to a later process
either; a stale record whose pid now belongs to another process is not followed, nor one whose
process has already exited (a zombie no one reaped yet): that exit was not seen here. Records are
looked at again every ``rescan`` seconds (one ``stat`` each; read only when it changed), so a
child started after ``watch`` began is followed from then on. Records are only read, never
written or removed: whoever started the child owns them.

An exit is only known to have happened: a process that is not our child leaves no exit status
to read, so :class:`ExitReporter` says "exited" and quotes the error line of the child's own
output if one explains it, as the tray says of a child it adopted.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trayapp.checks.evidence import ALL_TOPICS, FileMark, mark
from trayapp.clock import Clock, SystemClock
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Reason, State
from trayapp.monitor.scheduler import CheckEvent, Event, Monitor
from trayapp.paths import captured_output, config_records
from trayapp.supervise.crashes import CRASH_LOOP_WINDOW, CrashPolicy, describe_exit
from trayapp.supervise.records import ChildRecord, RecordStore, is_running
from trayapp.supervise.supervisor import error_in, exit_hint, run_output

log = logging.getLogger(__name__)

RESCAN = 1.0  # seconds between looks at the records (a child started after watch began)
POLL = 0.5  # seconds between looks at a followed child where no pidfd can be had

Signature = tuple[int, int, int] | None  # (inode, mtime ns, size) of a record file; None: missing


@dataclass
class _Followed:
    record: ChildRecord
    fd: int | None  # its pidfd; None: polled


class ExitWatcher:
    """Follows the recorded children of ``services`` (the managed ones) and calls
    ``on_exit(service, record)`` on its own thread when one ends (see the module doc).

    ``state_dir``: where the records are (default: the user's, :func:`trayapp.paths.children_dir`).
    """

    def __init__(
        self,
        services: Sequence[ServiceConfig],
        on_exit: Callable[[ServiceConfig, ChildRecord], None],
        *,
        state_dir: Path | None = None,
        rescan: float = RESCAN,
        pidfd: bool = True,
    ) -> None:
        self._services = {s.name: s for s in services if s.managed is not None}
        self._stores = {name: RecordStore(config_records(s.home, state_dir)) for name, s in self._services.items()}
        self._on_exit = on_exit
        self._rescan = rescan
        self._pidfd = pidfd and hasattr(os, "pidfd_open")
        self._lock = threading.Lock()
        self._followed: dict[str, _Followed] = {}  # by service name (written on the watcher's thread)
        self._signatures: dict[str, Signature] = {}
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        #: bumped after each look at every record, for tests and callers that wait for one
        self.scans = 0

    def following(self) -> dict[str, int]:
        """The pid followed now for each service that has one."""
        with self._lock:
            return {name: followed.record.pid for name, followed in self._followed.items()}

    def record(self, name: str) -> ChildRecord | None:
        """The record of the child followed now for ``name``, if any."""
        with self._lock:
            followed = self._followed.get(name)
        return None if followed is None else followed.record

    def start(self) -> None:
        if self._thread is None and self._services:
            self._thread = threading.Thread(target=self._run, name="trayapp-exits", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop following (any thread); waits at most ``timeout`` for the thread, which closes its pidfds."""
        self._stopping.set()
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass  # full or closed: it is awake or gone anyway
        if self._thread is None:  # never started (no managed service): nothing else closes these
            self._selector.close()
            self._wake_read.close()
            self._wake_write.close()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- the watcher's thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            next_scan = 0.0
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_scan:
                    for name in self._services:
                        self._look(name)
                    self.scans += 1
                    next_scan = now + self._rescan
                wait = max(0.0, next_scan - time.monotonic())
                if any(f.fd is None for f in self._followed.values()):
                    wait = min(wait, POLL)
                for key, _ in self._selector.select(wait):
                    if key.data is None:
                        self._drain()
                    else:
                        self._ended(key.data)
                for name, followed in list(self._followed.items()):
                    if followed.fd is None and not is_running(followed.record):
                        self._ended(name)
        except Exception:
            log.exception("watching the managed children's exits failed")
        finally:
            with self._lock:
                for followed in self._followed.values():
                    if followed.fd is not None:
                        os.close(followed.fd)
                self._followed.clear()
            self._selector.close()
            self._wake_read.close()
            self._wake_write.close()

    def _drain(self) -> None:
        try:
            while self._wake_read.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _look(self, name: str) -> None:
        """Read ``name``'s record again if its file changed; follow the child it names if that is new."""
        store = self._stores[name]
        try:
            st = os.stat(store.path(name))
            signature: Signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            signature = None
        if signature == self._signatures.get(name, ()):
            return
        self._signatures[name] = signature
        record = store.peek(name)
        current = self._followed.get(name)
        if record is None:
            return  # removed (a stop, or a tray that saw the exit): a child still followed is followed on
        if current is not None and (current.record.pid, current.record.started) == (record.pid, record.started):
            current.record = record  # the same child, its record rewritten
            return
        if current is not None:
            self._unfollow(name)
        self._follow(name, record)

    def _follow(self, name: str, record: ChildRecord) -> None:
        fd = None
        if self._pidfd:
            try:
                fd = os.pidfd_open(record.pid)
            except ProcessLookupError:
                return  # gone before we looked: its exit was not seen here, the checks tell
            except OSError as exc:  # ENOSYS on a kernel before 5.3, EPERM in some sandboxes
                log.info("no pidfd for %s (pid %d): %s; polling it instead", name, record.pid, exc)
                self._pidfd = False
        # Opened first, compared second: the pidfd then refers to the very process compared. One
        # that has already exited is not followed: it ended before we looked, unseen (the checks
        # say what is left), and is not reported as if it had ended now.
        if not is_running(record):
            if fd is not None:
                os.close(fd)
            log.debug("the record of %s names pid %d, which is no longer that process or has exited", name, record.pid)
            return
        if fd is not None:
            self._selector.register(fd, selectors.EVENT_READ, name)
        with self._lock:
            self._followed[name] = _Followed(record, fd)
        log.debug("following %s (pid %d)", name, record.pid)

    def _unfollow(self, name: str) -> _Followed | None:
        with self._lock:
            followed = self._followed.pop(name, None)
        if followed is not None and followed.fd is not None:
            self._selector.unregister(followed.fd)
            os.close(followed.fd)
        return followed

    def _ended(self, name: str) -> None:
        followed = self._unfollow(name)
        if followed is None:
            return
        log.info("%s (pid %d) exited", name, followed.record.pid)
        try:
            self._on_exit(self._services[name], followed.record)
        except Exception:  # noqa: BLE001 - one failed report must not end the watching of the others
            log.exception("reporting the exit of %s failed", name)


class ExitReporter:
    """Tells ``monitor`` at once when a recorded child of one of its managed services exits, as
    the tray's supervisor tells of a child it adopted: ``down`` with reason ``exited`` ("backend
    exited: <the error line of its output that explains it>", or its last lines when none does),
    or ``crash_loop`` at the fifth exit within 60 s; then checks the service afresh.

    ``state_dir`` and ``log_dir``: where the records and the captured output are (default: the
    user's). Call :meth:`start` after the monitor reported the idle services, :meth:`stop` at the end.
    """

    def __init__(
        self,
        monitor: Monitor,
        services: Sequence[ServiceConfig],
        *,
        state_dir: Path | None = None,
        log_dir: Path | None = None,
        clock: Clock | None = None,
        rescan: float = RESCAN,
        pidfd: bool = True,
    ) -> None:
        self._monitor = monitor
        self._clock = clock or SystemClock()
        self._log_dir = log_dir
        managed = [s for s in services if s.managed is not None]
        self._outputs = {s.name: str(captured_output(s.home, s.name, log_dir)) for s in managed}
        self._crashes = {s.name: CrashPolicy(self._clock, autorestart=False) for s in managed}
        #: where each child's output ended at its last healthy check: an error line before that
        #: did not stop it from answering, so it does not explain a later exit
        self._healthy: dict[str, FileMark | None] = {}
        self._lock = threading.Lock()
        self.watcher = ExitWatcher(managed, self._exited, state_dir=state_dir, rescan=rescan, pidfd=pidfd)
        monitor.subscribe(self._on_event)

    def start(self) -> None:
        self.watcher.start()

    def stop(self, timeout: float = 1.0) -> None:
        self.watcher.stop(timeout)

    def _on_event(self, event: Event) -> None:
        """A healthy check of a managed service (a monitor worker): note where its output ends."""
        if isinstance(event, CheckEvent) and event.result.state is State.UP:
            name = event.result.service
            record = self.watcher.record(name)
            path = (record.log if record is not None else "") or self._outputs.get(name)
            if path is not None:
                ended = mark([path]).get(path)
                with self._lock:
                    self._healthy[name] = ended

    def _exited(self, service: ServiceConfig, record: ChildRecord) -> None:
        name = service.name
        path = record.log or self._outputs[name]
        with self._lock:
            since = self._healthy.pop(name, None)
        lines = run_output(path, name, since)
        error = error_in(lines, service, ALL_TOPICS)  # no exit status: anything in its output may explain it
        verdict = self._crashes[name].exited(error, self._clock.wall() - record.started)
        if verdict.crash_loop:
            why = verdict.repeated or describe_exit(None)
            reason = Reason.CRASH_LOOP
            detail = f"{name} is in a crash loop ({verdict.exits} exits in {CRASH_LOOP_WINDOW:g} s): {why}"
        else:
            reason = Reason.EXITED
            detail = f"{name} {describe_exit(None)}" + (f": {error}" if error else "") + exit_hint(None, error, lines)
        result = CheckResult(
            name, service.kind, service.display_target, State.DOWN, reason, detail, None, time.time(), port=service.port
        )
        self._monitor.report(result)
        self._monitor.check_now([name])
