"""The popup policy: turns the monitor's transitions into announcements, without crying wolf.

Qt-free and timer-free. :meth:`Notifier.feed` takes transitions from any thread; the shell
calls :meth:`Notifier.poll` when :meth:`Notifier.next_due` has passed and shows what it returns.

- Startup (``unknown -> up``) is silent; a problem present at startup is announced. With
  :meth:`Notifier.expect_first_verdicts` (the tray calls it as it starts) the problems found
  at start-up make one summary, raised when every service has had its first verdict or its
  bound has passed, instead of one popup per service as each reaches its threshold.
- Transitions within ``batch_window`` of the first pending one make one announcement;
  a service that ends a batch where it started is not mentioned.
- ``flap_count`` changes of one service within ``flap_window`` make one "flapping"
  announcement, then that service is silent until it has had no change for ``settle_after``
  seconds, which is announced once ("settled").
- While do-not-disturb is on, whatever falls due is dropped; the bookkeeping goes on.
- The user's preferences (:meth:`Notifier.set_popups`): no popup of a muted kind (a batch
  drops the changes of that kind before it is worded, so "2 services changed" becomes the
  one that is worth saying), and a longer batch window, so a change undone within it makes
  no popup at all.
- One root cause, one popup (issue #10 section 4): a transition whose ``blocked_by`` names a
  service that goes bad in the same batch is folded into that one's popup ("db is down
  (refused); backend and frontend are affected"); one whose root was announced bad before says
  nothing of its own; one whose root is not (yet) known bad waits up to ``root_wait`` seconds
  for it, then is announced alone. Given ``needs`` (each service's depends_on and proxy_to), the
  popup of a service that went bad waits up to ``root_wait`` for the services that need it, and
  goes as soon as they are all bad too.
- A service going into ``stale_connection`` is announced even though it stays degraded, with
  the action ``restart`` (the popup offers Restart when trayapp manages the service).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from trayapp.clock import Clock
from trayapp.model import DELIBERATE, Reason, State, Transition
from trayapp.text import humanize_duration

log = logging.getLogger(__name__)

_BAD = (State.DOWN, State.DEGRADED)
_ANNOUNCED_ELSEWHERE = (Reason.STOPPED, Reason.CRASH_LOOP, Reason.START_TIMEOUT)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_STATE_SEVERITY = {State.DOWN: Severity.CRITICAL, State.DEGRADED: Severity.WARNING}


@dataclass(frozen=True)
class Announcement:
    """One popup. ``services`` is ordered worst first; a click opens the first."""

    title: str
    message: str  # plain text, one line per service
    services: tuple[str, ...]
    severity: Severity
    kind: str  # "problem" | "recovered" | "flapping" | "settled" | "mixed"; elsewhere "config", "wake", "watching"
    #: what a click on it may do for ``services[0]``: "restart" (a stale connection), or None
    action: str | None = None


@dataclass
class _Pending:
    """One service's net change inside the open batch."""

    start: State  # its state before the batch
    latest: Transition
    back_after: float | None  # outage length when ``latest`` is a recovery
    deliberate: bool = False  # it went through "starting" or "stopping": the supervisor announces the outcome


@dataclass
class _Flapping:
    last_change: float  # monotonic
    latest: Transition


