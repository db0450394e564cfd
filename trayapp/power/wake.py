"""What trayapp does around sleep: stay quiet, re-check at once on wake, sum it up in one popup.

On ``suspending`` the monitor pauses (results in flight are dropped) and popups are held. On
``resumed`` the probes' connections are rebuilt, checking resumes with a burst (now, then after
0.5, 1, 2 and 4 s) and down-popups are held for a grace period, because services need a moment
after wake and a timer-driven monitor would otherwise cry wolf. Then exactly one popup:

- "Back from sleep: all up in 800 ms" (or "in 4.0 s") the first moment every service has a
  fresh ``up`` result (fresh: checked after the resume, not a check already in flight then);
- or, at the end of the grace, "Back from sleep: db still down (refused)" for the services whose
  (debounced) state is still bad. A service with a single unconfirmed failure at that point is
  left to the ordinary popup path, which announces it once it is confirmed.

A service that goes down after everything was back, but inside the grace, is announced at the
grace's end ("down again"), so nothing confirmed is ever swallowed.

Qt-free; one small thread waits for the grace's end (on the injected clock, so tests move time).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from trayapp.clock import Clock
from trayapp.model import State, Transition
from trayapp.monitor.notifier import Announcement, Notifier, Severity
from trayapp.monitor.scheduler import CheckEvent, Event, Monitor
from trayapp.power.events import PowerEvent, PowerEventKind
from trayapp.text import humanize_duration

log = logging.getLogger(__name__)

DEFAULT_GRACE = 10.0
DEFAULT_BURST = (0.5, 1.0, 2.0, 4.0)
#: after the grace, how many graces more to wait for "all up" before giving the episode up
_GIVE_UP_AFTER = 6

_BAD = (State.DOWN, State.DEGRADED)


@dataclass(frozen=True)
class StillDown:
    """A service that was not back when the summary was made."""

    service: str
    state: State
    reason: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"service": self.service, "state": str(self.state), "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class WakeSummary:
    """The one popup after a wake, and the numbers behind it."""

    announcement: Announcement
    slept_s: float | None
    #: seconds from the resume to every service having a fresh up result; None if that did not happen
    all_up_s: float | None
    still_down: tuple[StillDown, ...]
    t: float  # Unix time

    def to_json(self) -> dict[str, object]:
        return {
            "event": "wake_summary",
            "title": self.announcement.title,
            "message": self.announcement.message,
            "all_up_s": None if self.all_up_s is None else round(self.all_up_s, 2),
            "still_down": [s.to_json() for s in self.still_down],
            "t": round(self.t, 3),
        }


WakeEvent = PowerEvent | WakeSummary
WakeListener = Callable[[WakeEvent], None]


@dataclass
class _Episode:
    """From one resume to its summary."""

    resumed_at: float  # monotonic
    grace_end: float  # monotonic
    slept_s: float | None
    names: tuple[str, ...]
    stale: set[str]  # services whose check was in flight at the resume: their next result is not fresh
    fresh: dict[str, CheckEvent] = field(default_factory=dict)
    all_up_s: float | None = None
    summarised: bool = False
    grace_over: bool = False


class WakeCoordinator:
    """Applies the sleep/wake policy to a monitor and a notifier.

    :meth:`on_power` is a :class:`~trayapp.power.events.PowerMonitor` listener (any thread); the
    monitor's events arrive on its worker threads. Listeners added with :meth:`subscribe` get
    every power event (after the monitor was paused, and before the re-checks after a resume)
    and every :class:`WakeSummary` (after it was posted to the notifier), on those same threads.
    """

    def __init__(
        self,
        monitor: Monitor,
        notifier: Notifier | None,
        clock: Clock,
        *,
        grace: float = DEFAULT_GRACE,
        burst: Sequence[float] = DEFAULT_BURST,
    ) -> None:
        self.notifier = notifier
        self.clock = clock
        self.grace = grace
        self.burst = tuple(burst)
        self._cond = threading.Condition()
        self._listeners: list[WakeListener] = []
        self._episode: _Episode | None = None
        self._asleep = False
        self._keep_paused = False  # the user had paused monitoring before the machine slept
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.monitor = monitor
        self.attach(monitor)
        clock.on_advance(self._notify)

    # -- wiring ------------------------------------------------------------------------

    def attach(self, monitor: Monitor) -> None:
        """Follow ``monitor`` from now on (the tray rebuilds its monitor when the config changes)."""
        with self._cond:
            self.monitor = monitor
            self._episode = None
        monitor.subscribe(lambda event: self._on_monitor_event(monitor, event))

    def subscribe(self, listener: WakeListener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="trayapp-wake", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def asleep(self) -> bool:
        return self._asleep

    @property
    def user_paused(self) -> bool:
        """True when monitoring was paused by the user before the last sleep (a wake does not undo it)."""
        return self._keep_paused

    @property
    def in_episode(self) -> bool:
        """True from a resume until its summary (or until it is given up)."""
        return self._episode is not None

    # -- power events (any thread) -------------------------------------------------------

    def on_power(self, event: PowerEvent) -> None:
        if event.kind is PowerEventKind.SUSPENDING:
            self._on_suspending(event)
        else:
            self._on_resumed(event)

    def _on_suspending(self, event: PowerEvent) -> None:
        with self._cond:
            if not self._asleep:
                self._asleep = True
                self._keep_paused = self.monitor.paused
                self._episode = None
            monitor = self.monitor
        monitor.pause()
        if self.notifier is not None:
            self.notifier.hold(math.inf)  # nothing pops while the machine goes down
        self._emit(event)

    def _on_resumed(self, event: PowerEvent) -> None:
        with self._cond:
            was_asleep, self._asleep = self._asleep, False
            monitor = self.monitor
            keep_paused = self._keep_paused if was_asleep else monitor.paused
            self._keep_paused = keep_paused
            now = self.clock.monotonic()
            if keep_paused:
                self._episode = None
            else:
                self._episode = _Episode(
                    resumed_at=now,
                    grace_end=now + self.grace,
                    slept_s=event.slept_s,
                    names=tuple(s.name for s in monitor.services),
                    stale={s.service.name for s in monitor.status() if s.checking},
                )
            self._cond.notify_all()
        if self.notifier is not None:
            self.notifier.hold(None if keep_paused else now + self.grace)
        self._emit(event)  # before the re-checks, so whoever prints sees the resume first
        monitor.reset_connections()  # e.g. Mongo clients are rebuilt rather than trusted
        # A driver that lost its sockets in the sleep gets the grace to reconnect before
        # its "db disconnected" counts as a stale connection (issue #10 section 5).
        monitor.hold_stale(self.grace)
        if not keep_paused:
            monitor.resume()
            monitor.burst(self.burst)

    # -- monitor events (worker threads) ---------------------------------------------------

    def _on_monitor_event(self, monitor: Monitor, event: Event) -> None:
        summary: WakeSummary | None = None
        with self._cond:
            ep = self._episode
            if ep is None or monitor is not self.monitor:
                return
            if isinstance(event, CheckEvent):
                name = event.result.service
                if name in ep.stale:
                    ep.stale.discard(name)
                    return
                ep.fresh[name] = event
                if ep.all_up_s is None and self._all_up(ep):
                    ep.all_up_s = self.clock.monotonic() - ep.resumed_at
                    ep.summarised = True
                    summary = self._summary(ep, ())
                    if ep.grace_over:
                        self._episode = None
            elif isinstance(event, Transition) and ep.grace_over and event.new in _BAD:
                # Confirmed after the grace: the ordinary popup path announces it; we are done.
                self._episode = None
        if summary is not None:
            self._publish(summary)

    @staticmethod
    def _all_up(ep: _Episode) -> bool:
        return all(name in ep.fresh and ep.fresh[name].result.state is State.UP for name in ep.names)

    # -- the grace's end (own thread) ---------------------------------------------------------

    def _run(self) -> None:
        while True:
            summary: WakeSummary | None = None
            with self._cond:
                if self._stopping:
                    return
                ep = self._episode
                now = self.clock.monotonic()
                if ep is None:
                    self._cond.wait()
                    continue
                due = ep.grace_end if not ep.grace_over else ep.grace_end + _GIVE_UP_AFTER * self.grace
                if now < due:
                    self._cond.wait(due - now)
                    continue
                if ep.grace_over:
                    log.info("wake: not every service came back %g s after waking; no summary", due - ep.resumed_at)
                    self._episode = None
                    continue
                ep.grace_over = True
                bad = self._still_bad(ep)
                if bad:
                    summary = self._summary(ep, bad)
                    ep.summarised = True
                    self._episode = None
                elif ep.summarised:
                    self._episode = None  # all up, and still so: the summary was made
            if summary is not None:
                self._publish(summary)

    def _still_bad(self, ep: _Episode) -> tuple[StillDown, ...]:
        """Services whose debounced state is bad now, worst first (lock held)."""
        bad = []
        for status in self.monitor.status():
            if status.state not in _BAD:
                continue
            fresh = ep.fresh.get(status.service.name)
            last = fresh.result if fresh is not None else status.last
            reason = str(last.reason) if last is not None else "unknown"
            detail = last.detail if last is not None else ""
            bad.append(StillDown(status.service.name, status.state, reason, detail))
        bad.sort(key=lambda s: -s.state.severity)
        return tuple(bad)

    # -- making and posting the summary ---------------------------------------------------------

    def _summary(self, ep: _Episode, bad: Iterable[StillDown]) -> WakeSummary:
        bad = tuple(bad)
        slept = "" if ep.slept_s is None or ep.slept_s < 1 else f"Slept {humanize_duration(ep.slept_s)}. "
        if not bad:
            assert ep.all_up_s is not None
            announcement = Announcement(
                title=f"Back from sleep: all up in {_duration(ep.all_up_s)}",
                message=f"{slept}{_join(ep.names)} answered after waking.",
                services=(),
                severity=Severity.INFO,
                kind="wake",
            )
        else:
            if ep.all_up_s is None:
                parts = [f"{s.service} still {s.state} ({s.reason})" for s in bad]
            else:  # went down after everything was back, inside the grace
                parts = [f"{s.service} {s.state} again ({s.reason})" for s in bad]
            lines = [f"{s.service}: {s.detail}" if s.detail else f"{s.service}: {s.state}" for s in bad]
            severity = Severity.CRITICAL if any(s.state is State.DOWN for s in bad) else Severity.WARNING
            announcement = Announcement(
                title="Back from sleep: " + ", ".join(parts),
                message=slept + "\n".join(lines),
                services=tuple(s.service for s in bad),
                severity=severity,
                kind="wake",
            )
        return WakeSummary(announcement, ep.slept_s, ep.all_up_s, bad, self.clock.wall())

    def _publish(self, summary: WakeSummary) -> None:
        log.info("wake: %s", summary.announcement.title)
        if self.notifier is not None:
            self.notifier.post(summary.announcement)
        self._emit(summary)

    def _emit(self, event: WakeEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("wake listener failed")

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()


def _duration(seconds: float) -> str:
    """``40 ms`` below a second, ``4.0 s`` above."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _join(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if not names:
        return "every service"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
