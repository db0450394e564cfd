"""The tray at start-up: several services that are down make one popup, not one per service
as each reaches its threshold (issue 9, section 5). The real tray, real closed ports, a real
healthy backend."""

from __future__ import annotations

from tests.kit.servers import free_port, start_backend
from trayapp.config.load import parse_config
from trayapp.model import State

WAIT_MS = 15_000


def test_a_start_up_with_three_services_down_raises_one_summary(qtbot, tray_app, tmp_path) -> None:
    backend = start_backend("healthy")
    try:
        # Nothing listens on the three ports; their thresholds differ, so each is confirmed
        # down at its own time (after 1, 3 and 6 checks 0.3 s apart): three popups before.
        text = f'[[service]]\nname = "api"\nkind = "http"\nurl = "{backend.url()}"\ninterval = 0.3\n'
        for name, down_after in (("vite", 1), ("db", 3), ("jobs", 6)):
            text += (
                f'\n[[service]]\nname = "{name}"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {free_port()}\n'
                f"interval = 0.3\ntimeout = 2\ndown_after = {down_after}\n"  # refused at once; the bound is ample
            )
        app = tray_app(parse_config(text, str(tmp_path / "trayapp.toml")))
        seen: list = []
        app.tray.announced.connect(seen.append)
        views = app.views
        down = ("vite", "db", "jobs")
        qtbot.waitUntil(  # each one's transition to down has reached the window
            lambda: all(views[n].state is State.DOWN and views[n].changed_at is not None for n in down),
            timeout=WAIT_MS,
        )
        assert views["jobs"].changed_at - views["vite"].changed_at > 0.5  # more than the batch window apart
        qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
        [summary] = seen
        assert summary.title == "3 services are down"
        assert set(summary.services) == {"vite", "db", "jobs"}  # api came up: silent
        assert views["api"].state is State.UP
    finally:
        backend.kill()