class Notifier:
    """Decides which transitions become popups, and when."""

    def __init__(
        self,
        clock: Clock,
        *,
        batch_window: float = 0.5,
        flap_count: int = 4,
        flap_window: float = 60.0,
        settle_after: float = 60.0,
        root_wait: float = 10.0,
        needs: Mapping[str, Sequence[str]] | Callable[[], Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        self._clock = clock
        self.batch_window = batch_window
        self._base_window = batch_window  # the window without the user's wait
        self._muted: frozenset[str] = frozenset()  # announcement kinds to show no popup for
        self.flap_count = flap_count
        self.flap_window = flap_window
        self.settle_after = settle_after
        self.root_wait = root_wait
        #: each service's depends_on and proxy_to, as they are now (a callable follows config reloads)
        fixed: dict[str, Sequence[str]] = {} if needs is None or callable(needs) else dict(needs)
        self._needs: Callable[[], Mapping[str, Sequence[str]]] = needs if callable(needs) else (lambda: fixed)
        self._held_since: float | None = None  # monotonic; a root's popup waits for its dependents since
        self._bad_now: set[str] = set()  # services whose latest transition is into down/degraded
        #: affected services waiting for their root to go bad: name -> (deadline, pending)
        self._waiting: dict[str, tuple[float, _Pending]] = {}
        self._lock = threading.Lock()
        self._dnd = False
        self._batch: dict[str, _Pending] = {}
        self._batch_due: float | None = None
        self._ready: list[Announcement] = []
        self._changes: dict[str, deque[float]] = {}  # recent change times, for flapping
        self._flapping: dict[str, _Flapping] = {}
        self._outage: dict[str, float | None] = {}  # seconds spent bad so far, per bad service
        self._hold_until: float | None = None  # monotonic; transitions before it make no popup
        #: start-up: the services whose first verdict is still awaited, and until when (monotonic)
        self._awaiting: set[str] = set()
        self._startup_due: float | None = None

    # -- public API (any thread) -------------------------------------------------

    @property
    def do_not_disturb(self) -> bool:
        return self._dnd

    @do_not_disturb.setter
    def do_not_disturb(self, on: bool) -> None:
        with self._lock:
            self._dnd = on

    def set_popups(self, *, muted: Iterable[str] = (), wait_s: float = 0.0) -> None:
        """The user's popup preferences (any thread; see :mod:`trayapp.desktop.preferences`).

        ``muted``: kinds of announcement to show no popup for ("problem", "recovered",
        "flapping", "settled"); other kinds (a config not applied, the wake summary, …) are never
        muted here. ``wait_s``: seconds a batch stays open (at least ``batch_window`` as
        constructed), so a service that is back within it makes no popup, nor its recovery.
        Takes effect for what is not announced yet; the bookkeeping goes on either way.
        """
        with self._lock:
            self._muted = frozenset(muted)
            self.batch_window = max(self._base_window, wait_s)

    def hold(self, until: float | None) -> None:
        """Make no popup for transitions fed before monotonic time ``until`` (None: stop holding).

        Used for the grace period after wake: whoever holds says what still matters afterwards
        (see :meth:`post`).
        """
        with self._lock:
            self._hold_until = until
            if until is not None:
                self._batch, self._batch_due = {}, None

    def expect_first_verdicts(self, bounds: Mapping[str, float]) -> None:
        """Start-up: what the services in ``bounds`` turn out to be makes one announcement,
        raised when each of them has had its first verdict (its first change of state) or,
        at the latest, when the largest bound (seconds from now; see
        :func:`trayapp.monitor.scheduler.first_verdict_bound`) has passed. A verdict that
        comes later is announced on its own, as usual."""
        with self._lock:
            self._awaiting = set(bounds)
            self._startup_due = self._clock.monotonic() + max(bounds.values(), default=0.0) if bounds else None

    def post(self, announcement: Announcement) -> None:
        """Queue an announcement made elsewhere (the wake summary); DND still applies."""
        with self._lock:
            self._ready.append(announcement)

    def feed(self, transition: Transition) -> None:
        """Take one transition (any thread, e.g. the monitor's worker)."""
        with self._lock:
            now = self._clock.monotonic()
            self._collect(now)
            if self._startup_due is not None and now >= self._startup_due:
                self._end_startup()
            self._feed(transition, now)
            self._hold_for_startup(transition.service, now)

    def _feed(self, transition: Transition, now: float) -> None:
        """:meth:`feed`, the lock held."""
        name = transition.service
        back_after = self._track_outage(transition)
        was_bad = self._bad_now.copy()
        if transition.new in _BAD:
            self._bad_now.add(name)
        else:
            self._bad_now.discard(name)
        if self._hold_until is not None and now < self._hold_until:
            return
        if self._count_change(transition, now):
            return
        waited = self._waiting.pop(name, None)
        root = transition.blocked_by
        if transition.new in _BAD and root is not None and root != name:
            if root in was_bad and root not in self._waiting and not self._bad_in_batch(root):
                return  # its root was announced: no alarm of its own
            if not self._bad_in_batch(root):
                start = transition.old if waited is None else waited[1].start
                self._waiting[name] = (now + self.root_wait, _Pending(start, transition, back_after))
                return
        self._add_to_batch(name, transition, back_after, now)
        if transition.new in _BAD:
            self._release(name, now)
        self._hold_for_dependents(now)

    def _hold_for_startup(self, name: str, now: float) -> None:
        """Start-up: keep the batch open until every awaited service has had its first verdict
        (``name`` just had one), at most until the start-up bound; then close it as usual."""
        if self._startup_due is None:
            return
        self._awaiting.discard(name)
        if self._awaiting:
            if self._batch_due is not None:
                self._batch_due = max(self._batch_due, self._startup_due)
            return
        self._end_startup()
        if self._batch_due is not None:  # it waited for the bound: now only for the usual window
            due = now + self.batch_window
            if self._held_since is not None:
                due = max(due, self._held_since + self.root_wait)
            self._batch_due = due

    def _hold_for_dependents(self, now: float) -> None:
        """Keep the batch open (up to ``root_wait``) while a service in it that went bad has
        dependents that are not bad yet: they usually follow within a check or two."""
        dependents = _dependents(self._needs())  # service -> all that need it, directly or not
        pending = {
            d
            for name, p in self._batch.items()
            if p.latest.new in _BAD
            for d in dependents.get(name, ())
            if d not in self._bad_now
        }
        if pending:
            if self._held_since is None:
                self._held_since = now
            self._batch_due = self._held_since + self.root_wait
        elif self._held_since is not None:
            self._held_since = None
            self._batch_due = now + self.batch_window

    def _release(self, root: str, now: float) -> None:
        """Move the services waiting for ``root`` (and those waiting for them) into the batch."""
        for other, (_, pending) in list(self._waiting.items()):
            if pending.latest.blocked_by == root and other in self._waiting:
                del self._waiting[other]
                self._add_to_batch(other, pending.latest, pending.back_after, now, pending.start)
                self._release(other, now)

    def _bad_in_batch(self, name: str) -> bool:
        pending = self._batch.get(name)
        return pending is not None and pending.latest.new in _BAD

    def _add_to_batch(
        self, name: str, transition: Transition, back_after: float | None, now: float, start: State | None = None
    ) -> None:
        if self._batch_due is None:
            self._batch_due = now + self.batch_window
        pending = self._batch.get(name)
        first = (transition.old if start is None else start) if pending is None else pending.start
        deliberate = transition.deliberate or (pending is not None and pending.deliberate)
        self._batch[name] = _Pending(first, transition, back_after, deliberate)

    def poll(self) -> list[Announcement]:
        """The announcements due now, oldest first (call on the GUI thread at :meth:`next_due`)."""
        with self._lock:
            self._collect(self._clock.monotonic())
            due, self._ready = self._ready, []
            if self._dnd and due:
                log.debug("do not disturb: dropped %d announcement(s)", len(due))
                return []
            shown = [a for a in due if a.kind not in self._muted]
            if len(shown) < len(due):
                log.debug(
                    "popups of kinds %s are off: dropped %d", ", ".join(sorted(self._muted)), len(due) - len(shown)
                )
            return shown

    def next_due(self) -> float | None:
        """Monotonic time :meth:`poll` may next have something to say; None when nothing is pending."""
        with self._lock:
            times = [f.last_change + self.settle_after for f in self._flapping.values()]
            times += [deadline for deadline, _ in self._waiting.values()]
            if self._batch_due is not None:
                times.append(self._batch_due)
            if self._ready:
                times.append(self._clock.monotonic())
            return min(times, default=None)

    # -- bookkeeping (lock held) -------------------------------------------------

    def _collect(self, now: float) -> None:
        """Move everything due by ``now`` (closed batch, settled services) to the ready list."""
        due: list[tuple[float, Announcement]] = []
        for name, (deadline, pending) in list(self._waiting.items()):
            if now >= deadline:  # its root never went bad: it is news of its own
                del self._waiting[name]
                due.append((deadline, _single(name, pending)))
        if self._batch_due is not None and now >= self._batch_due:
            if self._startup_due is not None:
                self._end_startup()
            announcement = self._announce_batch(list(self._batch.items()))
            if announcement is not None:
                due.append((self._batch_due, announcement))
            self._batch, self._batch_due = {}, None
            self._held_since = None
        for name, flap in list(self._flapping.items()):
            settle_at = flap.last_change + self.settle_after
            if now >= settle_at:
                del self._flapping[name]
                self._changes.pop(name, None)
                due.append((settle_at, _settled(name, flap.latest, self.settle_after)))
        due.sort(key=lambda item: item[0])
        self._ready += [announcement for _, announcement in due]

    def _end_startup(self) -> None:
        if self._awaiting:
            log.info("start-up summary without a first verdict of %s", ", ".join(sorted(self._awaiting)))
        self._awaiting, self._startup_due = set(), None

    def _track_outage(self, t: Transition) -> float | None:
        """Update the per-service outage length; return it when ``t`` is a recovery."""
        name = t.service
        if t.new in _BAD:
            if t.old in _BAD:
                so_far = self._outage.get(name, 0.0)
                self._outage[name] = None if so_far is None or t.duration_s is None else so_far + t.duration_s
            else:
                self._outage[name] = 0.0
            return None
        so_far = self._outage.pop(name, 0.0)
        if t.old not in _BAD or so_far is None or t.duration_s is None:
            return None
        return so_far + t.duration_s

    def _count_change(self, t: Transition, now: float) -> bool:
        """Record a change for flapping; True when it is swallowed by (the start of) flapping."""
        name = t.service
        if name in self._flapping:
            self._flapping[name] = _Flapping(now, t)
            return True
        if t.old is State.UNKNOWN or t.deliberate or t.reason is Reason.STOPPED or t.old is t.new:
            return False  # start-up, starts and stops the user asked for, and a new reason are not flapping
        changes = self._changes.setdefault(name, deque())
        changes.append(now)
        while changes and changes[0] <= now - self.flap_window:
            changes.popleft()
        if len(changes) < self.flap_count:
            return False
        log.info("%s is flapping: %d changes in %g s", name, len(changes), self.flap_window)
        self._flapping[name] = _Flapping(now, t)
        self._batch.pop(name, None)
        if not self._batch:
            self._batch_due = None
        now_line = f"now {t.new}: {t.detail}" if t.new in _BAD else f"now {t.new}"
        self._ready.append(
            Announcement(
                title=f"{name} is flapping",
                message=f"{len(changes)} changes in {self.flap_window:g} s; {now_line}",
                services=(name,),
                severity=Severity.WARNING,
                kind="flapping",
            )
        )
        return True

    def _announce_batch(self, batch: list[tuple[str, _Pending]]) -> Announcement | None:
        """One announcement for a closed batch, or None when nothing in it is worth saying."""
        changed = [(name, p) for name, p in batch if _worth_saying(p) and _kind(p) not in self._muted]
        if not changed:
            return None
        bad = {name for name, p in changed if p.latest.new in _BAD}
        causes = {name: p.latest.blocked_by for name, p in changed if p.latest.new in _BAD}
        hops: dict[str, tuple[str, int]] = {}
        for name in causes:
            root, seen = causes[name], {name}
            while root in causes and causes[root] in bad and causes[root] not in seen:  # follow to the first root
                seen.add(root)
                root = causes[root]
            if root is not None and root in bad and root != name:
                hops[name] = (root, len(seen))
        affected: dict[str, list[str]] = {}
        for name, (root, _) in sorted(hops.items(), key=lambda item: (item[1][1], item[0])):  # nearest root first
            affected.setdefault(root, []).append(name)
        folded = {name for names in affected.values() for name in names}
        if affected:
            changed = [(name, p) for name, p in changed if name not in folded]
            if len(changed) == 1:
                root, p = changed[0]
                t = p.latest
                hit = tuple(affected.get(root, []))
                verb = "is" if len(hit) == 1 else "are"
                return Announcement(
                    f"{root} is {t.new} ({t.reason}); {_join(hit)} {verb} affected",
                    t.detail,
                    (root, *hit),
                    _severity(t.new),
                    "problem",
                )
        if len(changed) == 1:
            return _single(*changed[0])
        changed.sort(key=lambda item: -item[1].latest.new.severity)  # stable: arrival order within a state
        names = tuple(name for name, _ in changed)
        states = {p.latest.new for _, p in changed}
        if states == {State.UP}:
            title, kind = f"{_join(names)} are back", "recovered"
        elif State.UP in states:
            title, kind = f"{len(names)} services changed", "mixed"
        elif len(states) == 1:
            title, kind = f"{len(names)} services are {states.pop()}", "problem"
        else:
            title, kind = f"{len(names)} services are down or degraded", "problem"
        lines = []
        for name, p in changed:
            line = _line(name, p)
            if name in affected:
                verb = "is" if len(affected[name]) == 1 else "are"
                line += f"; {_join(tuple(affected[name]))} {verb} affected"
            lines.append(line)
        return Announcement(
            title=title,
            message="\n".join(lines),
            services=(*names, *(n for name in names for n in affected.get(name, []))),
            severity=_severity(changed[0][1].latest.new),  # the worst
            kind=kind,
        )


def _dependents(needs: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for service in needs:
        todo, seen = list(needs[service]), set()
        while todo:
            needed = todo.pop()
            if needed in seen or needed == service:
                continue
            seen.add(needed)
            found.setdefault(needed, set()).add(service)
            todo += needs.get(needed, ())
    return found


def _worth_saying(p: _Pending) -> bool:
    """A problem, or a recovery from one; not startup, not a bounce back to where it was."""
    new = p.latest.new
    stale = p.latest.reason is Reason.STALE_CONNECTION and new is State.DEGRADED
    if (new is p.start and not stale) or p.latest.reason in _ANNOUNCED_ELSEWHERE or p.latest.old in DELIBERATE:
        return False  # a start's or stop's outcome and a crash loop are announced by the supervisor
    if new is State.UP and p.deliberate:
        return False  # back because the user started it: "backend started in 1.2 s" says so
    if new in _BAD:
        return True
    return new is State.UP and p.start in _BAD


def _kind(p: _Pending) -> str:
    """The kind of announcement a change worth saying makes: "problem" or "recovered"."""
    return "problem" if p.latest.new in _BAD else "recovered"


def _severity(state: State) -> Severity:
    return _STATE_SEVERITY.get(state, Severity.INFO)


def _back(p: _Pending) -> str:
    return "back" if p.back_after is None else f"back after {humanize_duration(p.back_after)}"


def _single(name: str, p: _Pending) -> Announcement:
    t = p.latest
    if t.reason is Reason.STALE_CONNECTION and t.new in _BAD:
        return Announcement(f"{name} has a stale connection", t.detail, (name,), Severity.WARNING, "problem", "restart")
    if t.new in _BAD:
        return Announcement(f"{name} is {t.new}", t.detail, (name,), _severity(t.new), "problem")
    return Announcement(f"{name} is {_back(p)}", t.detail or f"{name} is up", (name,), Severity.INFO, "recovered")


def _line(name: str, p: _Pending) -> str:
    """One service's line in a popup about several: its headline, not its whole sentence (a
    notification is read at a glance; the window and the tooltip have the sentence)."""
    t = p.latest
    return f"{name}: {t.new} — {t.headline or t.detail}" if t.new in _BAD else f"{name}: {_back(p)}"


def _settled(name: str, t: Transition, quiet: float) -> Announcement:
    message = t.detail if t.new in _BAD else f"no change for {quiet:g} s"
    return Announcement(f"{name} has settled: {t.new}", message, (name,), _severity(t.new), "settled")


def _join(names: tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
