"""The tray runs all day: nothing it keeps per check may grow without bound (issue #12).

A tray whose memory and GUI-thread work grow with every check gets slower by the hour; these
tests feed the real app thousands of check results and state changes, as the monitor's bridge
delivers them, and look at everything it keeps per check.
"""

from __future__ import annotations

import time

from tests.kit.servers import free_port
from tests.kit.services import service_toml
from trayapp.config.load import parse_config
from trayapp.model import CheckResult, Kind, Reason, State, Transition
from trayapp.monitor.history import HISTORY_SAMPLES
from trayapp.monitor.scheduler import CheckEvent
from trayapp.ui.models import SentenceRole, ServicesModel

NAMES = [f"svc{i}" for i in range(6)]


def _config() -> object:
    # Nothing listens on these ports and the interval is an hour: the monitor's own first
    # checks say "refused" once; everything after that is what the test feeds.
    text = "".join(
        service_toml(name, "tcp", host="127.0.0.1", port=free_port(), interval=3600, timeout=0.5) for name in NAMES
    )
    return parse_config(text, "test.toml")


def _feed(app, rounds: int) -> None:
    """``rounds`` checks per service; every fifth check flips the service between up and down."""
    for i in range(rounds):
        for n, name in enumerate(NAMES):
            up = (i // 5 + n) % 2 == 0
            state = State.UP if up else State.DOWN
            reason = Reason.OK if up else Reason.REFUSED
            now = time.time()
            result = CheckResult(name, Kind.TCP, "127.0.0.1", state, reason, f"check {i}", 1.0, now)
            if i % 5 == 0:
                old = State.DOWN if up else State.UP
                app.on_transitioned(Transition(name, old, state, reason, f"change {i}", now))
            app.on_checked(CheckEvent(result, state, 0 if up else 1))


def _sizes(app) -> dict[str, int]:
    app.tray._rebuild_menu()  # what opening the menu builds
    notifier = app.notifier
    return {
        "history": max(len(view.history) for view in app.views.values()),
        "rows": app.services_model.rowCount(),
        "dirty rows": len(app.services_model._dirty),
        "tooltip lines": len(app.tray.tooltip().splitlines()),
        "menu entries": len(app.tray.menu.actions()),
        "markers": len(app._marker_seq),
        "flap times": max((len(t) for t in notifier._changes.values()), default=0),
        "pending popups": len(notifier._ready) + len(notifier._batch),
    }


def test_thousands_of_checks_and_changes_keep_every_per_check_structure_bounded(qtbot, tray_app) -> None:
    app = tray_app(_config())
    app.open_window()
    qtbot.waitUntil(lambda: all(v.last is not None for v in app.views.values()), timeout=20_000)

    _feed(app, HISTORY_SAMPLES + 50)
    first = _sizes(app)
    _feed(app, 4 * HISTORY_SAMPLES)
    second = _sizes(app)

    assert second == first  # four times as many checks more: nothing grew
    assert first["history"] == HISTORY_SAMPLES
    assert first["rows"] == len(NAMES)
    assert first["dirty rows"] <= len(NAMES)
    assert first["tooltip lines"] == 1 + len(NAMES)
    assert len(app.log_feed.store) <= app.log_feed.store.capacity


def test_the_table_hears_of_many_checks_as_one_change_per_row(qtbot, tray_app) -> None:
    app = tray_app(_config())
    qtbot.waitUntil(lambda: all(v.last is not None for v in app.views.values()), timeout=20_000)
    model = app.services_model
    model.flush()
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda top, bottom: changed.append((top.row(), bottom.row())))

    _feed(app, 200)  # 1,200 checks in one go, faster than any refresh
    assert changed == []  # nothing yet: coalesced, not one repaint per check
    qtbot.waitUntil(lambda: changed != [], timeout=5_000)
    assert sorted(changed) == [(row, row) for row in range(len(NAMES))]  # then one per changed row
    assert model.data(model.index(0, ServicesModel.DETAIL), SentenceRole) == "check 199"
    assert app.tray.tooltip().splitlines()[1:] == [
        f"{name}: {app.views[name].state}"
        + ("" if app.views[name].state is State.UP else f" ({app.views[name].last.headline})")
        for name in NAMES
    ]
