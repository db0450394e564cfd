"""Values that cross module and thread boundaries: states, reasons, results, events.

Everything here is immutable so a result can be handed from a worker thread to the
GUI thread (or printed as JSON) without copying or locking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"
    STARTING = "starting"  # a managed service was started and has not yet answered
    STOPPING = "stopping"  # trayapp asked a managed service to stop and it has not exited yet
    #: a managed service that is not running because the user never started it or stopped it:
    #: grey, no alarm, and not counted as down in the overall state or an exit code
    STOPPED = "stopped"

    @property
    def severity(self) -> int:
        """Higher is worse; used to fold many services into one overall state."""
        return _SEVERITY[self]


#: ``stopped`` is below ``up``: a stack with a service the user stopped is as fine as its others
_SEVERITY = {
    State.STOPPED: -1,
    State.UP: 0,
    State.STARTING: 1,
    State.STOPPING: 1,
    State.UNKNOWN: 1,
    State.DEGRADED: 2,
    State.DOWN: 3,
}

#: states the user brought about (a start or stop they asked for), not news about the service
DELIBERATE = (State.STARTING, State.STOPPING)


class Reason(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # nothing listens on that port at all
    ADDRESS_MISMATCH = "address_mismatch"  # listening, but not on the address we dial
    TIMEOUT = "timeout"  # connect or read did not finish in time (listening but hung)
    RESET = "reset"  # connection reset or closed without a response
    PROTOCOL_ERROR = "protocol_error"  # something answered, but not the protocol we speak
    DNS = "dns"
    TLS = "tls"
    HTTP_STATUS = "http_status"  # non-2xx answer
    DEPENDENCY_DOWN = "dependency_down"  # answers, but reports its database/dependency down or still connecting
    UNHEALTHY = "unhealthy"  # answers, but its health body reports the service itself down (no dependency named)
    WARNING = "warning"  # answers 2xx, with a health body that reports a warning (IETF "warn", "degraded")
    AUTH_FAILED = "auth_failed"
    SLOW = "slow"  # answered, but over the latency threshold
    ERROR = "error"  # anything else; the detail carries the driver's message
    EXITED = "exited"  # a managed child exited (code or signal, and its last output)
    STOPPED = "stopped"  # stopped on purpose by the user (no alarm)
    START_TIMEOUT = "start_timeout"  # started, but not healthy within start_timeout
    CRASH_LOOP = "crash_loop"  # exited again and again; trayapp stopped restarting it
    PROXY_ERROR = "proxy_error"  # a dev server answers, but its proxy does not reach the service behind it
    STALE_CONNECTION = "stale_connection"  # reports a dependency down that answers directly: a stale driver/pool
    STALE_HOLDER = "stale_holder"  # the port is held by a process that is not the service (an old run)
    PAUSED = "paused"  # the port's owner is stopped (SIGSTOP, Ctrl-Z, a debugger): it cannot answer


#: The state a reason puts a service in, before thresholds are applied.
REASON_STATE: dict[Reason, State] = {
    Reason.OK: State.UP,
    Reason.DEPENDENCY_DOWN: State.DEGRADED,
    Reason.WARNING: State.DEGRADED,
    Reason.SLOW: State.DEGRADED,
    Reason.STOPPED: State.STOPPED,
    Reason.STALE_CONNECTION: State.DEGRADED,
}


def state_for(reason: Reason) -> State:
    return REASON_STATE.get(reason, State.DOWN)


class Kind(StrEnum):
    HTTP = "http"
    MONGO = "mongo"
    TCP = "tcp"


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe saw, before the port owners are looked at.

    ``detail`` is a fragment such as "read timed out after 2 s" that the diagnosis
    turns into a full sentence.
    """

    reason: Reason
    detail: str
    latency_ms: float | None = None
    http_status: int | None = None
    #: addresses the target resolved to (for the address_mismatch diagnosis)
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Watcher:
    """A file watcher or process manager that restarts the process below it (nodemon, PM2, …)."""

    pid: int
    name: str  # what it is, as people call it: "nodemon", "node --watch", "tsx watch", "PM2", …
    started: float | None = None  # Unix time; the identity guard before signalling it

    @property
    def label(self) -> str:
        """``nodemon (pid 77)``."""
        return f"{self.name} (pid {self.pid})"


