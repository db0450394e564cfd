"""From what a probe saw and who holds the port, to one sentence a developer can act on.

Who holds the port is never simply trusted (issue 9, section 3). A holder that is stopped
(SIGSTOP, Ctrl-Z, a debugger) makes any check ``paused``: a TCP check would pass, since the
kernel completes the handshake for it. A holder that is not the service makes it
``stale_holder``: for a managed service any process without its ``TRAYAPP_SERVICE`` mark; for
any service one that started before the service's log said EADDRINUSE for the port, or one
running outside the service's folder whose answer does not fit (a 4xx on the health path,
another protocol). Another user's process is named as such (trayapp can neither read its logs
nor stop it), Docker's port publisher as Docker's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from trayapp.checks.evidence import CLOCK_SLACK_S, LogEvidence
from trayapp.checks.ports import (
    describe_owner,
    docker_target,
    is_docker_proxy,
    listens_on,
    outside_view,
    restarts_when,
)
from trayapp.checks.probes import is_loopback
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Kind, Listener, ProbeOutcome, Reason, State, Watcher, state_for
from trayapp.text import command, join_and, resume_hint, shorten_home

#: what the probe speaks, for "... which does not answer HTTP within 2 s"
_PROTOCOL = {Kind.HTTP: "HTTP", Kind.MONGO: "MongoDB", Kind.TCP: "connections"}
_STOPPED = frozenset({"stopped", "tracing-stop"})  # psutil's STATUS_STOPPED, STATUS_TRACING_STOP
#: answers that do not fit a health check however the server is doing (a stale holder's tell)
_MISFITS = (Reason.PROTOCOL_ERROR,)
#: outcomes that say nothing about who holds the port
_NO_HOLDER = (Reason.REFUSED, Reason.ADDRESS_MISMATCH, Reason.DNS)
#: answers a healthy service gives
_HEALTHY = (Reason.OK, Reason.SLOW, Reason.DEPENDENCY_DOWN, Reason.WARNING)
#: outcomes in which something answered (rather than kept silent or hung up)
_ANSWERED = (*_HEALTHY, Reason.UNHEALTHY, Reason.HTTP_STATUS, Reason.PROTOCOL_ERROR)


def needs_owners(outcome: ProbeOutcome) -> bool:
    """Whether the port owners change the sentence (they cost a psutil scan)."""
    return outcome.reason is not Reason.OK


def diagnose(
    service: ServiceConfig,
    outcome: ProbeOutcome,
    listeners: Sequence[Listener],
    t: float,
    now: float | None = None,
    *,
    in_use: LogEvidence | None = None,
    child_running: bool | None = None,
) -> CheckResult:
    """Combine a probe outcome with the listeners on the service's port.

    ``listeners`` may hold sockets on other ports; only the service's port is used.
    ``t`` is the Unix time the check finished, ``now`` the time used for ages. ``in_use`` is
    an unresolved EADDRINUSE line for the port from the current run of the service's log (see
    :mod:`trayapp.checks.evidence`); ``child_running`` whether trayapp's own child for a
    managed service is running (True), has exited (False), or is not known (None).
    """
    on_port = tuple(x for x in listeners if service.port is not None and x.port == service.port)
    reason = outcome.reason
    if reason is Reason.OK and outcome.latency_ms is not None and outcome.latency_ms > service.slow_ms:
        reason = Reason.SLOW
    if reason in (Reason.RESET, Reason.PROTOCOL_ERROR) and not on_port and _all_loopback(outcome.addresses):
        # Nobody listens: a pooled connection dropped as the server went away, or a loopback
        # connect met itself (TCP simultaneous open) and read its own request back.
        reason = Reason.REFUSED
    if reason is Reason.REFUSED and on_port and outcome.addresses:
        if not any(listens_on(x.address, a) for x in on_port for a in outcome.addresses):
            reason = Reason.ADDRESS_MISMATCH
    when = now if now is not None else t
    serving = _serving(on_port, outcome.addresses)
    used: LogEvidence | None = None
    if reason not in _NO_HOLDER and serving:
        if all(x.status in _STOPPED for x in serving):
            verdict = _stale(service, reason, outcome, serving, in_use, child_running, paused=True)
            used = in_use if verdict == "in_use" else None
            detail = _paused_sentence(service, serving, verdict, used, when)
            reason = Reason.PAUSED
        elif verdict := _stale(service, reason, outcome, serving, in_use, child_running, paused=False):
            used = in_use if verdict == "in_use" else None
            detail = _stale_sentence(service, reason, outcome, serving, verdict, when)
            reason = Reason.STALE_HOLDER
        else:
            detail = _sentence(service, reason, outcome, on_port, when)
    else:
        detail = _sentence(service, reason, outcome, on_port, when)
    if used is not None:
        detail = f"{detail} {used.sentence(when)}"
    return CheckResult(
        service=service.name,
        kind=service.kind,
        target=service.display_target,
        state=state_for(reason),
        reason=reason,
        detail=detail,
        latency_ms=outcome.latency_ms,
        t=t,
        http_status=outcome.http_status,
        port=service.port,
        listeners=on_port,
    )


def _sentence(
    service: ServiceConfig, reason: Reason, outcome: ProbeOutcome, on_port: tuple[Listener, ...], now: float
) -> str:
    name, port = service.name, service.port
    where = f"port {port}" if port is not None else service.display_target
    dialled = " / ".join(outcome.addresses) if outcome.addresses else service.host or "the host"
    owner = _owners(on_port, now)
    latency = _duration(outcome.latency_ms)
    timeout = f"{service.timeout:g} s"

    match reason:
        case Reason.OK:
            what = {Kind.HTTP: f"answers {outcome.detail}", Kind.MONGO: "answers ping", Kind.TCP: "accepts connections"}
            return f"{name} {what[service.kind]} in {latency}."
        case Reason.SLOW:
            return (
                f"{name} answered, but took {latency} (slower than {service.slow_ms / 1000:g} s): "
                "it is overloaded, blocked on a slow query, or paused in a debugger."
            )
        case Reason.REFUSED if not on_port:
            return (
                f"Nothing listens on {where} ({dialled}): {name} is not running, crashed, "
                "or has not started listening yet."
            )
        case Reason.REFUSED:
            return (
                f"{where} refused the connection although {owner} listens on it: it may be starting up or restarting."
            )
        case Reason.ADDRESS_MISMATCH:
            bound = ", ".join(sorted({x.address for x in on_port}))
            return (
                f"{where} is open on {bound} only, held by {owner}, but {name} dials {dialled}: "
                f"make the server listen on both (0.0.0.0 or ::) or point {name} at {bound}."
            )
        case Reason.TIMEOUT if on_port and (foreign := _other_users(on_port, port)):
            return (
                f"{where} is held by {owner} which does not answer {_PROTOCOL[service.kind]} within {timeout}: "
                f"{foreign}."
            )
        case Reason.TIMEOUT if on_port:
            return (
                f"{where} is held by {owner} which does not answer {_PROTOCOL[service.kind]} within {timeout}: "
                "it is hung, paused (SIGSTOP, debugger) or overloaded."
            )
        case Reason.TIMEOUT:
            return f"{name} at {dialled} {outcome.detail}, and no process on this machine is seen holding {where}."
        case Reason.RESET:
            by = owner if on_port else name
            if foreign := _other_users(on_port, port):
                return f"{by} on {where} {outcome.detail}: {foreign}."
            return f"{by} on {where} {outcome.detail}: it may be crashing on each request; check its log."
        case Reason.PROTOCOL_ERROR:
            by = owner if on_port else f"the program on {where}"
            foreign = _other_users(on_port, port)
            return (
                f"{where} is held by {by} which does not speak {_PROTOCOL[service.kind]}: "
                f"another program took {name}'s port ({outcome.detail})" + (f"; {foreign}." if foreign else ".")
                if on_port
                else f"{by} {outcome.detail}: another program may hold {name}'s port."
            )
        case Reason.HTTP_STATUS:
            hint = ""
            if outcome.http_status == 404:
                hint = ": the server runs, but the health path is wrong or not mounted"
            elif outcome.http_status is not None and outcome.http_status >= 500:
                hint = ": the server runs, but its health handler fails; check its log"
            return f"{name} answers {outcome.detail}{hint}."
        case Reason.DEPENDENCY_DOWN | Reason.UNHEALTHY | Reason.WARNING:
            code = f" ({outcome.http_status})" if outcome.http_status else ""
            return f"{name} answers{code} but {outcome.detail}."
        case Reason.DNS:
            return f"{name}: {outcome.detail}; check the host name in its {_target_field(service)}."
        case Reason.TLS:
            return f"{name}: {where} {outcome.detail}."
        case Reason.AUTH_FAILED:
            return f"MongoDB at {where} {outcome.detail}: check the user, password and authSource in the uri."
        case _:
            return f"{name} at {where}: {outcome.detail}."


def _serving(on_port: tuple[Listener, ...], addresses: tuple[str, ...]) -> tuple[Listener, ...]:
    """The listeners that take connections to the dialled addresses (all of them when unknown)."""
    if not addresses:
        return on_port
    return tuple(x for x in on_port if any(listens_on(x.address, a) for a in addresses))


def is_own(service: ServiceConfig, listener: Listener) -> bool | None:
    """Whether a holder is one of the managed service's own processes (its TRAYAPP_SERVICE
    mark); None when that cannot be told (not a managed service, another user's process)."""
    if service.managed is None or listener.pid is None or not listener.visible or listener.tag is None:
        return None
    return listener.tag == service.identity


def _outside(service: ServiceConfig, listener: Listener) -> bool:
    """Whether the holder runs outside the service's project folder (False when either is unknown)."""
    if service.folder is None or not listener.cwd:
        return False
    folder = os.path.abspath(service.folder)
    cwd = os.path.abspath(listener.cwd)
    return cwd != folder and not cwd.startswith(folder.rstrip(os.sep) + os.sep)


def _misfit(reason: Reason, outcome: ProbeOutcome) -> bool:
    """An answer no healthy instance of this service gives: a 4xx on its health path, another protocol."""
    if reason in _MISFITS:
        return True
    return reason is Reason.HTTP_STATUS and outcome.http_status is not None and 400 <= outcome.http_status < 500


def _stale(
    service: ServiceConfig,
    reason: Reason,
    outcome: ProbeOutcome,
    serving: tuple[Listener, ...],
    in_use: LogEvidence | None,
    child_running: bool | None,
    *,
    paused: bool,
) -> str | None:
    """Why the holders are not the service ("in_use", "foreign", "exited", "outside"), or None.

    Only visible holders count: another user's process is said to be one, not judged.
    """
    holders = [x for x in serving if x.pid is not None and x.visible]
    if not holders or len(holders) != len(serving):
        return None
    if in_use is not None and all(x.started is not None and x.started <= in_use.when + CLOCK_SLACK_S for x in holders):
        return "in_use"  # the service's newest run could not take the port these already held
    own = [is_own(service, x) for x in holders]
    if any(own):
        return None
    if service.managed is not None and all(o is False for o in own) and child_running is not None:
        # trayapp's supervisor knows this service's processes (its mark, its process group):
        # these are none of them, whatever they answer.
        return "exited" if child_running is False else "foreign"
    # A fresh status or watch has only the mark to go by, and a child started before marks
    # existed has none: say so only when the holder's folder and its answer agree.
    if not paused and _misfit(reason, outcome) and all(_outside(service, x) for x in holders):
        return "outside"
    return None


def _watchers(holders: Sequence[Listener]) -> list[Watcher]:
    return list({x.watcher.pid: x.watcher for x in holders if x.watcher is not None}.values())


def _kill_advice(port: int | None, holders: Sequence[Listener]) -> str:
    """``stop it with `trayapp kill 5000```, naming a watcher that would start it again."""
    if port is None:
        return "stop it"
    watchers = _watchers(holders)
    if not watchers:
        return f"stop it with {command(f'trayapp kill {port}')}"
    names = join_and(w.label for w in watchers)
    when = join_and(restarts_when(w.name) for w in watchers)
    return (
        f"it runs under {names}, which would start it again {when}, so stop both with "
        f"{command(f'trayapp kill {port} --with-watcher')}"
    )


def _stale_sentence(
    service: ServiceConfig,
    reason: Reason,
    outcome: ProbeOutcome,
    holders: tuple[Listener, ...],
    verdict: str,
    now: float,
) -> str:
    name, port = service.name, service.port
    where = f"port {port}" if port is not None else service.display_target
    owner = _owners(holders, now)
    answered = reason in _ANSWERED
    how = f"answered by {owner}" if answered else f"held by {owner}"
    if reason is Reason.HTTP_STATUS:
        how += f" with {outcome.detail.split(':', 1)[0]}"
    elif reason is Reason.PROTOCOL_ERROR:
        how += f", which does not speak {_PROTOCOL[service.kind]}"
    elif not answered:
        how += f", which {outcome.detail}" if outcome.detail else ""
    why = {
        "in_use": f"not by {name}, whose log says EADDRINUSE",
        "foreign": f"not by {name}: trayapp did not start it for {name}",
        "exited": f"not by {name}, whose own process has exited",
        "outside": (f"not by {name}: it runs outside {name}'s folder ({shorten_home(service.folder or '')})"),
    }[verdict]
    code = ": the code you edit is not what answers" if reason in _HEALTHY else ""
    return f"{where} is {how}, {why}{code}; a stale server holds the port: {_kill_advice(port, holders)}."


def _paused_sentence(
    service: ServiceConfig, holders: tuple[Listener, ...], verdict: str | None, in_use: LogEvidence | None, now: float
) -> str:
    name, port = service.name, service.port
    where = f"port {port}" if port is not None else service.display_target
    owner = _owners(holders, now)
    pids = [x.pid for x in holders if x.pid is not None]
    stopped = f"{where} is held by {owner}, which is stopped (SIGSTOP, Ctrl-Z or a debugger)"
    if verdict is not None:
        why = (
            f"{name}'s log says a newer run failed with EADDRINUSE"
            if in_use is not None
            else f"trayapp did not start it for {name}"
        )
        return f"{stopped}, and {why}: it is a stale run, so resuming it would not help; {_kill_advice(port, holders)}."
    tcp = " The kernel still accepts connections for it, but none is served." if service.kind is Kind.TCP else ""
    return f"{stopped}: it cannot answer until it continues ({resume_hint(pids)}).{tcp}"


def _other_users(on_port: tuple[Listener, ...], port: int | None) -> str | None:
    """What to say of holders trayapp may not look into (another user's process, Docker's)."""
    if not on_port or any(x.visible for x in on_port):
        return None
    proxies = [x for x in on_port if is_docker_proxy(x)]
    if proxies:
        target = docker_target(proxies[0])
        into = f" to a container ({target})" if target else ""
        check = command(f"docker ps --filter publish={port}") if port is not None else command("docker ps")
        return (
            f"it is Docker's port publisher (docker-proxy), which forwards{into}: the container behind it is "
            f"not answering; see {check}"
        )
    if all(outside_view(x) for x in on_port):
        return (
            "its process is outside trayapp's view (another container or sandbox), "
            "so trayapp can neither read its logs nor stop it from here"
        )
    return "it belongs to another user, so trayapp can neither read its logs nor stop it without that user's rights"


def _all_loopback(addresses: tuple[str, ...]) -> bool:
    return bool(addresses) and all(is_loopback(a) for a in addresses)


def _owners(on_port: tuple[Listener, ...], now: float) -> str:
    seen: dict[str, None] = {}
    for listener in on_port:
        seen.setdefault(describe_owner(listener, now), None)
    return " and ".join(seen) if seen else "an unseen process"


def _target_field(service: ServiceConfig) -> str:
    return {Kind.HTTP: "url", Kind.MONGO: "uri", Kind.TCP: "host"}[service.kind]


def _duration(ms: float | None) -> str:
    if ms is None:
        return "unknown time"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def unchecked(service: ServiceConfig, t: float, why: str) -> CheckResult:
    """A result for a service whose check did not finish (status deadline, shutdown)."""
    return CheckResult(
        service=service.name,
        kind=service.kind,
        target=service.display_target,
        state=State.DOWN,
        reason=Reason.TIMEOUT,
        detail=f"{service.name}: {why}.",
        latency_ms=None,
        t=t,
        port=service.port,
    )
