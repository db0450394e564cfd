"""How long the tray's event loop stops while a backend and MongoDB hang.

    .venv/bin/python -m bench.hung_stall [--seconds 10] [--runs 3]

Runs the real TrayApp (offscreen) on a backend that accepts and never answers and an NX-27017
stopped with SIGSTOP, both checked every 0.1 s with a 1 s timeout, with the window open on the
Ports tab so port scans run too. Prints the longest gap between ticks of a 5 ms timer (how long
the window was frozen) per run. ``tests/test_ui.py`` asserts the contract (no probe or port scan
on the GUI thread, no stall as long as a hung check); this measures the figure. Numbers, not
assertions.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.kit.servers import start_backend, start_mongo  # noqa: E402
from tests.kit.services import service_toml  # noqa: E402
from tests.kit.stall import Stall  # noqa: E402
from trayapp.config.load import parse_config  # noqa: E402
from trayapp.ui.app import TrayApp, freeze_startup_objects  # noqa: E402


def one_run(seconds: float, workdir: Path) -> float:
    api = start_backend("hang")
    db = start_mongo(workdir)
    db.pause()
    config = parse_config(
        service_toml("backend", "http", url=api.url(), timeout=1.0, interval=0.1)
        + service_toml("db", "mongo", uri=db.uri, timeout=1.0, interval=0.1),
        "bench.toml",
    )
    app = TrayApp(config)
    try:
        app.start()
        app.open_window()
        app.window.tabs.setCurrentWidget(app.window.ports_tab)
        stall = Stall()
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        stall.timer.stop()
        return stall.longest
    finally:
        app.shutdown()
        api.kill()
        db.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    qapp = QApplication([])
    qapp.setQuitOnLastWindowClosed(False)
    freeze_startup_objects()  # as trayapp.ui.app.run does
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(home / "state")  # the supervisor's records, private to the bench
        longest = [one_run(args.seconds, home / f"run{i}") for i in range(args.runs)]
    shown = ", ".join(f"{s * 1000:.1f} ms" for s in longest)
    print(f"longest event-loop stall per run ({args.seconds:g} s each): {shown}")


if __name__ == "__main__":
    main()
