"""The monitor engine: schedules checks, debounces failures, emits events.

Threads (bounded, not one per service): one scheduler thread decides which services are due
and queues their checks; a small pool of worker threads (at most ``workers``, 4 by default,
started only when there is work for them) runs the checks. A service is queued only when no
check of it is in flight, so at most one check per service is in flight, and its next check
is scheduled when the last result arrives.

The scheduler finds what is due in a heap of (due time, service) ordered by due time, with
lazy deletion: whatever moves a service's due time (a finished check, ``check_now``, a burst,
a reload) pushes a new item and bumps the service's stamp, so older items of it are skipped
when they reach the top, as are items of a service in flight or dropped by a reload. So a
finished check costs O(log n), not a look at every service, and it wakes the scheduler only
when its service is due before the scheduler means to wake anyway. The heap is rebuilt from
the services when stale items outnumber them, so it never grows past about twice their number.

A hung server delays only its own checks: the scheduler watches each worker, and one whose
check has run past ``stall_after`` (0.5 s by default, real time) is *detached*: it leaves the
pool, finishes that one check as a dedicated overflow thread (the check is bounded by the
service's timeout) and then ends, while the pool starts a replacement for the other
services. So the threads are at most 1 + ``workers`` + the checks running past
``stall_after`` (at most one per service, and one per retired probe still in its check);
with healthy services, 1 + ``workers`` whatever their number. All threads are daemons: a
probe stuck in the OS never holds the process open. A worker takes the name
``trayapp-check-<service>`` while it checks that service (for py-spy and thread dumps).

Subscribers are called on the worker threads (or on the thread that reported a result from
outside, a supervisor's); a GUI must hop to its own thread (the Qt adapter emits signals).

Each service's events reach every subscriber in the order they were decided: an event is
queued in the same critical section that builds it, and one thread at a time delivers a
service's queue, so a subscriber never gets an older state after a newer one.

A new config is taken in place (:meth:`Monitor.reconfigure`): unchanged services go on as
they were, and a probe that is no longer wanted is retired, never waited for: a check of it
in flight ends, reports nothing, and its worker closes it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from trayapp.checks.checker import Checker
from trayapp.clock import Clock, SystemClock
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Reason, State, Transition
from trayapp.monitor.rootcause import Relations

log = logging.getLogger(__name__)

_BAD_STATES = (State.DOWN, State.DEGRADED)


@dataclass(frozen=True)
class CheckEvent:
    """Every finished check. ``service_state`` is the debounced state after it."""

    result: CheckResult
    service_state: State
    failures: int  # consecutive failed checks, 0 after a success

    def to_json(self) -> dict[str, object]:
        r = self.result
        return {
            "event": "check",
            "service": r.service,
            "state": str(r.state),
            "reason": str(r.reason),
            "headline": r.headline,
            "detail": r.detail,
            "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 1),
            "t": round(r.t, 3),
            "service_state": str(self.service_state),
            "http_status": r.http_status,
            "blocked_by": r.blocked_by,
            "proxy": None if r.proxy is None else r.proxy.to_json(),
        }


Event = CheckEvent | Transition
Subscriber = Callable[[Event], None]


def first_verdict_bound(service: ServiceConfig) -> float:
    """Seconds from the first check to the service's first verdict at the latest: ``down_after``
    checks of at most ``timeout`` each, ``interval`` apart (a managed start or a stop reported
    by the supervisor comes sooner)."""
    return service.down_after * service.timeout + (service.down_after - 1) * service.interval


class Tracker:
    """Debounces one service's results into a confirmed state.

    A service leaves ``up`` (or ``unknown``) only after ``down_after`` consecutive
    failed checks, so one blip is not an outage; one success brings it back at once.
    Once it is confirmed bad, moves between bad states (degraded <-> down) are immediate.
    """

    def __init__(self, name: str, down_after: int) -> None:
        self.name = name
        self.down_after = down_after
        self.state = State.UNKNOWN
        self.failures = 0
        self.since: float | None = None  # monotonic time the state was entered
        self.reason: Reason | None = None  # the reason of the last transition
        self.starting_until: float | None = None  # monotonic; failures do not count before it

    def force(self, state: State, result: CheckResult, now: float) -> Transition | None:
        """Set the state at once (a child exited, a deliberate start or stop): no threshold.

        The supervisor's word explains a state a check may have confirmed a moment before (a
        check that found the port closed between the child's exit and its report): then the
        transition keeps the state and carries the new reason (``old is new``), so a popup still
        open for the change says why, not only what."""
        self.failures = 0 if state is State.UP else self.down_after
        self.starting_until = None
        return self._move(state, result, now, explains=result.reason is not self.reason)

    def start(self, result: CheckResult, now: float, until: float) -> Transition | None:
        """A managed start: ``starting`` until the first success or ``until``."""
        self.failures = 0
        transition = self._move(State.STARTING, result, now)
        self.starting_until = until
        return transition

    def stop(self, result: CheckResult, now: float) -> Transition | None:
        """A managed stop: ``stopping`` until :meth:`force` says how it ended; checks meanwhile
        (the listener closes before the process exits) change nothing."""
        self.starting_until = None
        return self._move(State.STOPPING, result, now)

    def feed(self, result: CheckResult, now: float) -> Transition | None:
        if self.state is State.STOPPING:
            return None
        if self.state is State.STARTING and self.starting_until is not None:
            if result.state is State.UP:
                self.starting_until = None
                return self._move(State.UP, result, now)
            if now < self.starting_until:
                return None  # still starting: not answering yet is expected
            self.starting_until = None
            self.failures = self.down_after
            return self._move(State.DOWN, result, now)
        if result.state is State.UP:
            self.failures = 0
            new = State.UP
        else:
            self.failures += 1
            confirmed_bad = self.state in (State.DOWN, State.DEGRADED)
            if not confirmed_bad and self.failures < self.down_after:
                return None
            new = result.state
        return self._move(new, result, now)

    def _move(self, new: State, result: CheckResult, now: float, *, explains: bool = False) -> Transition | None:
        # Into or out of stale_connection is news even within "degraded": it asks for a restart.
        stale_news = Reason.STALE_CONNECTION in (result.reason, self.reason) and result.reason is not self.reason
        if new is self.state and not (stale_news and new is not State.UP) and not (explains and new in _BAD_STATES):
            return None
        old, old_since = self.state, self.since
        self.state, self.reason = new, result.reason
        if old is not new:
            self.since = now
        return Transition(
            service=self.name,
            old=old,
            new=new,
            reason=result.reason,
            detail=result.detail,
            t=result.t,
            duration_s=None if old_since is None else now - old_since,
            blocked_by=result.blocked_by,
            headline=result.headline,
        )


@dataclass(frozen=True)
class MonitorSnapshot:
    """A snapshot of one service as the monitor sees it."""

    service: ServiceConfig
    state: State
    last: CheckResult | None
    failures: int
    since: float | None  # monotonic
    checking: bool


@dataclass(frozen=True)
class Reconfigured:
    """What :meth:`Monitor.reconfigure` did, by service name, in the new config's order."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # same name, new settings: a new probe and worker, the state kept
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # unchanged: worker, probe, state and schedule untouched

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class _Entry:
    def __init__(self, checker: Checker, now: float) -> None:
        self.checker = checker
        self.tracker = Tracker(checker.service.name, checker.service.down_after)
        self.next_due = now
        self.extra_due: list[float] = []  # one-off checks on top of the interval (a re-check burst)
        self.in_flight = False
        self.poked = False
        self.reset_pending = False
        self.last: CheckResult | None = None
        #: why nothing listens (the child exited, was stopped): shown instead of a bare "refused"
        self.explained: CheckResult | None = None
        self.outbox: list[Event] = []  # decided, not yet delivered (in order; under the monitor's lock)
        self.delivering = False  # a thread is delivering this entry's events
        #: bumped when a reload gives the service a new probe or drops it: a check started for an
        #: older generation reports nothing, and its worker closes the old probe
        self.generation = 0
        #: bumped by each push to the scheduler's heap: only the item with the current stamp counts
        self.stamp = 0


