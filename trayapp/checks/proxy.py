"""The browser's path: a dev server's ``proxy_path`` requested through the dev server, compared
with the service behind its proxy (issue #10 section 3).

A frontend with ``proxy_path = "/api/health"`` and ``proxy_to = "backend"`` gets, on each check
whose own answer was fine, one more request: that path through the dev server, with
``Accept: application/json``. Vite's SPA fallback (``htmlFallbackMiddleware``,
packages/vite/src/node/server/middlewares/htmlFallback.ts) answers ``index.html`` only to a GET
whose Accept is missing, empty, or includes ``text/html`` or ``*/*``; so a path Vite does not
proxy gets a 404 rather than the page. When that happens a second request with ``Accept: */*``
(what the browser's ``fetch()`` sends by default) shows what the app gets: the page.

How Vite's proxy answers when it cannot reach its target, from Vite's own source
(vitejs/vite packages/vite/src/node/server/middlewares/proxy.ts at a98c8d95, the same code in
the Vite 8.3.8 the test stack installs, dist/node/chunks/node.js): on http-proxy's ``error``
event it logs ``http proxy error: <url>`` with the error's stack, and unless headers were sent
answers ``res.writeHead(502, {'Content-Type': 'text/plain'}).end()``: status 502, Content-Type
``text/plain``, an empty body. That empty 502 is told apart from a 502 the backend itself sends
(which has a body, or is what the backend's own check sees).

The frontend's row then reads (see :class:`~trayapp.model.ProxyPath` for the JSON):

- the proxy reaches the backend and the answer is fine: ``up``;
- the proxy does not reach the backend: ``down``, reason ``proxy_error``, with the cause: the
  backend is down itself (``blocked_by`` the backend: no alarm of its own), the target's port is
  not the backend's, the target's name resolves first to the address family the backend does
  not listen on, or the path is not proxied at all (``index.html``);
- the proxy reaches the backend, which reports a problem: ``degraded``, reason
  ``dependency_down``, ``blocked_by`` the backend.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import SplitResult, urlsplit

from trayapp.checks.health import body_excerpt
from trayapp.checks.ports import listens_on
from trayapp.checks.probes import (
    HttpProbe,
    ResolveError,
    _HttpFailure,
    _resolve_target,
    connect_any,
    is_loopback,
    read_answer,
    resolve,
)
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Kind, Listener, ProbeOutcome, ProxyPath, Reason, State

#: asked first: no SPA fallback answers it with HTML
API_ACCEPT = "application/json"
#: what ``fetch()`` sends when the app sets no Accept (the Fetch standard's default)
BROWSER_ACCEPT = "*/*"

Resolver = Callable[[str, int, float], tuple[str, ...]]
OwnerLookup = Callable[[Iterable[int]], Sequence[Listener]]

#: a backend's own failures in which something answered on its port (so an answer through the
#: proxy now agrees with that result, however old it is)
_ANSWERED_DOWN = (Reason.STALE_HOLDER, Reason.HTTP_STATUS, Reason.UNHEALTHY, Reason.PROTOCOL_ERROR)
#: the longest the backend is dialled or asked directly when judging the proxy's answer (seconds)
_DIAL_S = 1.0

_URL = re.compile(r"(?:https?|wss?)://[^\s'\"`,;)}]+")


@dataclass(frozen=True)
class Fetched:
    """One request through the dev server: its answer, or ``failure`` when none came."""

    status: int | None
    content_type: str | None
    body: bytes
    latency_ms: float
    failure: ProbeOutcome | None = None
    #: the same path asked as the browser's fetch() asks it (only after a 404)
    as_browser: Fetched | None = None
    #: the backend's port dialled (TCP) right after the proxy did not reach it: evidence as fresh
    #: as this answer (the backend's own latest result may be up to an interval older)
    backend_now: ProbeOutcome | None = None
    #: the same path asked of the backend directly, after an error answer came through the proxy:
    #: whether the proxy's answer is the backend's own
    direct: Fetched | None = None

    @property
    def html(self) -> bool:
        head = self.body[:256].lstrip().lower()
        return bool(
            (self.content_type or "").lower().startswith("text/html") or head.startswith((b"<!doctype html", b"<html"))
        )

    @property
    def vite_page(self) -> bool:
        """Vite's own index.html (its SPA fallback): in development Vite injects
        ``<script type="module" src="/@vite/client">`` into every HTML page it serves itself
        (``packages/vite/src/node/server/middlewares/indexHtml.ts``); an upstream's page has none."""
        return self.html and b"/@vite/client" in self.body

    @property
    def unreached(self) -> bool:
        """The proxy did not reach the service behind it: no answer at all, or Vite's empty 502."""
        return self.status is None or self.vite_upstream_error

    @property
    def vite_upstream_error(self) -> bool:
        """Vite's own answer when its proxy cannot reach the target: 502, text/plain, no body."""
        return self.status == 502 and not self.body.strip()