@dataclass(frozen=True)
class Listener:
    """One listening socket and, where we may see it, the process that owns it."""

    address: str
    port: int
    pid: int | None
    name: str | None = None
    cmdline: tuple[str, ...] | None = None
    cwd: str | None = None
    user: str | None = None
    #: process start, Unix time (also the identity guard against PID reuse)
    started: float | None = None
    ppid: int | None = None
    #: False when the process belongs to another user and its details are hidden
    visible: bool = True
    #: psutil's process status ("running", "sleeping", "stopped", "tracing-stop", ...)
    status: str | None = None
    #: the listening socket's identity (its inode on Linux): the same for every process sharing it
    socket: int | None = None
    #: the TRAYAPP_SERVICE mark in its environment (the service trayapp started it for); "" when
    #: the environment was read and has none, None when it could not be read
    tag: str | None = None
    #: the watcher or process manager above it that would start it again (nodemon, PM2, …)
    watcher: Watcher | None = None
    #: the uid the kernel records for the socket (Linux), known when ``pid`` is None
    socket_uid: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "cmdline": list(self.cmdline) if self.cmdline is not None else None,
            "cwd": self.cwd,
            "user": self.user,
            "started": self.started,
            "ppid": self.ppid,
            "status": self.status,
        }


@dataclass(frozen=True)
class CheckResult:
    """The diagnosed outcome of one check of one service."""

    service: str
    kind: Kind
    target: str  # redacted
    state: State
    reason: Reason
    detail: str  # one sentence a developer can act on
    latency_ms: float | None
    t: float  # Unix time the check finished
    http_status: int | None = None
    port: int | None = None
    listeners: tuple[Listener, ...] = field(default=())
    #: the service whose failure explains this one's (the root along depends_on / proxy_to), or None
    blocked_by: str | None = None
    #: a dev server's API path as checked through its proxy, or None when it has no proxy_path
    proxy: ProxyPath | None = None

    @property
    def answered(self) -> bool:
        """Whether the service answered (up, degraded, or with an HTTP status): only then does
        ``latency_ms`` measure the service rather than a refused connection or a timeout."""
        return self.state in (State.UP, State.DEGRADED) or self.http_status is not None

    @property
    def headline(self) -> str:
        """At most about 60 characters saying what ``detail`` says at length (trayapp.headline)."""
        from trayapp.headline import headline

        return headline(self)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.service,
            "kind": str(self.kind),
            "target": self.target,
            "state": str(self.state),
            "reason": str(self.reason),
            "headline": self.headline,
            "detail": self.detail,
            "latency_ms": _round(self.latency_ms),
            "http_status": self.http_status,
            "port": self.port,
            "listeners": [listener.to_json() for listener in self.listeners],
            "blocked_by": self.blocked_by,
            "proxy": None if self.proxy is None else self.proxy.to_json(),
        }


@dataclass(frozen=True)
class ProxyPath:
    """A dev server's ``proxy_path`` requested through it (issue #10 section 3).

    ``state`` is the API path's own: ``up`` when the answer came from ``to``, ``down`` when the
    proxy did not reach it (reason ``proxy_error``), ``degraded`` when ``to`` answered but reports
    a problem. The dev server's row takes the worse of its own check and this.
    """

    path: str
    to: str
    state: State
    http_status: int | None
    latency_ms: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "to": self.to,
            "state": str(self.state),
            "http_status": self.http_status,
            "latency_ms": _round(self.latency_ms),
        }


@dataclass(frozen=True)
class Transition:
    """A service's confirmed state changed (after the failure threshold)."""

    service: str
    old: State
    new: State
    reason: Reason
    detail: str
    t: float  # Unix time
    #: monotonic seconds the service spent in ``old`` (None when unknown)
    duration_s: float | None = None
    #: the service whose failure explains this one's (see :attr:`CheckResult.blocked_by`)
    blocked_by: str | None = None
    #: ``detail`` in a few words (:attr:`CheckResult.headline`), for lists of several services
    headline: str = ""

    @property
    def deliberate(self) -> bool:
        """Into or out of a start or stop the user asked for (not news about the service)."""
        return self.old in DELIBERATE or self.new in DELIBERATE

    def to_json(self) -> dict[str, object]:
        return {
            "event": "transition",
            "service": self.service,
            "from": str(self.old),
            "to": str(self.new),
            "reason": str(self.reason),
            "headline": self.headline,
            "detail": self.detail,
            "t": round(self.t, 3),
        }


#: overall states that are not a problem (exit code 0): all up, or up but for services the user stopped
FINE = (State.UP, State.STOPPED)


def overall_state(states: list[State]) -> State:
    """The worst state of all services; unknown when there are none. ``stopped`` counts for
    nothing (it is below ``up``): the overall state is ``stopped`` only when every service is."""
    if not states:
        return State.UNKNOWN
    return max(states, key=lambda s: s.severity)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
