"""One service's check: probe, look up the port owners when they matter, diagnose, quote the log."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from trayapp.checks.diagnosis import diagnose, needs_owners, unchecked
from trayapp.checks.evidence import (
    RECENT_S,
    FileMark,
    LogEvidence,
    LogSource,
    Topic,
    changed_since,
    latest_error,
    mark,
    topics_for,
)
from trayapp.checks.ports import holds_socket, listeners, refresh_status
from trayapp.checks.probes import Probe, make_probe
from trayapp.checks.proxy import Fetched, ProxyCheck, browser_reaches
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Kind, Listener, ProbeOutcome, Reason, State
from trayapp.paths import captured_output
from trayapp.text import command

log = logging.getLogger(__name__)

OwnerLookup = Callable[[Iterable[int]], Sequence[Listener]]
#: a service's latest result by name (the backend behind a dev server's proxy), None if not yet checked
PeerLookup = Callable[[str], CheckResult | None]
#: whether trayapp's own child for a managed service runs (True), has exited (False), or is not known (None)
ChildState = Callable[[], bool | None]

#: how long the holders looked up for a healthy check are trusted while they keep their
#: sockets (a new listener beside them, SO_REUSEPORT or another address, is seen after this)
HOLDERS_TTL_S = 30.0
#: seconds :func:`check_once` waits for its owner scan once the probes are done (usually 10-30 ms)
OWNER_SCAN_WAIT = 5.0
_LISTEN = frozenset({Topic.LISTEN})
#: outcomes in which the server answered (whatever it said): it was listening then
_ANSWERED = (
    Reason.OK, Reason.SLOW, Reason.DEPENDENCY_DOWN, Reason.UNHEALTHY, Reason.WARNING, Reason.HTTP_STATUS,
    Reason.AUTH_FAILED, Reason.PROXY_ERROR,
)  # fmt: skip


def lookup_owners(ports: Iterable[int]) -> Sequence[Listener]:
    """Listeners on ``ports``; an empty list if the OS will not tell (never raises)."""
    try:
        return listeners(ports)
    except Exception:  # noqa: BLE001 - owners only enrich the sentence; the check stands without them
        log.warning("could not list port owners", exc_info=True)
        return []


def log_sources(service: ServiceConfig, output_dir: Path | None = None) -> tuple[str, ...]:
    """The files whose last lines may say why ``service`` failed: its captured output if
    trayapp manages it (in its config's folder under ``output_dir``, default the user's service
    log dir), then its ``log``."""
    captured = captured_output(service.home, service.name, output_dir) if service.managed else None
    return (*((os.fspath(captured),) if captured else ()), *service.logs)


class Checker:
    """Owns a service's long-lived probe. Not for concurrent use: one check at a time.

    A failed check quotes the error line of the service's logs (``logs``, by default
    :func:`log_sources`) that belongs to this failure (see :mod:`trayapp.checks.evidence`).
    Holders of the port are looked up when a check fails, and also when it passes but the
    answer could come from the wrong process: a TCP check (its holder may be stopped), a
    managed service whose child trayapp knows about (``child_state``), a log that has just
    said EADDRINUSE. For those the socket's identity is compared with the last lookup first
    (cheap on Linux), so a healthy service costs no process scan per check.
    """

    def __init__(
        self,
        service: ServiceConfig,
        owners: OwnerLookup = lookup_owners,
        wall: Callable[[], float] = time.time,
        logs: Sequence[str] | None = None,
        *,
        services: Sequence[ServiceConfig] = (),
        peers: PeerLookup = lambda _name: None,
        child_state: ChildState | None = None,
        owns: Callable[[int], bool] | None = None,
    ) -> None:
        self.service = service
        self.child_state = child_state
        self.logs = tuple(logs) if logs is not None else log_sources(service)
        #: whether a pid is one of the managed service's own processes, as its supervisor knows
        #: them (its process group as well as its mark); None: by the mark alone
        self.owns = owns
        self._probe: Probe = make_probe(service)
        self._owners = owners
        self._peers = peers
        #: the check of the path through a dev server's proxy (``proxy_path``), if it has one
        self.proxy: ProxyCheck | None = None
        if service.proxy_path is not None and service.proxy_to is not None:
            behind = next((s for s in services if s.name == service.proxy_to), None)
            self.proxy = ProxyCheck(service, behind, owners=owners)
        self._wall = wall
        self._last_up: float | None = None
        self._marks: dict[str, FileMark] = {}  # where the logs ended at the last check that was up
        #: the last check the server answered at all (a 503 too), and where the logs ended then:
        #: nothing written before it says why nothing listens now
        self._last_answer: float | None = None
        self._answer_marks: dict[str, FileMark] = {}
        #: the holders found for a healthy check, and when (monotonic)
        self._holders: tuple[Sequence[Listener], float] | None = None

    @property
    def sources(self) -> tuple[LogSource, ...]:
        """The logs, each knowing the start marker of a managed service's captured output."""
        name = self.service.name if self.service.managed is not None else None
        return tuple(LogSource(path, name) for path in self.logs)

    def probe(self) -> ProbeOutcome:
        try:
            return self._probe.check()
        except Exception as exc:  # noqa: BLE001 - a probe bug must not kill the monitor thread
            log.exception("probe of %s failed unexpectedly", self.service.name)
            return ProbeOutcome(Reason.ERROR, f"the check itself failed ({type(exc).__name__}: {exc})")

    def check(self, with_owners: bool = False) -> CheckResult:
        outcome = self.probe()
        owners: Sequence[Listener] = ()
        if self.service.port is not None:
            if with_owners or needs_owners(outcome):
                owners = self._owners([self.service.port])
            elif self._doubt_the_answer():
                owners = self._cheap_owners(self.service.port)
        result = self.diagnose(outcome, owners)
        if result.state is State.UP and self.proxy is not None:
            assert self.service.proxy_to is not None
            result = self.proxy.judge(result, self.proxy.fetch(), self._peers(self.service.proxy_to))
        return result

    def _doubt_the_answer(self) -> bool:
        """Whether a passing check still needs the holders: a TCP check (the kernel answers for
        a stopped process) or a managed service whose child trayapp knows about."""
        if self.service.kind is Kind.TCP:
            return True
        return self.service.managed is not None and self.child_state is not None and self.child_state() is not None

    def _cheap_owners(self, port: int) -> Sequence[Listener]:
        """The holders of ``port``: the last lookup's, with fresh statuses, while each still has
        its listening socket open (and for at most ``HOLDERS_TTL_S``); else a new lookup."""
        if self._holders is not None:
            holders, when = self._holders
            if time.monotonic() - when < HOLDERS_TTL_S and all(self._still_holds(x) for x in holders):
                if (fresh := refresh_status(holders)) is not None:
                    return fresh
        holders = [x for x in self._owners([port]) if x.port == port]
        self._holders = (holders, time.monotonic())
        return holders

    @staticmethod
    def _still_holds(listener: Listener) -> bool:
        if listener.pid is None or listener.socket is None:
            return listener.pid is None  # another user's socket: nothing cheap to look at; the TTL decides
        return holds_socket(listener.pid, listener.socket) is not False

    def diagnose(self, outcome: ProbeOutcome, owners: Sequence[Listener]) -> CheckResult:
        service, port, t = self.service, self.service.port, self._wall()
        sources = self.sources
        since = self._last_up if self._last_up is not None else t - RECENT_S
        on_port = [x for x in owners if x.port == port]
        in_use = None
        if sources and port is not None and outcome.reason is not Reason.REFUSED:
            # The service's newest run may have failed to take the port that something else holds.
            if on_port or changed_since(self.logs, self._marks):
                in_use = latest_error(sources, since, self._marks, topics=_LISTEN, port=port)
            if in_use is not None and not on_port:
                owners = on_port = [x for x in self._owners([port]) if x.port == port]
        child = self.child_state() if self.child_state is not None else None
        if self.owns is not None and service.managed is not None:
            owners = [self._as_own(x) for x in owners]
        result = browser_reaches(service, diagnose(service, outcome, owners, t, in_use=in_use, child_running=child))
        if result.state is State.UP or result.reason in _ANSWERED:
            self._last_answer = result.t
            self._answer_marks = mark(self.logs)
        if result.state is State.UP:
            self._last_up = result.t
            self._marks = self._answer_marks
            return result
        topics = topics_for(result)
        if sources and topics and result.reason not in (Reason.STALE_HOLDER, Reason.PAUSED):
            started = [x.started for x in result.listeners if x.started is not None]
            nothing_listens = result.reason is Reason.REFUSED and not result.listeners
            marks = self._marks
            if nothing_listens and self._last_answer is not None and self._last_answer > since:
                since, marks = self._last_answer, self._answer_marks  # it answered after those lines
            evidence = latest_error(
                sources,
                since,
                marks,
                topics=topics,
                not_before=max(started, default=None),
                port=port,
                # a database's error does not stop a server listening, unless the process died of it
                signed=frozenset({Topic.DEPENDENCY}) if nothing_listens else frozenset(),
                stops=Topic.CRASH in topics,
            )
            if evidence is not None and nothing_listens and evidence.topic is Topic.LISTEN and port is not None:
                result = replace(result, detail=self._taken_at_start(result, evidence, port))
            elif evidence is not None:
                result = replace(result, detail=f"{result.detail} {evidence.sentence(result.t, why=nothing_listens)}")
        return result

    def _taken_at_start(self, result: CheckResult, evidence: LogEvidence, port: int) -> str:
        """Nothing listens, and this run's log says the port was taken when it started: the holder
        is gone now, so that explains why the service is not running and says what to do."""
        name = self.service.name
        how = "crashed at start" if evidence.crashed else "could not listen at start"
        if self.service.managed is not None:
            advice = f"restart it with Restart or {command(f'trayapp restart {name}')}"
        elif evidence.watcher == "nodemon":
            advice = "restart it (save a file, or type rs in nodemon)"
        elif evidence.watcher is not None:
            advice = f"restart it (save a file; {evidence.watcher} runs it again)"
        else:
            advice = "start it again"
        said = f"{name} {how} because port {port} was taken; the port is free now: {advice}."
        unsure = f"{name} is not running, crashed, or has not started listening yet."
        detail = result.detail.replace(unsure, said) if unsure in result.detail else f"{result.detail} {said}"
        return f"{detail} {evidence.sentence(result.t)}"

    def _as_own(self, listener: Listener) -> Listener:
        """A holder the supervisor knows as the service's own carries the service's mark."""
        if listener.pid is None or listener.tag == self.service.identity or self.owns is None:
            return listener
        return replace(listener, tag=self.service.identity) if self.owns(listener.pid) else listener

    def reset(self) -> None:
        """Drop pooled connections so the next check starts fresh (after sleep)."""
        self._probe.reset()

    def close(self) -> None:
        self._probe.close()
        if self.proxy is not None:
            self.proxy.close()