@dataclass(frozen=True)
class _Job:
    """A check of ``entry`` with ``checker`` (its probe at ``generation``), or only closing it."""

    entry: _Entry | None
    generation: int
    checker: Checker
    reset: bool = False  # rebuild the probe's connections first (after sleep/wake)


class _Worker:
    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.busy_since: float | None = None  # time.monotonic() the current check began
        self.detached = False  # past stall_after: ends after its check; the pool has a replacement


class Monitor:
    """Checks services on their intervals with a bounded set of threads (see the module doc).

    ``workers``: the pool's size (threads that run checks). ``stall_after``: seconds (real
    time) after which a check still running is handed to its own overflow thread.
    """

    def __init__(
        self,
        services: Sequence[ServiceConfig],
        *,
        clock: Clock | None = None,
        checker_factory: Callable[[ServiceConfig], Checker] | None = None,
        workers: int = 4,
        stall_after: float = 0.5,
    ) -> None:
        self.clock = clock or SystemClock()
        #: every service of the config, for the proxy check of a dev server (the service behind it)
        self._all: tuple[ServiceConfig, ...] = tuple(services)
        self._factory = checker_factory or (
            lambda s: Checker(s, wall=self.clock.wall, services=self._all, peers=self._latest)
        )
        #: blocked_by and stale_connection, across services (monitor/rootcause.py)
        self.relations = Relations(services, self.clock.wall)
        self._cond = threading.Condition()
        now = self.clock.monotonic()
        self._entries = {s.name: _Entry(self._factory(s), now) for s in services}
        self._subscribers: list[Subscriber] = []
        self._stopping = False
        self._paused = False
        self._started = False
        self._pool_size = max(1, workers)
        self._stall_after = stall_after
        self._ready: deque[_Job] = deque()  # checks and closes waiting for a worker
        #: (due time, tie-breaker, entry, stamp): the services not in flight by due time (module doc)
        self._heap: list[tuple[float, int, _Entry, int]] = []
        self._order = itertools.count()
        #: the clock's monotonic time the scheduler will wake by for the heap's top (inf: not waiting for it)
        self._wake_by = -math.inf
        for entry in self._entries.values():
            self._push(entry)
        self._pool: set[_Worker] = set()  # workers not detached
        self._idle = 0  # pool workers waiting for a job
        self._threads: list[threading.Thread] = []  # every thread started, for stop() to join
        self.clock.on_advance(self._wake)

    # -- public API (any thread) -------------------------------------------------

    @property
    def services(self) -> list[ServiceConfig]:
        return [e.checker.service for e in self._entries.values()]

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(event)`` for every check and transition (on a worker thread)."""
        self._subscribers.append(callback)

    def start(self) -> None:
        with self._cond:
            if self._started:
                return
            self._started = True
            self._spawn(self._schedule, "trayapp-scheduler")

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        """Start a daemon thread (call with the lock held)."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def reconfigure(self, services: Sequence[ServiceConfig]) -> Reconfigured:
        """Take a new list of services in place. Any thread; joins nothing and waits for no check.

        An unchanged service keeps its worker, probe, state and schedule. A changed one (same
        name, other settings) gets a new probe and worker and is checked at once; it keeps its
        confirmed state and failure count (and its queue of events, so they stay in order), so
        a reload neither forgets an outage nor announces it again. The worker it had, and that
        of a dropped service, is retired: it ends when the check it may be in returns (bounded
        by the service's timeout), closes its probe, and reports nothing. New services are
        checked at once. Probes are built on the calling thread (a MongoClient is made there).
        """
        fresh = {s.name: s for s in services}
        self._all = tuple(services)
        self.relations.set_services(services)
        with self._cond:
            current = dict(self._entries)
        built = {
            name: self._factory(service)
            for name, service in fresh.items()
            if name not in current or current[name].checker.service != service
        }
        with self._cond:
            now = self.clock.monotonic()
            old, entries = self._entries, {}
            added, changed, kept = [], [], []
            for name, service in fresh.items():
                entry = old.get(name)
                if entry is not None and entry.checker.service == service:
                    entries[name] = entry
                    kept.append(name)
                    continue
                checker = built.get(name) or self._factory(service)
                if entry is None:
                    entry = _Entry(checker, now)
                    added.append(name)
                else:
                    self._retire(entry)
                    entry.checker = checker
                    entry.tracker.down_after = service.down_after
                    entry.next_due, entry.extra_due, entry.poked = now, [], False
                    changed.append(name)
                entries[name] = entry
            removed = [name for name in old if name not in fresh]
            for name in removed:
                self._retire(old[name])
            self._entries = entries
            for name in (*added, *changed):
                if self._started and not self._stopping and not self._paused:
                    self._dispatch(entries[name], now)  # checked at once, in flight from here
                else:
                    self._push(entries[name])
            self._grow()
            self._cond.notify_all()
        return Reconfigured(tuple(added), tuple(changed), tuple(removed), tuple(kept))

    def _retire(self, entry: _Entry) -> None:
        """Retire ``entry``'s probe (call with the lock held): a check of it in flight (or
        queued) closes it when it returns; otherwise a worker closes it now."""
        if not entry.in_flight:
            self._ready.append(_Job(None, entry.generation, entry.checker))
        entry.generation += 1
        entry.in_flight = False  # the old check no longer counts: the new probe is checked at once

    def stop(self, timeout: float = 1.0) -> None:
        """Stop scheduling; the workers close every probe.

        Waits at most ``timeout`` for each thread (a check in flight). The threads are
        daemons: one stuck in a probe cannot hold the process open.
        """
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            for entry in self._entries.values():
                if not entry.in_flight:
                    self._ready.append(_Job(None, entry.generation, entry.checker))
            self._grow()
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def check_now(self, names: Iterable[str] | None = None) -> None:
        """Check these services (default: all) as soon as possible."""
        with self._cond:
            for entry in self._select(names):
                entry.poked = True
                self._push(entry)

    def burst(self, delays: Iterable[float], names: Iterable[str] | None = None) -> None:
        """Check now and again after each of ``delays`` seconds (after wake or a network change).

        A check that is already in flight counts for "now"; one-off checks never pile up:
        each runs only if no check of that service is in flight when it falls due.
        """
        with self._cond:
            now = self.clock.monotonic()
            for entry in self._select(names):
                entry.poked = True
                entry.extra_due = sorted({*entry.extra_due, *(now + d for d in delays)})
                self._push(entry)

    def report(self, result: CheckResult, state: State | None = None) -> None:
        """Take a result from outside the schedule (a managed child exited, was stopped).

        It sets the service's state at once (default: the result's own state), and is
        emitted like any check, with its transition.
        """
        entry = self._entries.get(result.service)
        if entry is None:
            return
        with self._cond:
            entry.last = result
            entry.explained = result if result.state is not State.UP else None
            transition = entry.tracker.force(state or result.state, result, self.clock.monotonic())
            self._queue(entry, CheckEvent(result, entry.tracker.state, entry.tracker.failures), transition)
        self._deliver(entry)

    def mark_starting(self, name: str, timeout: float, result: CheckResult) -> None:
        """The service was just started: show ``starting`` until it answers or ``timeout`` passes."""
        entry = self._entries.get(name)
        if entry is None:
            return
        with self._cond:
            now = self.clock.monotonic()
            entry.explained = None
            transition = entry.tracker.start(result, now, now + timeout)
            entry.poked = True
            entry.extra_due = sorted({*entry.extra_due, now + timeout})  # to notice a start that never answers
            self._queue(entry, transition)
            self._push(entry)
        self._deliver(entry)

    def set_child_state(
        self, name: str, state: Callable[[], bool | None], owns: Callable[[int], bool] | None = None
    ) -> None:
        """How ``name``'s checks learn whether trayapp's own child for it runs and which pids are
        its own (see :class:`Checker`): a process that cannot be that child is a stale holder."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.checker.child_state = state
            entry.checker.owns = owns

    def set_logs(self, name: str, paths: Sequence[str]) -> None:
        """The files whose error lines a failed check of ``name`` quotes (see :class:`Checker`)."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.checker.logs = tuple(paths)

    def mark_stopping(self, name: str, result: CheckResult) -> None:
        """A stop was asked for: show ``stopping`` until :meth:`report` gives the outcome."""
        entry = self._entries.get(name)
        if entry is None:
            return
        with self._cond:
            entry.last = entry.explained = result  # "refused" while it shuts down is what a stop looks like
            transition = entry.tracker.stop(result, self.clock.monotonic())
            self._queue(entry, CheckEvent(result, entry.tracker.state, entry.tracker.failures), transition)
        self._deliver(entry)

    def reset_connections(self, names: Iterable[str] | None = None) -> None:
        """Rebuild probes' connections before their next check (after sleep/wake)."""
        with self._cond:
            for entry in self._select(names):
                entry.reset_pending = True

    def hold_stale(self, seconds: float) -> None:
        """Judge no connection stale for ``seconds`` (after a wake: drivers reconnect in the grace)."""
        self.relations.hold(seconds)

    def _latest(self, name: str) -> CheckResult | None:
        entry = self._entries.get(name)
        return None if entry is None else entry.last

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def status(self) -> list[MonitorSnapshot]:
        with self._cond:
            return [
                MonitorSnapshot(
                    e.checker.service, e.tracker.state, e.last, e.tracker.failures, e.tracker.since, e.in_flight
                )
                for e in self._entries.values()
            ]

    # -- worker threads ----------------------------------------------------------

    def _select(self, names: Iterable[str] | None) -> list[_Entry]:
        if names is None:
            return list(self._entries.values())
        return [self._entries[n] for n in names if n in self._entries]

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @staticmethod
    def _due_at(entry: _Entry) -> float:
        """The clock's monotonic time ``entry`` is due (-inf when poked: at once) (lock held)."""
        if entry.poked:
            return -math.inf
        return min(entry.next_due, entry.extra_due[0]) if entry.extra_due else entry.next_due

    def _push(self, entry: _Entry) -> None:
        """(Re)schedule ``entry`` at its due time (lock held); its older heap items go stale.
        Wakes the scheduler only if it is due before the scheduler means to wake."""
        entry.stamp += 1
        due = self._due_at(entry)
        heapq.heappush(self._heap, (due, next(self._order), entry, entry.stamp))
        if len(self._heap) > 2 * len(self._entries) + 16:  # mostly stale: rebuild from the live entries
            self._heap = [item for item in self._heap if self._live(item)]
            heapq.heapify(self._heap)
        if due < self._wake_by:
            self._wake_by = due
            self._cond.notify_all()

    def _live(self, item: tuple[float, int, _Entry, int]) -> bool:
        """Whether a heap item still stands for its service: its latest, not in flight, not dropped."""
        _, _, entry, stamp = item
        return stamp == entry.stamp and not entry.in_flight and self._entries.get(entry.tracker.name) is entry

    def _next_due(self, now: float) -> float | None:
        """Dispatch every service due at ``now``; seconds until the next one is, None if none (lock held)."""
        heap = self._heap
        while heap:
            if not self._live(heap[0]):
                heapq.heappop(heap)
                continue
            due, _, entry, _ = heap[0]
            if due > now:
                return due - now
            heapq.heappop(heap)
            self._dispatch(entry, now)
        return None

    def _dispatch(self, entry: _Entry, now: float) -> None:
        """Queue a check of ``entry`` (lock held): from now on it is in flight."""
        entry.poked = False
        entry.extra_due = [t for t in entry.extra_due if t > now]
        entry.in_flight = True
        reset, entry.reset_pending = entry.reset_pending, False
        self._ready.append(_Job(entry, entry.generation, entry.checker, reset))

    def _grow(self) -> None:
        """Start pool workers for queued jobs no idle worker will take (lock held)."""
        if not self._started and not self._stopping:
            return
        while len(self._ready) > self._idle and len(self._pool) < self._pool_size:
            worker = _Worker()
            self._pool.add(worker)
            self._idle += 1  # counted idle until it takes its first job
            self._spawn(self._work, "trayapp-worker", worker)
        self._cond.notify_all()

    def _schedule(self) -> None:
        """The scheduler thread: queue due checks, detach workers stuck past ``stall_after``."""
        with self._cond:
            while not self._stopping:
                wait: float | None = None
                self._wake_by = math.inf  # paused: resume() wakes it
                if not self._paused:
                    now = self.clock.monotonic()
                    wait = self._next_due(now)
                    self._wake_by = math.inf if wait is None else now + wait
                real = time.monotonic()
                for worker in list(self._pool):
                    if worker.busy_since is None:
                        continue
                    left = worker.busy_since + self._stall_after - real
                    if left <= 0:  # a slow or hung check: it gets the thread, the pool a new one
                        worker.detached = True
                        self._pool.discard(worker)
                    elif wait is None or left < wait:
                        wait = left
                if self._ready and (wait is None or wait > self._stall_after):
                    wait = self._stall_after  # to time the checks about to begin (no wake-up per check)
                self._grow()
                self._cond.wait(wait)

    def _work(self, me: _Worker) -> None:
        """A worker thread: run queued jobs; end when detached (after its check) or stopping."""
        thread = threading.current_thread()
        while True:
            with self._cond:
                while not self._ready and not self._stopping:
                    self._cond.wait()
                self._idle -= 1
                if not self._ready:
                    self._pool.discard(me)
                    return
                job = self._ready.popleft()
                entry = job.entry
                live = entry is not None and not self._stopping and entry.generation == job.generation
                if live:
                    me.busy_since = time.monotonic()
            if entry is None or not live:
                job.checker.close()  # retired, or stopping: this probe is done
            else:
                thread.name = f"trayapp-check-{job.checker.service.name}"
                self._check(entry, job)
                thread.name = "trayapp-worker"
            with self._cond:
                me.busy_since = None
                if me.detached:
                    self._grow()  # in case the pool shrank to nothing meanwhile
                    return
                self._idle += 1

    def _check(self, entry: _Entry, job: _Job) -> None:
        """Run one check of ``entry`` and report it (on a worker, without the lock)."""
        checker, generation = job.checker, job.generation
        if job.reset:
            checker.reset()
        result = checker.check()
        with self._cond:
            if self._stopping or entry.generation != generation:
                retired = True  # the result is about settings that no longer hold
            else:
                retired = False
                entry.in_flight = False
                now = self.clock.monotonic()
                entry.next_due = now + checker.service.interval
                self._push(entry)  # the scheduler queues it again when it is due
                if self._paused:
                    return  # the machine is going to sleep: this result is not to be trusted
                stop = entry.explained if entry.tracker.state is State.STOPPING else None
                if result.state is State.UP and stop is not None:
                    # An answer while a stop is under way (from a check in flight when it began, or a
                    # server still draining) does not undo what the stop says, nor its later refusals.
                    result = replace(stop, t=result.t, latency_ms=result.latency_ms)
                elif result.state is State.UP:
                    entry.explained = None
                elif entry.explained is not None and result.reason is Reason.REFUSED:
                    took = None if entry.explained.state is State.STOPPED else result.latency_ms  # no answer expected
                    result = replace(entry.explained, t=result.t, latency_ms=took)
                result = self.relations.observe(result, self._latest)
                entry.last = result
                transition = entry.tracker.feed(result, now)
                self._queue(entry, CheckEvent(result, entry.tracker.state, entry.tracker.failures), transition)
        if retired:
            checker.close()
            return
        self._deliver(entry)

    @staticmethod
    def _queue(entry: _Entry, *events: Event | None) -> None:
        """Queue events in the order they were decided (call with the lock held, where they are built)."""
        entry.outbox += [e for e in events if e is not None]

    def _deliver(self, entry: _Entry) -> None:
        """Deliver ``entry``'s queued events, unless another thread is at it (it delivers ours too).

        Call without the lock. A subscriber that reports back into the monitor only queues:
        the loop below picks that up after the current batch, in order.
        """
        while True:
            with self._cond:
                if entry.delivering or not entry.outbox:
                    return
                entry.delivering = True
                batch, entry.outbox = entry.outbox, []
            try:
                for event in batch:
                    self._emit(event)
            finally:
                with self._cond:
                    entry.delivering = False

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one broken subscriber must not stop monitoring
                log.exception("monitor subscriber failed")
