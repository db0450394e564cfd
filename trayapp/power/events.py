"""Knowing when the machine sleeps and wakes: one event stream from several sources.

Sources (logind's ``PrepareForSleep``, Windows ``WM_POWERBROADCAST``, macOS NSWorkspace, all in
``trayapp/power/`` and ``trayapp/ui/``) report to a :class:`PowerMonitor`, which also runs the fallback that
always works: every ``tick`` seconds it compares a clock that counts suspended time with one
that does not (:class:`ClockPair`); when their difference has grown by more than ``threshold``
since it last looked, the machine was asleep for that long.

One resume is one ``resumed`` event, whichever source sees it first: the monitor keeps the
suspended time it has already accounted for, so the clock detector does not fire again for a
resume logind already reported, and logind's late ``PrepareForSleep(false)`` is dropped when
the clocks got there first.

Qt-free: ``trayapp watch`` runs this as it is; the tray adds a Qt adapter on top.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)

#: seconds between two looks at the clock pair (cheap: two clock reads)
DEFAULT_TICK = 2.0
#: unaccounted suspended time above this is a resume; scheduling jitter stays far below it
DEFAULT_THRESHOLD = 5.0
#: awake seconds after "suspending" with no resume: the sleep was cancelled or its end was lost
#: (logind lets a delay lock hold the sleep back for 5 s by default, so 30 s is far past it)
DEFAULT_STUCK_AFTER = 30.0


class PowerEventKind(StrEnum):
    SUSPENDING = "suspending"
    RESUMED = "resumed"


@dataclass(frozen=True)
class PowerEvent:
    """The machine is about to sleep, or has just woken up."""

    kind: PowerEventKind
    source: str  # "logind", "clock", "windows", "macos", ...
    t: float  # Unix time it was noticed
    #: seconds the machine was suspended, from the clock pair (resumes only)
    slept_s: float | None = None

    def to_json(self) -> dict[str, object]:
        if self.kind is PowerEventKind.SUSPENDING:
            return {"event": "suspend", "source": self.source, "t": round(self.t, 3)}
        slept = None if self.slept_s is None else round(self.slept_s, 1)
        return {"event": "resume", "slept_s": slept, "source": self.source, "t": round(self.t, 3)}


PowerListener = Callable[[PowerEvent], None]


# -- clocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockPair:
    """Two named clocks in seconds: ``awake`` stops while the machine is suspended, ``total`` does not.

    ``total() - awake()`` grows only by suspended time (and, for the wall-clock pair, by clock
    changes), so the detector never depends on what ``time.monotonic()`` happens to mean on a
    platform.
    """

    awake_name: str
    total_name: str
    awake: Callable[[], float]
    total: Callable[[], float]

    def offset(self) -> float:
        """Suspended time so far (plus a constant): ``total - awake``."""
        return self.total() - self.awake()

    def describe(self) -> str:
        return f"{self.total_name} - {self.awake_name}"


def _clock(clock_id: int) -> Callable[[], float]:
    return lambda: time.clock_gettime(clock_id)


def linux_clock_pair() -> ClockPair:
    """Linux: ``CLOCK_BOOTTIME`` counts suspend, ``CLOCK_MONOTONIC`` does not."""
    if sys.platform != "linux":
        raise OSError("CLOCK_BOOTTIME exists only on Linux")
    return ClockPair("CLOCK_MONOTONIC", "CLOCK_BOOTTIME", _clock(time.CLOCK_MONOTONIC), _clock(time.CLOCK_BOOTTIME))


def macos_clock_pair() -> ClockPair:
    """macOS: ``CLOCK_MONOTONIC`` counts sleep, ``CLOCK_UPTIME_RAW`` does not."""
    if sys.platform == "darwin":
        return ClockPair(
            "CLOCK_UPTIME_RAW", "CLOCK_MONOTONIC", _clock(time.CLOCK_UPTIME_RAW), _clock(time.CLOCK_MONOTONIC)
        )
    raise OSError("CLOCK_UPTIME_RAW exists only on macOS")


def windows_clock_pair() -> ClockPair:
    """Windows: ``GetTickCount64`` counts sleep, ``QueryUnbiasedInterruptTime`` does not."""
    if sys.platform == "win32":
        kernel32 = ctypes.windll.kernel32
        kernel32.GetTickCount64.restype = ctypes.c_uint64
        kernel32.QueryUnbiasedInterruptTime.argtypes = [ctypes.POINTER(ctypes.c_uint64)]

        def unbiased() -> float:
            value = ctypes.c_uint64()
            kernel32.QueryUnbiasedInterruptTime(ctypes.byref(value))
            return value.value / 10_000_000  # 100 ns units

        return ClockPair(
            "QueryUnbiasedInterruptTime", "GetTickCount64", unbiased, lambda: kernel32.GetTickCount64() / 1000
        )
    raise OSError("GetTickCount64 exists only on Windows")


def wall_clock_pair() -> ClockPair:
    """Anywhere else: a wall-clock jump against ``CLOCK_MONOTONIC`` (a clock change also looks like a resume)."""
    awake = _clock(time.CLOCK_MONOTONIC) if hasattr(time, "CLOCK_MONOTONIC") else time.perf_counter
    return ClockPair("CLOCK_MONOTONIC", "time.time (wall clock)", awake, time.time)


def system_clock_pair() -> ClockPair:
    """The pair this platform has; the wall clock when it has none of the named ones."""
    native = {"linux": linux_clock_pair, "darwin": macos_clock_pair, "win32": windows_clock_pair}
    for make in (native.get(sys.platform, wall_clock_pair), wall_clock_pair):
        try:
            pair = make()
            pair.offset()
            return pair
        except (OSError, AttributeError) as exc:  # an old kernel or a missing API
            log.info("clock pair %s unavailable: %s", make.__name__, exc)
    raise AssertionError("unreachable: the wall clock pair always works")


# -- sources -----------------------------------------------------------------------


class PowerSource(Protocol):
    """A native sleep/wake source: reports to the monitor from its own thread or the GUI thread."""

    name: str

    def start(self, power: PowerMonitor) -> bool:
        """Begin reporting; False when this source is not available here (the fallback remains)."""

    def stop(self) -> None:
        """Stop reporting and release what it holds (bounded)."""


# -- the monitor ---------------------------------------------------------------------


class PowerMonitor:
    """Merges sleep/wake sources and the clock-gap fallback into one ``suspending``/``resumed`` stream.

    Listeners are called on the reporting thread (a source's thread, the GUI thread for native
    event filters, or the clock ticker), one event at a time and in order. A ``suspending``
    listener must do its pausing before it returns: a source may let the machine sleep then.
    """

    def __init__(
        self,
        *,
        clocks: ClockPair | None = None,
        tick: float | None = DEFAULT_TICK,
        threshold: float = DEFAULT_THRESHOLD,
        stuck_after: float = DEFAULT_STUCK_AFTER,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.clocks = clocks or system_clock_pair()
        self.tick = tick
        self.threshold = threshold
        self.stuck_after = stuck_after
        self._wall = wall
        self._lock = threading.RLock()  # held while deciding and delivering: events stay in order
        self._listeners: list[PowerListener] = []
        self._sources: list[PowerSource] = []
        self._active: list[PowerSource] = []
        self._accounted = self.clocks.offset()  # suspended time already reported (plus a constant)
        self._asleep = False
        self._asleep_since = 0.0  # the awake clock when "suspending" was reported
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- wiring (before start) -------------------------------------------------------

    def subscribe(self, listener: PowerListener) -> None:
        self._listeners.append(listener)

    def add_source(self, source: PowerSource) -> None:
        self._sources.append(source)

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> list[str]:
        """Start the native sources and the clock ticker; returns the names of the sources that run."""
        with self._lock:
            self._accounted = self.clocks.offset()
        for source in self._sources:
            try:
                ok = source.start(self)
            except Exception:  # noqa: BLE001 - a broken source must leave the fallback running
                log.exception("sleep/wake source %s failed to start", source.name)
                ok = False
            if ok:
                self._active.append(source)
            else:
                log.info("sleep/wake source %s is not available; the clock fallback covers it", source.name)
        if self.tick is not None and self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="trayapp-power-clock", daemon=True)
            self._ticker.start()
        names = [s.name for s in self._active] + [f"clock ({self.clocks.describe()})"]
        log.info("sleep/wake sources: %s", ", ".join(names))
        return names

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        for source in self._active:
            try:
                source.stop()
            except Exception:  # noqa: BLE001 - shutdown goes on
                log.exception("sleep/wake source %s failed to stop", source.name)
        self._active = []
        if self._ticker is not None:
            self._ticker.join(timeout)
            self._ticker = None

    @property
    def asleep(self) -> bool:
        """True between ``suspending`` and the ``resumed`` that follows it."""
        return self._asleep

    @property
    def sources(self) -> list[str]:
        return [s.name for s in self._active]

    # -- reports (any thread) -------------------------------------------------------------

    def report_suspending(self, source: str) -> PowerEvent | None:
        """A source says the machine is about to sleep. Returns the event, or None if already asleep."""
        with self._lock:
            if self._asleep:
                return None
            self._asleep = True
            self._asleep_since = self.clocks.awake()
            self._accounted = self.clocks.offset()
            event = PowerEvent(PowerEventKind.SUSPENDING, source, self._wall())
            self._deliver(event)
            return event

    def report_resumed(self, source: str) -> PowerEvent | None:
        """A source says the machine is back. Returns the event, or None when this resume was already reported."""
        with self._lock:
            gap = self.clocks.offset() - self._accounted
            if not self._asleep and gap <= self.threshold:
                log.debug("%s reported a resume that was already reported", source)
                return None
            return self._resumed(source, gap)

    def poll(self) -> PowerEvent | None:
        """One look at the clock pair (the ticker's job; tests call it directly)."""
        with self._lock:
            gap = self.clocks.offset() - self._accounted
            if gap > self.threshold:
                return self._resumed("clock", gap)
            if self._asleep and self.clocks.awake() - self._asleep_since > self.stuck_after:
                # We have been running all along: the sleep was cancelled or its resume signal lost.
                log.warning("no resume %g s after the machine was to sleep; resuming checks", self.stuck_after)
                return self._resumed("clock", gap)
            if not self._asleep or gap < 0:
                # Follow slow drift (and a wall clock set back) so it never adds up to a false resume;
                # while asleep a short sleep's gap is kept for the source's resume to report.
                self._accounted += gap
            return None

    # -- internals (lock held) --------------------------------------------------------------

    def _resumed(self, source: str, gap: float) -> PowerEvent:
        self._asleep = False
        self._accounted += gap
        event = PowerEvent(PowerEventKind.RESUMED, source, self._wall(), slept_s=max(0.0, gap))
        self._deliver(event)
        return event

    def _deliver(self, event: PowerEvent) -> None:
        log.info("power: %s (from %s%s)", event.kind, event.source, _slept_text(event))
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("power listener failed")

    def _tick_loop(self) -> None:
        assert self.tick is not None
        while not self._stop.wait(self.tick):
            self.poll()


def _slept_text(event: PowerEvent) -> str:
    return "" if event.slept_s is None else f", slept {event.slept_s:.1f} s"