class _PathProbe(HttpProbe):
    """GET one path of the dev server with a chosen Accept, returning the raw answer."""

    def __init__(self, service: ServiceConfig, accept: str) -> None:
        super().__init__(service)
        self._accept = accept

    def _request_head(self, parts: SplitResult) -> list[tuple[str, str]]:  # type: ignore[override]
        """The probe's request head with this Accept (the probe calls it on ``self``)."""
        return [(k, self._accept if k == "Accept" else v) for k, v in HttpProbe._request_head(parts)]

    def _new_client(self):  # type: ignore[no-untyped-def]  # httpx is imported lazily
        client = super()._new_client()
        client.headers["Accept"] = self._accept
        return client

    def fetch(self) -> Fetched:
        service = self._service
        start = time.perf_counter()
        resolved = _resolve_target(service, start)
        if isinstance(resolved, ProbeOutcome):
            return Fetched(None, None, b"", _ms(start), resolved)
        addresses, port = resolved
        try:
            if self._plain:
                status, _phrase, content_type, body = self._get_plain(addresses, port, start + service.timeout)
            else:
                status, _phrase, content_type, body = self._get_httpx(start + service.timeout)
        except _HttpFailure as failure:
            outcome = ProbeOutcome(failure.reason, failure.detail, _ms(start), addresses=addresses)
            return Fetched(None, None, b"", _ms(start), outcome)
        return Fetched(status, content_type, body, _ms(start))


def path_url(service: ServiceConfig, path: str) -> str:
    """``path`` on the dev server as the browser asks it: ``localhost`` when the service is on this
    machine (the browser's address bar says localhost; its addresses are dialled in the resolver's
    order), with the scheme and port of its url (http://…:port for a tcp service)."""
    scheme = urlsplit(service.target).scheme if service.kind is Kind.HTTP else "http"
    host = service.host or "localhost"
    host = "localhost" if is_loopback(host) else host
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{service.port}{path}"


