"""How long the window freezes when settings are saved while services hang.

    .venv/bin/python -m bench.save_stall [--rounds 5] [--services 3] [--timeout 2]

Starts --services backends that accept and never answer (``tests/kit/backend.py --mode
hang``), runs the real TrayApp (offscreen) on a config file naming them, waits until every
service has a check in flight, then clicks **Save to config** with a new interval for the
first service, --rounds times. For each save it takes the longest gap between ticks of a 5 ms
timer from the click until the window says the settings were saved and 0.5 s after (how long
the window could not answer), and the time from the click to that note. Numbers, not
assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = Path(tempfile.mkdtemp(prefix="trayapp-save-stall-"))
os.environ["XDG_STATE_HOME"] = str(_HOME / "state")  # child records and logs stay private to the run

from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.kit.servers import start_backend  # noqa: E402
from tests.kit.services import service_toml  # noqa: E402
from tests.kit.stall import Stall  # noqa: E402
from trayapp.config.load import load_config  # noqa: E402
from trayapp.ui.app import TrayApp, freeze_startup_objects  # noqa: E402


def wait(app: QApplication, predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.002)  # ok-sleep: a polling loop of a measurement, not a synchronisation


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    qt = QApplication(sys.argv[:1])
    servers = [start_backend("hang") for _ in range(args.services)]
    path = _HOME / "trayapp.toml"
    path.write_text(
        "".join(
            service_toml(f"api{i}", "http", url=s.url(), timeout=args.timeout, interval=0.5)
            for i, s in enumerate(servers)
        )
    )
    tray = TrayApp(load_config(path))
    tray.start()
    tray.open_window("api0")
    freeze_startup_objects()
    tab = tray.window.services_tab
    stalls, waits = [], []
    try:
        for round_ in range(args.rounds):
            # every service hangs in a check (the state after the first timeouts)
            wait(qt, lambda: all(v.last is not None for v in tray.views.values()), 30)
            wait(qt, lambda: all(s.checking for s in tray.monitor.status()), 30)
            tab.interval.setValue(1.0 + round_ * 0.5)
            tab.settings_note.setText("")
            stall = Stall()
            clicked = time.perf_counter()
            tab.save_button.click()
            wait(qt, lambda: tab.settings_note.text().startswith("Saved"), 30)
            saved = time.perf_counter()
            wait(qt, lambda saved=saved: time.perf_counter() - saved > 0.5, 5)
            stall.timer.stop()
            stalls.append(stall.longest * 1000)
            waits.append((saved - clicked) * 1000)
            print(f"save {round_ + 1}: longest GUI stall {stalls[-1]:7.1f} ms; click to 'Saved' {waits[-1]:7.1f} ms")
    finally:
        tray.shutdown()
        for server in servers:
            server.kill()
    print(
        f"{args.services} hung services, timeout {args.timeout:g} s, {args.rounds} saves: longest GUI stall "
        f"median {statistics.median(stalls):.1f} ms, max {max(stalls):.1f} ms; "
        f"click to 'Saved' median {statistics.median(waits):.0f} ms"
    )


if __name__ == "__main__":
    main()
