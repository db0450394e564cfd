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

A report names the services it is about (:func:`names_service`: ``db`` is the one MongoDB a
backend needs); only those can explain it. A dev server's API path answered by the backend behind
its proxy carries the *backend's* report: it is blocked by the dependency the backend names when
that one is bad, else by the backend (:func:`through_proxy`).

**stale_connection.** A service whose OWN report names a needed service *disconnected* (not
"connecting") while that dependency's own check has been up for ``stale_after_checks`` consecutive checks
(default 3) gets reason ``stale_connection`` (degraded): "backend still reports db disconnected
25 s after db answers ping directly (1 ms): its driver gave up or its pool is stale; restart
backend". After a wake the judgement waits for the wake's grace as well (:meth:`Relations.hold`),
because a driver needs a moment to notice its sockets died in the sleep. A one-shot
``trayapp status`` cannot count checks: it uses the dependency's listening process instead, and
calls the connection stale when that process has run for at least ``stale_after_checks`` of the
dependency's intervals while still answering in this run; it names no duration then (a process
stopped with SIGSTOP and continued is old but only just answering).

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
from trayapp.model import CheckResult, Kind, Reason, State
from trayapp.text import humanize_duration

_BAD = (State.DOWN, State.DEGRADED)
#: a backend whose own result may replace the proxy check's "fails because ..." (an up result, older
#: than the refused connect the proxy check made, may not)
_BLAMED = (*_BAD, State.STOPPED)
#: failures a needed service's failure explains
_EXPLAINABLE = (Reason.DEPENDENCY_DOWN, Reason.PROXY_ERROR, Reason.STALE_CONNECTION)
#: "reports a dependency down: db: disconnected; mongo: down (…)" -> the fragments
_FAILING = re.compile(r"reports a dependency down: (.*?)(?:; still connecting:|\.(?:\s|$)|$)")
#: "...; still connecting: mongo: connecting." / "a dependency is still connecting: db: connecting."
_CONNECTING = re.compile(r"still connecting: (.*?)(?:\.(?:\s|$)|$)")
#: a stale_connection sentence: "backend still reports db disconnected …"
_STALE_SAID = re.compile(r"(?P<service>\S+) still reports (?P<dep>\S+) ")
#: what a health body calls the database it uses (Express tutorials, Terminus, Actuator)
_DATABASE_WORDS = frozenset({"db", "database", "mongo", "mongodb", "mongoose"})


def blocked_by(results: Mapping[str, CheckResult], services: Mapping[str, ServiceConfig]) -> dict[str, str | None]:
    """The root whose failure explains each service's, or None (see the module docstring)."""
    direct: dict[str, str | None] = {}
    for name, result in results.items():
        direct[name] = _direct_cause(result, services.get(name), results, services)
    roots: dict[str, str | None] = {}
    for name in results:
        seen = {name}
        cause = direct.get(name)
        while cause is not None and direct.get(cause) is not None and direct[cause] not in seen:
            seen.add(cause)
            cause = direct[cause]
        roots[name] = cause
    return roots


def _direct_cause(
    result: CheckResult,
    service: ServiceConfig | None,
    results: Mapping[str, CheckResult],
    services: Mapping[str, ServiceConfig],
) -> str | None:
    if result.state not in _BAD or service is None:
        return None
    if result.reason is Reason.PROXY_ERROR:
        return result.blocked_by  # the proxy check names the backend only when the backend is down
    if result.reason is not Reason.DEPENDENCY_DOWN:
        return None
    if through_proxy(result):
        # The report is the backend's answer, about the backend's own dependencies: one of those
        # that is bad in its own check is the cause, else the backend whose answer it is.
        behind = result.blocked_by or service.proxy_to
        if behind is None:
            return None
        config = services.get(behind)
        if config is not None:
            named = _named_needs(result, config, services)
            bad = [n for n in named if _bad(results.get(n))]
            if bad:
                return bad[0]
        return behind
    named = _named_needs(result, service, services)
    if named:  # the report names the needed services it is about: only those can explain it
        bad = [n for n in named if _bad(results.get(n))]
        return bad[0] if bad else None
    for needed in service.needs:  # the report names nothing trayapp knows: any needed service that is bad
        if _bad(results.get(needed)):
            return needed
    return None