def check_once(
    services: Sequence[ServiceConfig],
    owners: OwnerLookup = lookup_owners,
    *,
    while_waiting: Callable[[], object] | None = None,
) -> list[CheckResult]:
    """Check every service once, in parallel, with one owner scan for all ports, run beside
    the probes (not after them: a hung server's check would wait its timeout and then the scan).

    Returns within the largest timeout + 0.5 s even if a probe overruns its own bound (such a
    service is reported as timed out), or when the owner scan takes longer, at most
    :data:`OWNER_SCAN_WAIT` after that (the results then name no owners).
    ``while_waiting`` is called on the calling thread once the probes have started (a CLI
    imports what it needs afterwards meanwhile).
    """
    checkers = [Checker(s, owners, services=services) for s in services]
    outcomes: list[ProbeOutcome | None] = [None] * len(checkers)
    answers: list[Fetched | None] = [None] * len(checkers)
    done = threading.Semaphore(0)

    def run(index: int) -> None:
        try:
            checker = checkers[index]
            outcomes[index] = outcome = checker.probe()
            if checker.proxy is not None and outcome.reason is Reason.OK:
                answers[index] = checker.proxy.fetch()
        finally:
            done.release()

    # Daemon threads rather than an executor: a stuck probe must not delay exit.
    for index, checker in enumerate(checkers):
        threading.Thread(target=run, args=(index,), name=f"trayapp-status-{checker.service.name}", daemon=True).start()
    ports = {s.port for s in services if s.port is not None}
    found: list[Sequence[Listener]] = []
    scanned = threading.Event()

    def scan() -> None:
        try:
            found.append(owners(ports))
        finally:
            scanned.set()

    if ports:
        threading.Thread(target=scan, name="trayapp-status-owners", daemon=True).start()
    else:
        scanned.set()
    # a dev server with a proxy_path asks more: the API path, as a browser, the backend (ProxyCheck.budget_s)
    longest = max((c.service.timeout + (c.proxy.budget_s() if c.proxy else 0.0) for c in checkers), default=0.0)
    deadline = time.monotonic() + longest + 0.5
    if while_waiting is not None:
        while_waiting()
    for _ in checkers:
        if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    scanned.wait(OWNER_SCAN_WAIT)
    listening = found[0] if found else ()
    results = []
    for checker, outcome in zip(checkers, outcomes, strict=True):
        if outcome is None:
            service = checker.service
            results.append(
                unchecked(service, time.time(), f"the check did not finish within {service.timeout + 0.5:g} s")
            )
        else:
            results.append(checker.diagnose(outcome, listening))
    by_name = {r.service: r for r in results}
    for index, (checker, answer) in enumerate(zip(checkers, answers, strict=True)):
        result = results[index]
        if checker.proxy is not None and answer is not None and result.state is State.UP:
            results[index] = checker.proxy.judge(result, answer, by_name.get(checker.service.proxy_to or ""))
        if outcomes[index] is not None:
            checker.close()
    return results
