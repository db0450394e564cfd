"""Fixtures only; the servers themselves live in :mod:`tests.kit.servers`."""

from __future__ import annotations

import os
import signal

# Widgets render offscreen; the tray test starts its own X server and passes DISPLAY explicitly.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.kit.logind import PrivateBus, start_private_bus
from tests.kit.notifyd import NotificationServer, start_notification_server
from tests.kit.servers import Backend, Mongo, TlsFiles, free_port, make_tls_files, start_backend, start_mongo
from tests.kit.stack import Stack

__all__ = ["free_port"]

BackendFactory = Callable[..., Backend]
MongoFactory = Callable[[], Mongo]


@pytest.fixture
def backend() -> Iterator[BackendFactory]:
    """``backend(mode="healthy", host="127.0.0.1", delay=None, ignore_term=False, fork_child=False, tls=None,
    plain_on_tls="close", port=0, only_path=None, cwd=None)``; with ``tls`` (see the ``tls_files`` fixture) it
    speaks HTTPS only.

    Every backend started is SIGKILLed (whole process group) at teardown.
    """
    started: list[Backend] = []

    def factory(
        mode: str = "healthy",
        host: str = "127.0.0.1",
        delay: float | None = None,
        ignore_term: bool = False,
        fork_child: bool = False,
        tls: TlsFiles | None = None,
        plain_on_tls: str = "close",
        **more: object,
    ) -> Backend:
        server = start_backend(
            mode=mode,
            host=host,
            delay=delay,
            ignore_term=ignore_term,
            fork_child=fork_child,
            tls=tls,
            plain_on_tls=plain_on_tls,
            **more,  # type: ignore[arg-type]
        )
        started.append(server)
        return server

    yield factory
    for server in started:
        server.kill()


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A fresh local CA and a certificate it signed for 127.0.0.1, ::1 and localhost (trustme)."""
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoFactory]:
    """``mongo()`` starts an in-memory NX-27017 on a free port; all are stopped at teardown."""
    started: list[Mongo] = []

    def factory() -> Mongo:
        server = start_mongo(tmp_path)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The real web stack of tests/stack (see :mod:`tests.kit.stack`): ``stack.db()``,
    ``stack.backend(uri)``, ``stack.nodemon(uri)``, ``stack.vite(target)``, ``stack.project(name)``.

    Everything started is killed (whole process groups) at teardown.
    """
    started = Stack(tmp_path / "stack")
    yield started
    started.close()


@pytest.fixture
def tmp_config(tmp_path: Path) -> Callable[[str], Path]:
    """``tmp_config(text)`` writes (dedented) ``text`` to ``tmp_path/trayapp.toml`` and returns the path."""

    def write(text: str) -> Path:
        path = tmp_path / "trayapp.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def tray_app(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """``tray_app(config, power=None, window=True)``: the real TrayApp (engine + UI), started; shut
    down at teardown. ``window=False``: its main window is left to be built when first wanted, as
    the tray app does; else it is built before the start.

    Service logs and child records go under XDG_STATE_HOME (platformdirs), and the user's config
    folder (preferences, start at login, the default trayapp.toml) under XDG_CONFIG_HOME, both
    private to the test; managed children still running at the end are killed with their process group.
    """
    from trayapp.ui.app import TrayApp

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    apps: list[TrayApp] = []

    def start(config: object, *, window: bool = True, **kwargs: object) -> TrayApp:
        app = TrayApp(config, **kwargs)  # type: ignore[arg-type]
        apps.append(app)
        if window:
            qtbot.addWidget(app.window)
        app.start()
        return app

    yield start
    for app in apps:
        children = [app.supervisor.status(s.name) for s in app.config.services]
        app.shutdown()
        if app._window is not None:  # built during the test: closed as qtbot closes the others
            app._window.close()
            app._window.deleteLater()
        for status in children:
            if status is not None and status.pid:
                try:
                    os.killpg(os.getpgid(status.pid), signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture
def bus() -> Iterator[PrivateBus]:
    """A private D-Bus session bus (a real dbus-daemon), stopped at teardown."""
    started = start_private_bus()
    yield started
    started.stop()


@pytest.fixture
def server(bus: PrivateBus) -> Iterator[NotificationServer]:
    """A notification server (``org.freedesktop.Notifications``) on :func:`bus`."""
    started = start_notification_server(bus.address)
    yield started
    started.stop()
