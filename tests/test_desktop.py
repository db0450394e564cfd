"""The real app on a real (virtual) X screen with a real system tray host (Xvfb + trayer)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.cli import cli_env, run_cli, trayapp_command
from tests.kit.services import service_toml
from tests.kit.sigterm import stop_term_continue, term_to_a_worker_thread
from tests.kit.wait import wait_until
from tests.kit.x11 import Desktop, missing_tools, x_desktop


@pytest.fixture(autouse=True)
def _tools_present() -> None:
    missing = missing_tools()
    if missing:  # not a skip: these tests are part of the suite, and scripts/test installs the tools
        pytest.fail(f"missing desktop test tools {missing}; run scripts/test, which installs them")


@pytest.fixture
def desktop() -> Iterator[Desktop]:
    with x_desktop() as d:
        yield d


class App:
    def __init__(self, desktop: Desktop, home: Path, config: Path, session_bus: str | None = None) -> None:
        self.log = home / "app.log"
        env = desktop.env(cli_env(home))
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # no notification server unless the test brings one
        if session_bus is not None:
            env["DBUS_SESSION_BUS_ADDRESS"] = session_bus
        self.proc = subprocess.Popen(
            trayapp_command("-v", "--config", config),
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )

    def said(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=5)
        finally:
            self.proc.kill()


@pytest.fixture
def start_app(tmp_path) -> Iterator:
    apps: list[App] = []

    def start(desktop: Desktop, config: Path, session_bus: str | None = None) -> App:
        app = App(desktop, tmp_path, config, session_bus)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.proc.kill()
        app.proc.wait()


def tray_icon(desktop: Desktop) -> int | None:
    """Our window embedded in trayer's panel, if there is one."""
    for window in desktop.windows("trayapp"):
        if "panel" in desktop.ancestor_names(window):
            return window
    return None


def popups(desktop: Desktop) -> list[int]:
    return [w for w in desktop.windows("trayapp") if "TOOLTIP" in desktop.prop(w, "_NET_WM_WINDOW_TYPE")]


def main_window(desktop: Desktop) -> int | None:
    for window in desktop.windows("trayapp"):
        if 'WM_NAME(STRING) = "trayapp"' in desktop.prop(window, "WM_NAME"):
            return window
    return None


def test_icon_is_embedded_in_the_tray_turns_red_and_a_popup_appears(desktop, start_app, backend, tmp_path) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url(), interval=0.2))
    app = start_app(desktop, config)

    wait_until(lambda: tray_icon(desktop) is not None, timeout=15, what="the icon to be embedded in trayer")
    icon = tray_icon(desktop)
    assert icon is not None
    assert desktop.geometry(icon)[0] >= 16
    wait_until(lambda: desktop.colour(icon) == "green", timeout=10, what="a green (up) icon")
    assert popups(desktop) == []  # starting up healthy is not news

    api.set_mode("status_500")
    wait_until(lambda: desktop.colour(icon) == "red", timeout=10, what="the icon to turn red")
    wait_until(lambda: popups(desktop), timeout=10, what="a popup window")
    width, height = desktop.geometry(popups(desktop)[0])
    assert width > 100 and height > 30
    assert "popup: backend is down: backend answers 500" in app.said()
    assert app.stop() == 0


@pytest.mark.parametrize(
    "send", [term_to_a_worker_thread, stop_term_continue], ids=["to_a_worker_thread", "while_stopped"]
)
def test_the_tray_app_quits_on_sigterm_whichever_thread_takes_it(desktop, start_app, backend, tmp_path, send) -> None:
    # Issue #8: any of the tray's threads may take the signal, and the icon shows before the Qt event loop
    # runs, when QApplication.quit() did nothing: the old tray missed the SIGTERM in most of these runs.
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url(), interval=0.2))
    app = start_app(desktop, config)
    wait_until(lambda: tray_icon(desktop) is not None, timeout=15, what="the icon to be embedded in trayer")
    assert send(app.proc) == 0


def test_a_second_start_shows_the_first_ones_window_with_the_app_icon(desktop, start_app, backend, tmp_path) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url()))
    first = start_app(desktop, config)
    wait_until(lambda: tray_icon(desktop) is not None, timeout=15, what="the first instance's tray icon")
    assert main_window(desktop) is None
    second = subprocess.run(
        trayapp_command("--config", config),
        cwd=tmp_path,
        env=desktop.env(cli_env(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 0
    assert "already running" in second.stderr
    wait_until(lambda: main_window(desktop) is not None, timeout=10, what="the first instance's window")
    window = main_window(desktop)
    assert window is not None
    icon = desktop.prop(window, "_NET_WM_ICON")  # what a task bar and the window switcher show
    assert "_NET_WM_ICON(CARDINAL)" in icon and "Icon (16 x 16)" in icon and "Icon (64 x 64)" in icon
    assert first.stop() == 0  # SIGTERM quits with the window open too (it refuses to close: it hides)


def test_without_a_tray_the_window_opens_and_says_why(start_app, backend, tmp_path) -> None:
    api = backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(service_toml("backend", "http", url=api.url()))
    with x_desktop(with_tray=False) as bare:
        app = start_app(bare, config)
        wait_until(lambda: main_window(bare) is not None, timeout=20, what="the window, for want of a tray")
        assert "no system tray" in app.said()
        # the window carries trayapp's own icon (the window manager's and taskbar's _NET_WM_ICON)
        window = main_window(bare)
        assert window is not None and "_NET_WM_ICON(CARDINAL) = " in bare.prop(window, "_NET_WM_ICON")
        assert app.stop() == 0


def test_without_any_display_it_points_to_the_cli(tmp_path) -> None:
    env_free = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(env_free)
    try:
        result = run_cli(home=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.returncode == 2
    assert "no graphical display" in result.stderr and "trayapp status" in result.stderr
