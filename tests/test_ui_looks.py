"""How the window looks while it is used: healthy services in the history strip."""

from __future__ import annotations

from tests.kit.services import service_toml
from tests.test_ui import make_config
from trayapp.model import State
from trayapp.ui.icons import state_colour
from trayapp.ui.models import ServicesModel

WAIT_MS = 15_000


def test_a_healthy_fast_service_shows_in_its_history_strip(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    qtbot.waitUntil(lambda: len(app.views["backend"].history) >= 20, timeout=WAIT_MS)
    app.open_window()
    table = app.window.services_tab.table
    qtbot.waitUntil(lambda: table.isVisible(), timeout=WAIT_MS)
    cell = table.visualRect(app.services_model.index(0, ServicesModel.HISTORY))
    image = table.viewport().grab(cell).toImage()
    green = state_colour(State.UP, table.palette().base().color()).rgb()
    heights = [sum(image.pixel(x, y) == green for y in range(image.height())) for x in range(image.width())]
    bars = [h for h in heights if h > 0]
    # Each check's bar is at least a third of the strip high: before, the first slow check set the
    # scale and every later 1-3 ms check was a 2 px line along the bottom, a strip that looked empty.
    tall = [h for h in bars if h >= (cell.height() - 6) // 3]
    assert len(bars) >= 20 and len(tall) >= 0.9 * len(bars), heights
