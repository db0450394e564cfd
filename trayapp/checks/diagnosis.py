"""From what a probe saw and who holds the port, to one sentence a developer can act on."""

from __future__ import annotations

from collections.abc import Sequence

from trayapp.checks.ports import describe_owner, listens_on
from trayapp.checks.probes import is_loopback
from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, Kind, Listener, ProbeOutcome, Reason, State, state_for

#: what the probe speaks, for "... which does not answer HTTP within 2 s"
_PROTOCOL = {Kind.HTTP: "HTTP", Kind.MONGO: "MongoDB", Kind.TCP: "connections"}
_STOPPED = frozenset({"stopped", "tracing-stop"})  # psutil's STATUS_STOPPED, STATUS_TRACING_STOP


def needs_owners(outcome: ProbeOutcome) -> bool:
    """Whether the port owners change the sentence (they cost a psutil scan)."""
    return outcome.reason is not Reason.OK


def diagnose(
    service: ServiceConfig,
    outcome: ProbeOutcome,
    listeners: Sequence[Listener],
    t: float,
    now: float | None = None,
) -> CheckResult:
    """Combine a probe outcome with the listeners on the service's port.

    ``listeners`` may hold sockets on other ports; only the service's port is used.
    ``t`` is the Unix time the check finished, ``now`` the time used for ages.
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
    detail = _sentence(service, reason, outcome, on_port, now if now is not None else t)
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
        case Reason.TIMEOUT if stopped := [x for x in on_port if x.status in _STOPPED]:
            pids = " ".join(str(x.pid) for x in stopped)
            return (
                f"{where} is held by {owner}, which is stopped (SIGSTOP, Ctrl-Z or a debugger): it cannot answer "
                f"until it continues (kill -CONT {pids}, or fg in its terminal)."
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
            return f"{by} on {where} {outcome.detail}: it may be crashing on each request; check its log."
        case Reason.PROTOCOL_ERROR:
            by = owner if on_port else f"the program on {where}"
            return (
                f"{where} is held by {by} which does not speak {_PROTOCOL[service.kind]}: "
                f"another program took {name}'s port ({outcome.detail})."
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
