"""A diagnosis you read at a glance: a few words per result, beside its full sentence.

``headline(result)`` turns one ``CheckResult`` into at most ``MAX_HEADLINE`` characters ("nothing
listens on port 5000", "health path not found (404)", "db is down; backend affected"). It reads
only the result's own fields (reason, state, http_status, port, listeners, kind, and for a
dependency or an exit the fragment the probe or the supervisor put in ``detail``; ``blocked_by``,
the root cause along depends_on / proxy_to, comes first), so the
headline never claims more than the full sentence does. Plain words, no reason codes.

Every ``Reason`` has its own phrasing in ``_PHRASES`` (keyed by the reason's string, so reasons
that land later can be phrased before they exist); tests/test_headline.py fails for a reason
without one. An unknown reason still gets words (never a crash): its code with spaces.

Qt-free and in the foundation layer, so ``CheckResult.headline`` can use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trayapp.model import CheckResult

#: characters; longer headlines are cut with "…" (a table column, a tray tooltip line)
MAX_HEADLINE = 60

#: psutil's process status of a process stopped by SIGSTOP, Ctrl-Z or a debugger
_STOPPED = frozenset({"stopped", "tracing-stop"})
_PROTOCOL = {"http": "HTTP", "mongo": "MongoDB", "tcp": "connections"}


def headline(result: CheckResult) -> str:
    """At most ``MAX_HEADLINE`` characters saying what is wrong (or that all is well)."""
    phrase = _PHRASES.get(str(result.reason))
    text = phrase(result) if phrase is not None else str(result.reason).replace("_", " ")
    blocked_by = getattr(result, "blocked_by", None)
    if blocked_by and str(result.state) in ("down", "degraded"):  # the root named first: fix that one
        both = f"blocked by {blocked_by} · {text}"
        text = both if len(both) <= MAX_HEADLINE else f"blocked by {blocked_by}"
    return cap(text)


def has_phrase(reason: str) -> bool:
    """Whether ``reason`` (a reason code) has its own headline, not the fallback."""
    return reason in _PHRASES


def cap(text: str, limit: int = MAX_HEADLINE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:") + "…"


def _where(r: CheckResult) -> str:
    return f"port {r.port}" if r.port is not None else r.target


def _latency(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _ok(r: CheckResult) -> str:
    if str(r.state) in ("starting", "stopping"):  # the supervisor's own word while it starts or stops one
        return f"{r.state}…"
    said = {"http": "answers", "mongo": "answers ping", "tcp": "accepts connections"}.get(str(r.kind), "answers")
    latency = _latency(r.latency_ms)
    return f"{said} in {latency}" if latency else said


#: what trayapp.checks.checker adds when this run's log says why nothing listens
_TAKEN = re.compile(r"(?P<how>crashed|could not listen) at start because (?P<port>port \d+) was taken")
_CRASHED = re.compile(r"\) says it crashed: (?P<what>.+)$")
_STOPPED_SAID = re.compile(r"\) says it was stopped: ")


def _refused(r: CheckResult) -> str:
    if r.listeners:
        return f"{_where(r)} is open but refuses connections"
    if taken := _TAKEN.search(r.detail):
        if taken.group("how") == "crashed":
            return f"crashed at start: {taken.group('port')} was taken"
        return f"{taken.group('port')} was taken at start"
    if crashed := _CRASHED.search(r.detail):
        return f"crashed: {crashed.group('what')}"
    if _STOPPED_SAID.search(r.detail):
        return "stopped (no crash in its log)"
    return f"nothing listens on {_where(r)}"


def _address_mismatch(r: CheckResult) -> str:
    bound = ", ".join(sorted({x.address for x in r.listeners})) or "another address"
    return f"{_where(r)} listens on {bound} only"


def _timeout(r: CheckResult) -> str:
    if any(x.status in _STOPPED for x in r.listeners):
        return f"server on {_where(r)} is paused (stopped)"
    if r.listeners:
        return f"server on {_where(r)} hangs: no answer"
    return f"no answer from {_where(r)} (timed out)"


def _protocol_error(r: CheckResult) -> str:
    if r.listeners:
        return f"another program holds {_where(r)}"
    return f"{_where(r)} does not speak {_PROTOCOL.get(str(r.kind), str(r.kind))}"


def _http_status(r: CheckResult) -> str:
    if r.proxy is not None and r.proxy.http_status is not None and str(r.proxy.state) != "up":
        # the error is the API path's answer through the dev server, not the dev server's own
        path, status = r.proxy.path, r.proxy.http_status
        return f"API path {path} not found (404)" if status == 404 else f"API path {path} answers {status}"
    code = r.http_status
    if code == 404:
        return "health path not found (404)"
    if code in (401, 403):
        return f"health check needs a login ({code})"
    if code is not None and code >= 500:
        return f"health check fails ({code})"
    return f"health check answers {code}" if code is not None else "unexpected HTTP answer"


#: "reports a dependency down: db: disconnected; cache: down" / "...still connecting: mongo: connecting"
_DOWN = re.compile(r"reports a dependency down: (?P<deps>.*?)(?:; still connecting: |$)")
_CONNECTING = re.compile(r"(?:still connecting|a dependency is still connecting): (?P<deps>.*)$")
#: a dev server's API path answered by the backend behind its proxy (trayapp.checks.proxy)
_THROUGH = re.compile(r"'s API path \S+ reaches (?P<to>\S+), which ")
#: what trayapp.monitor.rootcause adds when the dependencies a service reports down answer their own checks
_DEP_ANSWERS = re.compile(
    r"\. (?P<deps>[^.]+?) answers? (?:its|their) own checks?: \S+'s connection to (?P<them>it|them) is down\."
)
#: what trayapp.monitor.rootcause adds when that backend's own row says its connection is stale
_STALE_BEHIND = re.compile(r"(?P<to>\S+)'s (?P<dep>\S+) connection is stale")


def _dep_names(deps: str) -> list[str]:
    names = []
    for fragment in deps.split("; "):
        name = fragment.split(":", 1)[0].strip()
        if name and name not in names and not name.startswith("and "):
            names.append(name)
    return names


def _friendly(name: str) -> str:
    return "MongoDB" if "mongo" in name.lower() else name


def _dependency_down(r: CheckResult) -> str:
    if stale := _STALE_BEHIND.search(r.detail):  # rootcause: the backend behind the proxy has a stale connection
        return f"{stale.group('to')}'s {stale.group('dep')} connection is stale"
    if answers := _DEP_ANSWERS.search(r.detail):  # rootcause: what it reports down answers its own check
        return f"{answers.group('deps')} up, but {r.service}'s connection to {answers.group('them')} is down"
    down = _DOWN.search(r.detail)
    if down and (names := _dep_names(down.group("deps"))):
        shown = " and ".join(_friendly(n) for n in names[:2]) + (" and more" if len(names) > 2 else "")
        through = _THROUGH.search(r.detail)
        if through is not None and getattr(r, "blocked_by", None) not in names:
            # the backend's report, read through the dev server: not known to be true of db itself
            return f"{through.group('to')} reports {shown} down"
        verb = "are" if len(names) > 1 else "is"
        return f"{shown} {verb} down; {r.service} affected"
    connecting = _CONNECTING.search(r.detail)
    if connecting and (names := _dep_names(connecting.group("deps"))):
        return f"{_friendly(names[0])} still connecting"
    return f"a dependency is down; {r.service} affected"


def _warning(r: CheckResult) -> str:
    said = r.detail.split("reports a warning: ", 1)
    return f"warning: {said[1].rstrip('.')}" if len(said) == 2 else "reports a warning"


def _exited(r: CheckResult) -> str:
    if "failed to start" in r.detail:
        return "failed to start"
    code = re.search(r"\b(?:code|status) (-?\d+)", r.detail)
    signal = re.search(r"\b(SIG[A-Z0-9]+)", r.detail)
    if code:
        return f"process exited (code {code.group(1)})"
    if signal:
        return f"process killed ({signal.group(1)})"
    return "process exited"


def _error(r: CheckResult) -> str:
    said = r.detail.split(": ", 1)[-1].rstrip(".")
    return f"check failed: {said}" if said else "check failed"


_PHRASES: dict[str, Callable[[CheckResult], str]] = {
    "ok": _ok,
    "slow": lambda r: f"slow: answered in {_latency(r.latency_ms) or 'too long'}",
    "refused": _refused,
    "address_mismatch": _address_mismatch,
    "timeout": _timeout,
    "reset": lambda r: f"connection reset on {_where(r)}",
    "protocol_error": _protocol_error,
    "dns": lambda r: "host name not found",
    "tls": lambda r: "TLS handshake or certificate failed",
    "http_status": _http_status,
    "dependency_down": _dependency_down,
    "unhealthy": lambda r: "health check says it is down",
    "warning": _warning,
    "auth_failed": lambda r: "MongoDB login refused",
    "error": _error,
    "exited": _exited,
    "stopped": lambda r: "stopped by you" if "by you" in r.detail else "not running (not started)",
    "start_timeout": lambda r: "started, but not healthy in time",
    "crash_loop": lambda r: "keeps crashing; restarts stopped",
    # reasons being added by issue 9/10 work; phrased here so they read well the day they land
    "stale_holder": lambda r: f"stale server on {_where(r)}",
    "paused": lambda r: f"server on {_where(r)} is paused (stopped)",
    "proxy_error": lambda r: f"API path {r.proxy.path} fails through the proxy" if r.proxy else "API proxy fails",
    "stale_connection": lambda r: "stale database connection; restart it",
}
