"""One root cause, and stale drivers (issue #10 sections 4 and 5).

**blocked_by.** A service needs the services in its ``depends_on`` and its ``proxy_to``. A result
that is not up is *blocked by* a needed service when its failure is the kind a dependency causes
(it reports a dependency down, or its proxy does not reach the service behind it because that one
is down) and that needed service is itself down, degraded or stopped (a managed service the user
stopped or never started) in its own latest result. ``blocked_by``
names the root: the first service along that chain whose own failure nothing else explains. So
with MongoDB stopped: ``db`` down (refused), ``backend`` degraded blocked by db, ``frontend`` (its
API path reaches backend, which reports db down) blocked by db. :func:`root_summary` says it once:
"db is down (refused); backend and frontend are affected".

**stale_connection.** A service that reports a dependency *disconnected* (not "connecting")
while that dependency's own check has been up for ``stale_after_checks`` consecutive checks
(default 3) gets reason ``stale_connection`` (degraded): "backend still reports db disconnected
25 s after db answers ping directly (1 ms): its driver gave up or its pool is stale; restart
backend". After a wake the judgement waits for the wake's grace as well (:meth:`Relations.hold`),
because a driver needs a moment to notice its sockets died in the sleep. A one-shot
``trayapp status`` cannot count checks: it uses the dependency's listening process instead, and
calls the connection stale when that process has run for at least ``stale_after_checks`` of the
dependency's intervals while still answering in this run.

Qt-free; :class:`Relations` is thread-safe (the monitor's worker threads call it).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from trayapp.checks.proxy import blocked_sentence
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Reason, State
from trayapp.text import humanize_duration

_BAD = (State.DOWN, State.DEGRADED)
#: a backend whose own result may replace the proxy check's "fails because ..." (an up result, older
#: than the refused connect the proxy check made, may not)
_BLAMED = (*_BAD, State.STOPPED)
#: failures a needed service's failure explains
_EXPLAINABLE = (Reason.DEPENDENCY_DOWN, Reason.PROXY_ERROR, Reason.STALE_CONNECTION)
#: "reports a dependency down: db: disconnected; mongo: down (…)" -> the fragments
_FAILING = re.compile(r"reports a dependency down: (.*?)(?:; still connecting:|\.(?:\s|$)|$)")


def blocked_by(results: Mapping[str, CheckResult], services: Mapping[str, ServiceConfig]) -> dict[str, str | None]:
    """The root whose failure explains each service's, or None (see the module docstring)."""
    direct: dict[str, str | None] = {}
    for name, result in results.items():
        direct[name] = _direct_cause(result, services.get(name), results)
    roots: dict[str, str | None] = {}
    for name in results:
        seen = {name}
        cause = direct.get(name)
        while cause is not None and direct.get(cause) is not None and direct[cause] not in seen:
            seen.add(cause)
            cause = direct[cause]
        roots[name] = cause
    return roots


def _direct_cause(result: CheckResult, service: ServiceConfig | None, results: Mapping[str, CheckResult]) -> str | None:
    if result.state not in _BAD or service is None:
        return None
    if result.reason is Reason.PROXY_ERROR:
        return result.blocked_by  # the proxy check names the backend only when the backend is down
    if result.reason is not Reason.DEPENDENCY_DOWN:
        return None
    if result.blocked_by is not None:
        return result.blocked_by
    for needed in service.needs:
        other = results.get(needed)
        if other is not None and (other.state in _BAD or other.state is State.STOPPED):  # stopped: by the user
            return needed
    return None


def with_blocked_by(results: Sequence[CheckResult], services: Sequence[ServiceConfig]) -> list[CheckResult]:
    """``results`` with ``blocked_by`` set (one run, as ``trayapp status`` sees it). A dev server's
    "fails because backend is …" is said again from the backend's final result (a managed service
    nobody started is settled as ``stopped`` after the checks)."""
    by_name = {r.service: r for r in results}
    roots = blocked_by(by_name, {s.name: s for s in services})
    out = []
    for r in results:
        behind = by_name.get(r.blocked_by or "")
        if r.reason is Reason.PROXY_ERROR and r.proxy is not None and behind is not None and behind.state in _BLAMED:
            r = replace(r, detail=blocked_sentence(r.service, r.proxy.path, behind))
        out.append(replace(r, blocked_by=roots.get(r.service)))
    return out


def root_summary(results: Sequence[CheckResult]) -> list[str]:
    """One line per root cause that explains another service's failure:
    ``"db is down (refused); backend and frontend are affected"``."""
    affected: dict[str, list[str]] = {}
    for r in results:
        if r.blocked_by is not None:
            affected.setdefault(r.blocked_by, []).append(r.service)
    lines = []
    by_name = {r.service: r for r in results}
    for root, names in affected.items():
        cause = by_name.get(root)
        if cause is None:
            state = "failing"
        else:
            state = str(cause.state) if cause.state is State.STOPPED else f"{cause.state} ({cause.reason})"
        verb = "is" if len(names) == 1 else "are"
        lines.append(f"{root} is {state}; {join(names)} {verb} affected")
    return lines