def dependency_answers(
    result: CheckResult,
    service: ServiceConfig | None,
    results: Mapping[str, CheckResult],
    services: Mapping[str, ServiceConfig],
) -> CheckResult:
    """A service whose own report names needed services down while each of them answers its own
    check says so, so that nothing reads "db is down" while db is up: "… reports a dependency
    down: db: disconnected. db answers its own check: backend's connection to it is down." (its
    driver may still be reconnecting; after ``stale_after_checks`` it is a stale connection)."""
    if service is None or result.reason is not Reason.DEPENDENCY_DOWN or through_proxy(result):
        return result
    named = _named_needs(result, service, services)
    if not named or not all((r := results.get(n)) is not None and r.state is State.UP for n in named):
        return result
    verb = "answers its own check" if len(named) == 1 else "answer their own checks"
    them = "it" if len(named) == 1 else "them"
    said = f"{join(named)} {verb}: {result.service}'s connection to {them} is down."
    return replace(result, detail=f"{result.detail} {said}")


def through_stale(result: CheckResult, behind: CheckResult | None) -> CheckResult:
    """A dev server's API path answered by a backend whose own row says its connection is stale
    says so after what the backend reported: "… reports a dependency down: db: disconnected.
    backend's db connection is stale: restart backend." (the dependency itself answers)."""
    if not through_proxy(result) or behind is None or behind.reason is not Reason.STALE_CONNECTION:
        return result
    said = _STALE_SAID.match(behind.detail)
    if said is None or said.group("service") != behind.service:
        return result
    name = behind.service
    return replace(result, detail=f"{result.detail} {name}'s {said.group('dep')} connection is stale: restart {name}.")


def _bad(result: CheckResult | None) -> bool:
    """Down, degraded, or stopped by the user, in its own latest check."""
    return result is not None and (result.state in _BAD or result.state is State.STOPPED)


def through_proxy(result: CheckResult) -> bool:
    """Whether ``result``'s dependency report is a dev server's API path answered by the service
    behind its proxy (so about that service's dependencies, not the dev server's own)."""
    return result.proxy is not None and result.proxy.state is State.DEGRADED and result.reason is Reason.DEPENDENCY_DOWN


def with_blocked_by(results: Sequence[CheckResult], services: Sequence[ServiceConfig]) -> list[CheckResult]:
    """``results`` with ``blocked_by`` set (one run, as ``trayapp status`` sees it). A dev server's
    "fails because backend is …" is said again from the backend's final result (a managed service
    nobody started is settled as ``stopped`` after the checks)."""
    by_name = {r.service: r for r in results}
    configs = {s.name: s for s in services}
    roots = blocked_by(by_name, configs)
    out = []
    for r in results:
        behind = by_name.get(r.blocked_by or "")
        if r.reason is Reason.PROXY_ERROR and r.proxy is not None and behind is not None and behind.state in _BLAMED:
            r = replace(r, detail=blocked_sentence(r.service, r.proxy.path, behind))
        r = dependency_answers(through_stale(r, behind), configs.get(r.service), by_name, configs)
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


def reported(result: CheckResult) -> list[str]:
    """The names of the dependencies ``result``'s health report names down, disconnected or still
    connecting (``["db"]``), as the probe wrote them into its detail."""
    if result.reason is not Reason.DEPENDENCY_DOWN:
        return []
    fragments = disconnected(result)
    connecting = _CONNECTING.search(result.detail)
    if connecting is not None:
        fragments += [f for f in connecting.group(1).split("; ") if f]
    names: list[str] = []
    for fragment in fragments:
        name = fragment.replace(": ", " ", 1).split(" ", 1)[0].strip()
        if name and name not in names:
            names.append(name)
    return names


