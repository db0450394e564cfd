"""What the tray keeps in memory at idle (issue #12: RSS <= 1.3x a minimal tray with httpx).

The sizes are measured in bench/ (``bench.tray_cpu``, ``bench.tray_memory``); these tests pin
the causes, in a fresh interpreter each, as the tray starts: what it keeps and what it imports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtWidgets import QApplication

from tests.kit.cli import REPO, cli_env, trayapp_command
from tests.kit.servers import BACKEND_SCRIPT, free_port, start_backend
from tests.kit.services import service_toml
from tests.kit.wait import wait_until
from tests.kit.x11 import x_desktop
from trayapp.config.load import load_config
from trayapp.model import State
from trayapp.ui.models import ServicesModel
from trayapp.ui.window import MainWindow

WAIT_MS = 15_000

#: imports a module after PySide6 before and after ``keep_no_module_sources``; reports what
#: linecache holds of each and PySide6's answer for each ("uses PySide6": 0, "ignore": -1)
SOURCES_KEPT = textwrap.dedent(
    """
    import json, linecache, sys
    import trayapp.ui.app as app
    from trayapp.ui.sources import keep_no_module_sources
    feature = sys.modules["PySide6.support.feature"]
    # (PySide6 checks the module an import statement returns: with ``from M import x``, M)
    from trayapp.project.init import __name__ as _  # checked by PySide6's own code
    patched = keep_no_module_sources()
    from trayapp.ui.logview import __name__ as _    # mentions PySide6
    from trayapp.project.doctor import __name__ as _  # does not
    before, qt_module, plain_module = (
        sys.modules[n] for n in ("trayapp.project.init", "trayapp.ui.logview", "trayapp.project.doctor")
    )
    report = {
        "patched": patched,
        "cached": [m.__name__ for m in (before, qt_module, plain_module) if m.__file__ in linecache.cache],
        "answers": {m.__name__: feature.pyside_feature_dict.get(m.__name__) for m in (before, qt_module, plain_module)},
    }
    app.freeze_startup_objects()
    report["cached_after_start_up"] = sorted(linecache.cache)
    print(json.dumps(report))
    """
)


def test_modules_imported_by_the_tray_do_not_keep_their_source_in_memory() -> None:
    # PySide6's import hook reads every module's source through linecache, which keeps it for
    # good (8-12 MiB in the tray); the tray asks the same question without keeping anything.
    out = subprocess.run(
        [sys.executable, "-c", SOURCES_KEPT],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["patched"] is True
    assert report["cached"] == ["trayapp.project.init"]  # before: kept; after: not
    # PySide6's answers are unchanged: a module that mentions PySide6 takes part in its features
    assert report["answers"] == {"trayapp.project.init": -1, "trayapp.ui.logview": 0, "trayapp.project.doctor": -1}
    assert report["cached_after_start_up"] == []  # what was read before is dropped at start-up


def main_windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_the_idle_tray_builds_its_window_when_opened_showing_what_happened_before(
    qtbot, tray_app, backend, tmp_path
) -> None:
    # The window's widgets, fonts and styles are about 10 MiB the idle tray does not need.
    api = backend("healthy")
    path = tmp_path / "trayapp.toml"
    good = service_toml("backend", "http", url=api.url(), interval=0.2)
    path.write_text(good)
    app = tray_app(load_config(path), window=False)
    qtbot.waitUntil(lambda: app.views["backend"].state is State.UP, timeout=WAIT_MS)
    with qtbot.waitSignal(app.tray.announced, timeout=WAIT_MS) as popup:
        path.write_text(good.replace("interval = 0.2", "interval = -1"))
    assert popup.args[0].title == "trayapp.toml not applied"
    assert main_windows() == []  # checked, reloaded and announced without a window

    app.open_window("backend")  # the tray menu's Open
    [window] = main_windows()
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    sentence = f"{path}: service 'backend': field 'interval': must be greater than 0, not -1"
    assert window.config_status.text() == f"{sentence}. Not applied: trayapp goes on with the settings it had."
    tab = window.services_tab
    assert tab.current_name() == "backend"
    row = app.services_model.index(0, ServicesModel.STATE)
    assert app.services_model.data(row) == "up"

    path.write_text(good)  # fixed: the window built late hears of the reload
    qtbot.waitUntil(lambda: "usable again" in window.config_status.text(), timeout=WAIT_MS)
    tab.interval.setValue(0.3)  # and its Save to config reaches the file
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.settings_note.text().startswith(f"Saved to {path}"), timeout=WAIT_MS)
    assert "interval = 0.3" in path.read_text() and app.views["backend"].service.interval == 0.3


def test_a_window_built_after_a_crash_says_what_happened_to_the_process(qtbot, tray_app, tmp_path) -> None:
    port = free_port()
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
    path = tmp_path / "trayapp.toml"
    path.write_text(
        service_toml("backend", "http", url=f"http://127.0.0.1:{port}/api/health", interval=0.2, timeout=0.5)
        + f"start = {json.dumps(argv)}\nstart_timeout = 10\n"
    )
    app = tray_app(load_config(path), window=False)
    seen: list = []
    app.tray.announced.connect(seen.append)
    assert app.supervisor.start("backend").ok  # as `trayapp start backend` does
    os.kill(app.supervisor.status("backend").pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: any(p.title == "backend is down" for p in seen), timeout=WAIT_MS)
    assert main_windows() == []

    app.open_window("backend")
    tab = app.window.services_tab
    assert tab.process_box.isVisible()
    assert "SIGKILL" in tab.process_status.text()  # the crash, not "started in 0.3 s"


def test_the_running_tray_imports_only_what_its_services_need(tmp_path) -> None:
    # No Mongo service: no driver. An HTTP check's User-Agent: no importlib.metadata (email, zipfile,
    # csv: 2 MiB). The window and the log view: not until opened. Read from `python -X importtime`
    # of the real tray on a real X desktop, after its HTTP checks ran.
    api = start_backend("healthy")
    config = tmp_path / "stack.toml"
    config.write_text(
        service_toml("backend", "http", url=api.url(), interval=0.3)
        + service_toml("vite", "tcp", host="127.0.0.1", port=api.port, interval=0.3)
    )
    log = tmp_path / "imports.txt"
    try:
        with x_desktop() as desktop, log.open("w") as stderr:
            command = trayapp_command("--config", config)
            tray = subprocess.Popen(
                [command[0], "-X", "importtime", *command[1:]],
                cwd=tmp_path,
                env=desktop.env(cli_env(tmp_path)),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                wait_until(lambda: api.hits() >= 3, timeout=30, what="three HTTP checks by the tray")
                # the tray icon is drawn from PNGs: no SVG renderer (QtSvg and its image plugin)
                mapped = Path(f"/proc/{tray.pid}/maps").read_text()
            finally:
                tray.terminate()
                tray.wait(timeout=10)
    finally:
        api.kill()
    text = log.read_text()
    assert "Traceback" not in text, text
    imported = {line.rsplit("|", 1)[-1].strip() for line in text.splitlines() if line.startswith("import time:")}
    assert {"PySide6.QtWidgets", "trayapp.ui.app", "trayapp.checks.probes"} <= imported  # it is the tray
    unneeded = {"pymongo", "bson", "importlib.metadata", "email", "trayapp.ui.window", "trayapp.ui.logview"}
    assert imported & unneeded == set()
    assert "libQt6Svg" not in mapped and "libqsvg" not in mapped