class ProxyCheck:
    """Checks ``service.proxy_path`` through the dev server and says what the answer means.

    :meth:`fetch` does the network part (bounded by the service's timeout, twice at most);
    :meth:`judge` turns it and the backend's own latest result into the dev server's row.
    """

    def __init__(
        self,
        service: ServiceConfig,
        backend: ServiceConfig | None,
        *,
        owners: OwnerLookup | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        assert service.proxy_path is not None and service.proxy_to is not None
        self.service = service
        self.backend = backend
        self._owners = owners
        self._resolver = resolver
        target = replace(service, kind=Kind.HTTP, target=path_url(service, service.proxy_path))
        self._api = _PathProbe(target, API_ACCEPT)
        self._browser = _PathProbe(target, BROWSER_ACCEPT)
        self._direct_probe: _PathProbe | None = None
        if backend is not None and backend.kind is Kind.HTTP and backend.port is not None and backend.host:
            parts = urlsplit(backend.target)
            url = f"{parts.scheme}://{_url_host(backend.host)}:{backend.port}{service.proxy_path}"
            direct = replace(backend, target=url, timeout=min(backend.timeout, _DIAL_S))
            self._direct_probe = _PathProbe(direct, API_ACCEPT)

    def fetch(self) -> Fetched:
        """The API path through the dev server, with the fresh evidence :meth:`judge` needs.

        When the proxy does not reach the backend, the backend's port is dialled at once
        (:attr:`Fetched.backend_now`); if it accepts, the path is asked again (a backend that
        was restarting, e.g. by nodemon, answers now), and if that fails too the port is dialled
        once more, so "the backend answers directly" is said only of a backend that accepted
        connections around the proxy's failure. After a timeout the path is not asked
        through the proxy again but of the backend directly (a port that accepts may still hang).
        When an error answer comes through, the same path is asked of the backend directly
        (:attr:`Fetched.direct`). Bounded by :meth:`budget_s`.
        """
        answer = self._fetch_once()
        if not answer.unreached:
            if answer.status is not None and not 200 <= answer.status < 300 and not _vite_page(answer):
                return replace(answer, direct=self._fetch_direct())
            return answer
        now = self._backend_now()
        timed_out = answer.failure is not None and answer.failure.reason is Reason.TIMEOUT
        if timed_out and now is not None and now.reason is Reason.OK:
            # a port that accepts says nothing of a server that hangs (the kernel accepts for a
            # stopped process): ask the backend itself
            return replace(answer, backend_now=now, direct=self._fetch_direct())
        if now is None or now.reason is not Reason.OK or timed_out:
            return replace(answer, backend_now=now)
        again = self._fetch_once()
        if not again.unreached:
            if again.status is not None and not 200 <= again.status < 300 and not _vite_page(again):
                return replace(again, direct=self._fetch_direct())
            return again
        return replace(again, backend_now=self._backend_now() or now)

    def budget_s(self) -> float:
        """The longest :meth:`fetch` can take, in seconds: the path asked up to three times (as
        an API asks, again after a failure that was not a timeout, as the browser asks after a
        404), and the backend dialled or asked twice."""
        behind = self.backend.timeout if self.backend is not None else 0.0
        return 3 * self.service.timeout + 2 * min(behind, _DIAL_S)

    def _fetch_once(self) -> Fetched:
        answer = self._api.fetch()
        if answer.status == 404:
            answer = replace(answer, as_browser=self._browser.fetch())
        return answer

    def _backend_now(self) -> ProbeOutcome | None:
        """A TCP connect to the backend's port, as its own check dials it (None: no port known)."""
        be = self.backend
        if be is None or be.port is None or be.host is None:
            return None
        start = time.perf_counter()
        timeout = min(be.timeout, _DIAL_S)
        try:
            addresses = self._resolver(be.host, be.port, timeout)
        except ResolveError as exc:
            return ProbeOutcome(exc.reason, exc.detail, _ms(start))
        reason, detail = connect_any(addresses, be.port, start + timeout, timeout)
        return ProbeOutcome(reason, detail, _ms(start), addresses=addresses)

    def _fetch_direct(self) -> Fetched | None:
        """The proxy's path asked of the backend itself (http backends on a known port only)."""
        be = self.backend
        if self._direct_probe is None or be is None:
            return None
        return self._direct_probe.fetch()

    def close(self) -> None:
        self._api.close()
        self._browser.close()
        if self._direct_probe is not None:
            self._direct_probe.close()

    # -- what it means -------------------------------------------------------------------------

    def judge(self, own: CheckResult, answer: Fetched, backend: CheckResult | None) -> CheckResult:
        """The dev server's row: ``own`` (its own check, which answered) with the API path read in.

        ``backend`` is the backend's own latest result, which may be up to an interval older than
        ``answer``: a failure is blamed on it only when the fresh evidence in ``answer`` agrees
        (the port dialled just now refuses; a stale server answers on it), and "it answers
        directly" is said only when the port accepted connections around this failure.
        """
        service = self.service
        path, to = service.proxy_path or "/", service.proxy_to or ""
        # down, degraded, or stopped by the user: anything but up explains a proxy that cannot reach it
        backend_bad = backend is not None and backend.state is not State.UP and backend.state is not State.UNKNOWN
        backend_down = backend is not None and backend.state in (State.DOWN, State.STOPPED)

        def row(state: State, reason: Reason, detail: str, blocked: str | None = None) -> CheckResult:
            view = ProxyPath(path, to, state, answer.status, answer.latency_ms)
            worse = state if state.severity > own.state.severity else own.state
            return replace(
                own,
                state=worse,
                reason=reason if state.severity > own.state.severity else own.reason,
                detail=detail,
                blocked_by=blocked if state.severity > own.state.severity else own.blocked_by,
                proxy=view,
            )

        def because_backend() -> CheckResult:
            assert backend is not None
            return row(State.DOWN, Reason.PROXY_ERROR, blocked_sentence(service.name, path, backend), to)

        server = self._server_name(own)
        rule = self._rule()
        if answer.unreached:
            now = answer.backend_now
            if now is not None and now.reason is not Reason.OK:
                # the backend's port refuses right now: this failure's own evidence
                if backend_down:
                    return because_backend()
                return row(
                    State.DOWN,
                    Reason.PROXY_ERROR,
                    f"{service.name}'s API path {path} fails because {to} is down ({now.reason}).",
                    to,
                )
            timed_out = answer.failure is not None and answer.failure.reason is Reason.TIMEOUT
            if backend_bad and (now is None or timed_out):
                # not dialled (no port known), or a hung answer that a connect cannot explain away
                return because_backend()
            direct = answer.direct
            if timed_out and direct is not None and direct.failure is not None:
                # the backend does not answer directly either: it hangs, not the proxy
                how = direct.failure.reason
                return row(
                    State.DOWN,
                    Reason.PROXY_ERROR,
                    f"{service.name}'s API path {path} fails because {to} is down ({how}).",
                    to,
                )
            if answer.failure is not None:
                return row(
                    State.DOWN,
                    Reason.PROXY_ERROR,
                    f"{path} through {server} {answer.failure.detail}, {self._direct(backend, now, direct)}: "
                    f"{server}'s {rule} proxy is stuck.",
                )
            assert answer.status is not None
            return row(State.DOWN, Reason.PROXY_ERROR, self._unreached(server, rule, answer.status, backend, now))
        if _vite_page(answer):
            return row(
                State.DOWN,
                Reason.PROXY_ERROR,
                f"{rule} is not proxied: {server} answers its index.html (the browser's `Unexpected token <`).",
            )
        assert answer.status is not None
        reason, said = read_answer(answer.status, "", answer.body, answer.content_type)
        if answer.html and reason is Reason.OK:
            # a page, not an API's answer, and not Vite's own: whose it is cannot be told here
            return row(
                State.DOWN,
                Reason.PROXY_ERROR,
                f"{service.name}'s API path {path} answers an HTML page ({answer.status}) through {server}, "
                f"not an API's answer (the browser's `Unexpected token <`).",
            )
        if reason is Reason.OK:
            return row(State.UP, Reason.OK, f"{own.detail.rstrip('.')}; {path} through its proxy reaches {to}.")
        if backend is not None and backend.state is State.DOWN and backend.reason in _ANSWERED_DOWN:
            # what holds the backend's port answers, and fails the backend's own check too (a stale
            # server, a wrong health path): the backend's failure, said once, by the backend's row
            return because_backend()
        if reason is Reason.HTTP_STATUS:
            return row(State.DOWN, Reason.HTTP_STATUS, self._error_answer(server, answer))
        return row(
            State.DEGRADED,
            Reason.DEPENDENCY_DOWN,
            f"{service.name}'s API path {path} reaches {to}, which {_reports(said)}.",
            to,  # the answer is the backend's own, reporting its failure
        )

    def _error_answer(self, server: str, answer: Fetched) -> str:
        """An error status that came through the proxy: the backend's own answer (the same
        status asked directly), or something else's."""
        service = self.service
        path, to = service.proxy_path or "/", service.proxy_to or "the backend"
        status = answer.status
        excerpt = body_excerpt(answer.body, answer.content_type)
        answers = f"answers {status}" + (f" ({excerpt})" if excerpt else "")
        direct = answer.direct
        if direct is not None and direct.status == status:
            wrong = ": the health path is wrong" if status in (404, 405, 410) else ""
            return f"{service.name}'s API path {path} reaches {to}, which {answers}{wrong}."
        if direct is not None and direct.status is not None:
            return (
                f"{service.name}'s API path {path} {answers} through {server}'s proxy, but {to} answers "
                f"{direct.status} to {path} directly: the proxy reaches something else; check its target."
            )
        return f"{service.name}'s API path {path} {answers} through {server}'s proxy."

    def _server_name(self, own: CheckResult) -> str:
        said = " ".join(p.said for p in self.service.origin if p.key == "kind").lower()
        commands = " ".join(" ".join(x.cmdline or ()) for x in own.listeners).lower()
        return "Vite" if "vite" in said or "vite" in commands else self.service.name

    def _rule(self) -> str:
        """The proxied prefix: ``/api`` of ``/api/health``."""
        path = self.service.proxy_path or "/"
        first = path.strip("/").split("/", 1)[0]
        return f"/{first}" if first else "/"

    def _target(self) -> tuple[str, str] | None:
        """The proxy's target URL and where it was read (``client/vite.config.js:8``), when known."""
        for p in self.service.origin:
            if p.key == "proxy":
                found = _URL.search(p.said)
                if found:
                    return found.group(0).rstrip("/"), p.where
        return None

    def _direct(
        self, backend: CheckResult | None, now: ProbeOutcome | None = None, direct: Fetched | None = None
    ) -> str:
        """``though backend answers directly in 2 ms``: from the path just asked of it
        (``direct``), else from its own result when that says it answers, else from the connect
        just made (``now``)."""
        to = self.service.proxy_to
        if direct is not None and direct.status is not None:
            return f"though {to} answers directly in {direct.latency_ms:.0f} ms"
        if backend is not None and backend.state in (State.UP, State.DEGRADED):
            latency = "" if backend.latency_ms is None else f" in {backend.latency_ms:.0f} ms"
            return f"though {backend.service} answers directly{latency}"
        if now is not None and now.reason is Reason.OK:
            latency = "" if now.latency_ms is None else f" in {now.latency_ms:.0f} ms"
            return f"though {to} accepts connections directly{latency}"
        return f"and {to} has not been checked yet"

    def _unreached(
        self, server: str, rule: str, status: int, backend: CheckResult | None, now: ProbeOutcome | None = None
    ) -> str:
        """Why the proxy did not reach a backend that answers directly."""
        to = self.service.proxy_to or "the backend"
        be = self.backend
        port = be.port if be is not None else None
        port_where = next((p.where for p in (be.origin if be else ()) if p.key == "port" and p.where), None)
        listens = f"{to} listens on {port}" + (f" ({port_where})" if port_where else "") if port else ""
        every = f"every {rule} call fails with {status}"
        found = self._target()
        if found is None:
            said = (
                f"{server}'s {rule} proxy answers {status} (it cannot reach its target), "
                f"{self._direct(backend, now)}{' on port ' + str(port) if port else ''}"
            )
            family = self._one_family(port)
            if family is not None:
                only, fails, fixed = family
                return (
                    f"{said}, but {to} listens on {only} only: a target of {fails} fails there; "
                    f"set the target to {fixed}."
                )
            return f"{said}: check the proxy's target; {every}."
        url, where = found
        parts = urlsplit(url)
        try:
            target_port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError:
            target_port = None
        if port is not None and target_port is not None and target_port != port:
            return f"{server}'s {rule} proxy targets port {target_port} ({where}), but {listens}: {every}."
        host = parts.hostname or ""
        owners = self._owners([port]) if self._owners is not None and port is not None else ()
        bound = sorted({x.address for x in owners if x.port == port})
        try:
            addresses = self._resolver(host, target_port or 80, 1.0) if host else ()
        except ResolveError:
            addresses = ()
        if bound and addresses and not any(listens_on(b, addresses[0]) for b in bound):
            reachable = next((a for a in addresses if any(listens_on(b, a) for b in bound)), bound[0])
            fixed = f"{parts.scheme}://{_url_host(reachable)}:{target_port}"
            named = host.strip("[]") != addresses[0]
            resolves = f", which resolves to {addresses[0]} first," if named else ","
            return (
                f"{server}'s {rule} proxy targets {url}{resolves} but {to} listens on {' and '.join(bound)} only: "
                f"set the target to {fixed} or make {to} listen on both."
            )
        return (
            f"{server}'s {rule} proxy targets {url} ({where}) and answers {status} (it cannot reach it), "
            f"{self._direct(backend)}: {every}."
        )

    def _one_family(self, port: int | None) -> tuple[str, str, str] | None:
        """When the backend listens on one loopback family only (its listeners, looked up now):
        what it listens on, the targets that dial the other family, and the target to set."""
        if port is None or self._owners is None:
            return None
        bound = sorted({x.address for x in self._owners([port]) if x.port == port})
        if not bound:
            return None
        if all(":" not in b for b in bound) and any(b in ("127.0.0.1", "0.0.0.0") for b in bound):
            fails = f"http://localhost:{port} (where localhost resolves to ::1 first) or http://[::1]:{port}"
            return " and ".join(bound), fails, f"http://127.0.0.1:{port}"
        if bound == ["::1"]:
            fails = f"http://localhost:{port} (where localhost resolves to 127.0.0.1 first) or http://127.0.0.1:{port}"
            return "::1", fails, f"http://[::1]:{port}"
        return None


def blocked_sentence(name: str, path: str, backend: CheckResult) -> str:
    """``frontend's API path /api/health fails because backend is down (refused).``; a backend the
    user stopped (or never started) is just "stopped"; a port held by a stale server names it:
    ``... because backend's port 5055 is held by a stale server (python3 pid 4242).``"""
    if backend.reason is Reason.STALE_HOLDER and backend.port is not None:
        holders = ", ".join(f"{x.name or 'a process'} pid {x.pid}" for x in backend.listeners if x.pid is not None)
        held = f"held by a stale server ({holders})" if holders else "held by a stale server"
        return f"{name}'s API path {path} fails because {backend.service}'s port {backend.port} is {held}."
    how = str(backend.state) if backend.state is State.STOPPED else f"{backend.state} ({backend.reason})"
    return f"{name}'s API path {path} fails because {backend.service} is {how}."


def _vite_page(answer: Fetched) -> bool:
    """Vite's own index.html, asked as an API asks or (after a 404) as the browser asks."""
    return answer.vite_page or (answer.as_browser is not None and answer.as_browser.vite_page)


def _reports(said: str) -> str:
    """:func:`read_answer`'s words after "which": "reports a dependency down: db: disconnected",
    "reports a dependency still connecting: db: connecting", "reports itself down: …"."""
    lead = "a dependency is still connecting: "
    return "reports a dependency still connecting: " + said[len(lead) :] if said.startswith(lead) else said


def browser_reaches(service: ServiceConfig, result: CheckResult, *, resolver: Resolver = resolve) -> CheckResult:
    """A dev server checked at a loopback address it does not listen on (``address_mismatch``), but
    reached by the browser's ``localhost`` (its addresses in the resolver's order): up, saying so.

    A dev server is a service with a ``proxy_path``, or whose listener runs Vite. Anything else,
    and a mismatch the browser's ``localhost`` does not get past either, is left as it is.
    """
    if result.reason is not Reason.ADDRESS_MISMATCH or service.port is None or not is_loopback(service.host or ""):
        return result
    vite = any("vite" in " ".join(x.cmdline or ()).lower() for x in result.listeners)
    if service.proxy_path is None and not vite:
        return result
    try:
        addresses = resolver("localhost", service.port, service.timeout)
    except ResolveError:
        return result
    reached = [a for a in addresses if any(listens_on(x.address, a) for x in result.listeners)]
    if not reached:
        return result
    start = time.perf_counter()
    reason, _ = connect_any(tuple(reached[:1]), service.port, start + service.timeout, service.timeout)
    if reason is not Reason.OK:
        return result
    bound = ", ".join(sorted({x.address for x in result.listeners}))
    return replace(
        result,
        state=State.UP,
        reason=Reason.OK,
        latency_ms=_ms(start),
        detail=(
            f"{service.name} listens on {bound} only, not on {service.host}, but the browser's localhost "
            f"reaches it (localhost resolves to {' then '.join(addresses)} here)."
        ),
    )


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
