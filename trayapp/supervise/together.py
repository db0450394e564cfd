"""Start all, Stop all, Restart all: every managed service, one after another, in dependency order.

The order comes from the services' ``depends_on`` (the names of services a service needs):
a service starts after what it depends on and stops before it. Where no service declares one
(or the config predates the key) the config's order is the order. The actions run one at a
time on the caller's thread (blocking and bounded by each service's own ``start_timeout`` /
``stop_timeout``; call off the GUI thread), through the same :class:`Supervisor` operations as
one service's ``start`` / ``stop``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from trayapp.supervise.kill import KillPlan
from trayapp.supervise.supervisor import ActionResult, ChildState, Supervisor

GROUP_ACTIONS = ("start", "stop", "restart")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Named)


def needs_of(service: _Named) -> tuple[str, ...]:
    """The names ``service`` depends on (config key ``depends_on``; empty where the config has none)."""
    return tuple(getattr(service, "depends_on", ()) or ())


def dependency_order(services: Sequence[S]) -> list[S]:
    """``services`` ordered so that each comes after every one it depends on; otherwise config order.

    Dependencies on names not in ``services`` (an unmanaged database, say) do not order anything.
    A cycle (the config loader refuses one; this stays total anyway) leaves its members in config order.
    """
    names = {s.name for s in services}
    pending = list(services)
    done: set[str] = set()
    ordered: list[S] = []
    while pending:
        ready = next((s for s in pending if all(d in done or d not in names for d in needs_of(s))), pending[0])
        pending.remove(ready)
        done.add(ready.name)
        ordered.append(ready)
    return ordered


@dataclass(frozen=True)
class GroupResult:
    """What Start all / Stop all / Restart all did: each service's result, in the order they were done."""

    action: str  # start | stop | restart
    results: tuple[tuple[str, ActionResult], ...]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(result.ok for _name, result in self.results)

    @property
    def detail(self) -> str:
        """One line: ``started 3 services in 2.1 s: db, backend, web``, or what failed and why."""
        past = {"start": "started", "stop": "stopped", "restart": "restarted"}[self.action]
        names = [name for name, _result in self.results]
        if not names:
            return "no managed services (none has a 'start' command)"
        count = f"{len(names)} service{'s' if len(names) != 1 else ''}"
        if self.ok:
            return f"{past} {count} in {self.elapsed_s:.1f} s: {', '.join(names)}"
        failed = [(name, result) for name, result in self.results if not result.ok]
        done = len(names) - len(failed)
        why = "; ".join(result.detail for _name, result in failed)
        return f"{past} {done} of {count}; {why}"

    def to_json(self) -> dict[str, object]:
        """``{"ok", "detail", "elapsed_s", "services": [{"service", "ok", "detail", "elapsed_s"}, ...]}``."""
        return {
            "ok": self.ok,
            "detail": self.detail,
            "elapsed_s": round(self.elapsed_s, 3),
            "services": [{"service": name, **result.to_json()} for name, result in self.results],
        }


Confirm = Callable[[str, KillPlan], bool]  # service name, the processes that hold its port: kill them?


def run_all(
    supervisor: Supervisor,
    services: Sequence[_Named],
    action: str,
    *,
    confirm: Confirm | None = None,
    on_result: Callable[[str, ActionResult], None] | None = None,
) -> GroupResult:
    """Do ``action`` to every managed one of ``services``: start in dependency order, stop in reverse,
    restart as stop all (reverse) then start all (in order), so no service runs without what it needs.

    A service whose dependency did not start is not started (its result says which one).
    ``confirm(name, plan)`` decides whether a process trayapp did not start may be killed to free
    that service's port (None: never). ``on_result`` is called after each service (on this thread).
    """
    if action not in GROUP_ACTIONS:
        raise ValueError(f"unknown action {action!r} (one of {', '.join(GROUP_ACTIONS)})")
    began = time.monotonic()
    order = dependency_order([s for s in services if supervisor.managed(s.name)])
    results: list[tuple[str, ActionResult]] = []

    def note(name: str, result: ActionResult) -> None:
        results.append((name, result))
        if on_result is not None:
            on_result(name, result)

    if action in ("stop", "restart"):
        stopped: dict[str, ActionResult] = {}
        for service in reversed(order):
            stopped[service.name] = supervisor.stop(service.name)
            if action == "stop":
                note(service.name, stopped[service.name])
        if action == "stop":
            return GroupResult(action, tuple(results), time.monotonic() - began)
    failed: set[str] = set()
    for service in order:
        name = service.name
        if action == "restart" and not stopped[name].ok and _still_running(supervisor, name):
            failed.add(name)
            note(name, stopped[name])
            continue
        missing = [d for d in needs_of(service) if d in failed]
        if missing:
            failed.add(name)
            note(name, ActionResult(False, f"{name} was not started: {', '.join(missing)} did not start", 0.0))
            continue
        ask = None if confirm is None else (lambda plan, name=name: confirm(name, plan))
        result = supervisor.start(name, confirm=ask)
        if not result.ok:
            failed.add(name)
        note(name, result)
    return GroupResult(action, tuple(results), time.monotonic() - began)


def _still_running(supervisor: Supervisor, name: str) -> bool:
    status = supervisor.status(name)
    return status is not None and status.state in (ChildState.RUNNING, ChildState.STARTING, ChildState.STOPPING)