def names_service(name: str, needed: str, service: ServiceConfig, services: Mapping[str, ServiceConfig]) -> bool:
    """Whether a name in ``service``'s health report (``db``) means its needed service ``needed``:
    the same name, or a database word (db, database, mongo, mongodb, mongoose) when ``needed`` is
    the one MongoDB ``service`` needs."""
    if needed not in service.needs:
        return False
    if name.lower() == needed.lower():
        return True
    if name.lower() not in _DATABASE_WORDS:
        return False
    mongos = [n for n in service.needs if (c := services.get(n)) is not None and c.kind is Kind.MONGO]
    return mongos == [needed]


def _named_needs(result: CheckResult, service: ServiceConfig, services: Mapping[str, ServiceConfig]) -> list[str]:
    """The services ``service`` needs that ``result``'s report names, in the report's order."""
    found: list[str] = []
    for name in reported(result):
        for needed in service.needs:
            if needed not in found and names_service(name, needed, service, services):
                found.append(needed)
    return found


def disconnected(result: CheckResult) -> list[str]:
    """The dependencies ``result`` reports down (``"db disconnected"``), not those still connecting."""
    if result.reason is not Reason.DEPENDENCY_DOWN:
        return []
    found = _FAILING.search(result.detail)
    if found is None:
        return []
    return [f.replace(": ", " ", 1) for f in found.group(1).split("; ") if f]


def stale_sentence(service: str, said: str, dependency: CheckResult, up_for_s: float | None) -> str:
    """``backend still reports db disconnected 25 s after db answers ping directly (1 ms): …``;
    with ``up_for_s`` None (``trayapp status``: how long the dependency has answered is not known
    from one check) "while db answers ping directly"."""
    ping = "ping" if str(dependency.kind) == "mongo" else "its check"
    latency = "" if dependency.latency_ms is None else f" ({dependency.latency_ms:.0f} ms)"
    name = dependency.service
    since = "while" if up_for_s is None else f"{humanize_duration(up_for_s)} after"
    return (
        f"{service} still reports {said} {since} {name} answers {ping} directly{latency}: its driver gave up or "
        f"its pool is stale; restart {service}."
    )


def _stale(result: CheckResult, said: str, dependency: CheckResult, up_for_s: float | None) -> CheckResult:
    return replace(
        result,
        state=State.DEGRADED,
        reason=Reason.STALE_CONNECTION,
        detail=stale_sentence(result.service, said, dependency, up_for_s),
        blocked_by=None,
    )


def said_about(
    result: CheckResult, needed: str, service: ServiceConfig, services: Mapping[str, ServiceConfig]
) -> str | None:
    """What ``result``'s OWN health report says about ``needed``, one of the services ``service``
    needs: its "db disconnected" fragment, or None when it names ``needed`` nowhere, only as
    still connecting, or the report is not its own (a dev server's API path answered by the
    backend behind its proxy: that is the backend's report about the backend's dependencies)."""
    if through_proxy(result):
        return None
    for fragment in disconnected(result):
        if names_service(fragment.split(" ", 1)[0], needed, service, services):
            return fragment
    return None


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
                said = said_about(r, needed, service, configs)
                if dep is None or dep.state is not State.UP or said is None:
                    continue
                starts = [x.started for x in dep.listeners if x.started is not None]
                need = service.stale_after_checks * configs[needed].interval
                if starts and now - max(starts) >= need:
                    # The process's age is no measure of how long it has answered (one stopped
                    # with SIGSTOP and continued is old but only just answering): no duration.
                    r = _stale(r, said, dep, None)
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
                said = said_about(result, needed, service, self._services)
                dep_run = self._runs.get(needed)
                if dep is None or said is None or dep_run is None or held:
                    continue
                if dep.state is State.UP and dep_run.count >= service.stale_after_checks and dep_run.since:
                    return _stale(result, said, dep, result.t - dep_run.since)
        if result.state not in _BAD:
            return replace(result, blocked_by=None)
        results = {n: r for n in self._services if (r := latest(n)) is not None}
        results[result.service] = result
        roots = blocked_by(results, self._services)
        behind = results.get(service.proxy_to or "")
        told = dependency_answers(through_stale(result, behind), service, results, self._services)
        return replace(told, blocked_by=roots.get(result.service))