def join(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def disconnected(result: CheckResult) -> list[str]:
    """The dependencies ``result`` reports down (``"db disconnected"``), not those still connecting."""
    if result.reason is not Reason.DEPENDENCY_DOWN:
        return []
    found = _FAILING.search(result.detail)
    if found is None:
        return []
    return [f.replace(": ", " ", 1) for f in found.group(1).split("; ") if f]


def stale_sentence(service: str, said: str, dependency: CheckResult, up_for_s: float, *, started: bool) -> str:
    """``backend still reports db disconnected 25 s after db answers ping directly (1 ms): …``;
    with ``started`` (``trayapp status``, from the dependency's process start) "after db started,
    and db answers ping directly"."""
    ping = "ping" if str(dependency.kind) == "mongo" else "its check"
    latency = "" if dependency.latency_ms is None else f" ({dependency.latency_ms:.0f} ms)"
    after = humanize_duration(up_for_s)
    name = dependency.service
    since = (
        f"{after} after {name} started, and {name} answers {ping} directly{latency}"
        if started
        else f"{after} after {name} answers {ping} directly{latency}"
    )
    return f"{service} still reports {said} {since}: its driver gave up or its pool is stale; restart {service}."


def _stale(result: CheckResult, said: str, dependency: CheckResult, up_for_s: float, *, started: bool) -> CheckResult:
    return replace(
        result,
        state=State.DEGRADED,
        reason=Reason.STALE_CONNECTION,
        detail=stale_sentence(result.service, said, dependency, up_for_s, started=started),
        blocked_by=None,
    )


def _said_about(result: CheckResult, dependency: str) -> str | None:
    """What ``result`` says about a dependency that is up: its first "X disconnected" fragment."""
    reported = disconnected(result)
    return reported[0] if reported else None


def stale_once(
    results: Sequence[CheckResult], services: Sequence[ServiceConfig], now: float | None = None
) -> list[CheckResult]:
    """``trayapp status``: a service reporting a needed service disconnected while that one answers
    in this run, and its listening process has run for ``stale_after_checks`` of its intervals."""
    now = time.time() if now is None else now
    by_name = {r.service: r for r in results}
    configs = {s.name: s for s in services}
    out = []
    for r in results:
        service = configs.get(r.service)
        if service is not None:
            for needed in service.needs:
                dep = by_name.get(needed)
                said = _said_about(r, needed)
                if dep is None or dep.state is not State.UP or said is None:
                    continue
                starts = [x.started for x in dep.listeners if x.started is not None]
                need = service.stale_after_checks * configs[needed].interval
                if starts and now - max(starts) >= need:
                    r = _stale(r, said, dep, now - max(starts), started=True)
                    break
        out.append(r)
    return out


@dataclass
class _Run:
    """A service's current run of consecutive up checks."""

    count: int = 0
    since: float | None = None  # Unix time of the first up check of the run


class Relations:
    """The monitor's view across services: stale connections and ``blocked_by`` on each result.

    :meth:`observe` is called with each new result (any worker thread) and returns it annotated;
    ``latest(name)`` gives another service's latest result.
    """

    def __init__(self, services: Sequence[ServiceConfig], clock_wall: Callable[[], float] = time.time) -> None:
        self._services = {s.name: s for s in services}
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._hold_until: float | None = None  # Unix time; no stale judgement before it
        self._wall = clock_wall

    def set_services(self, services: Sequence[ServiceConfig]) -> None:
        """A new config's services (their depends_on, proxy_to, stale_after_checks)."""
        with self._lock:
            self._services = {s.name: s for s in services}

    def hold(self, seconds: float) -> None:
        """No ``stale_connection`` for ``seconds`` from now (after a wake: the grace)."""
        with self._lock:
            self._hold_until = self._wall() + seconds

    def observe(self, result: CheckResult, latest: Callable[[str], CheckResult | None]) -> CheckResult:
        with self._lock:
            run = self._runs.setdefault(result.service, _Run())
            if result.state is State.UP:
                run.count += 1
                run.since = result.t if run.since is None else run.since
            else:
                run.count, run.since = 0, None
            service = self._services.get(result.service)
            if service is None:
                return result
            held = self._hold_until is not None and result.t < self._hold_until
            for needed in service.needs:
                dep = latest(needed)
                said = _said_about(result, needed)
                dep_run = self._runs.get(needed)
                if dep is None or said is None or dep_run is None or held:
                    continue
                if dep.state is State.UP and dep_run.count >= service.stale_after_checks and dep_run.since:
                    return _stale(result, said, dep, result.t - dep_run.since, started=False)
        if result.state not in _BAD:
            return replace(result, blocked_by=None)
        results = {n: r for n in self._services if (r := latest(n)) is not None}
        results[result.service] = result
        roots = blocked_by(results, self._services)
        return replace(result, blocked_by=roots.get(result.service))
