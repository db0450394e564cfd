"""What the window shows per service: the latest result, a short history, the last change."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from trayapp.config.load import ServiceConfig
from trayapp.model import CheckResult, State, Transition


@dataclass(frozen=True)
class Sample:
    t: float  # Unix time
    state: State
    latency_ms: float | None


@dataclass
class Timeline:
    """Mutable per-service record, owned by one thread (the GUI's)."""

    service: ServiceConfig
    state: State = State.UNKNOWN  # debounced, as the monitor confirmed it
    last: CheckResult | None = None
    changed_at: float | None = None  # Unix time of the last transition
    history: deque[Sample] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))

    @property
    def detail(self) -> str:
        return self.last.detail if self.last is not None else "Not checked yet."

    def add_check(self, result: CheckResult, state: State) -> None:
        self.last = result
        self.state = state
        self.history.append(Sample(result.t, result.state, result.latency_ms))

    def add_transition(self, transition: Transition) -> None:
        self.state = transition.new
        self.changed_at = transition.t

    def uptime(self) -> float | None:
        """Share of recent checks that were up (0..1), None before the first check."""
        if not self.history:
            return None
        return sum(s.state is State.UP for s in self.history) / len(self.history)


#: about five minutes at the default 2 s interval
HISTORY_SAMPLES = 150
