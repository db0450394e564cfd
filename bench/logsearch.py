"""How long the window freezes while someone types a search over a full log view.

    .venv/bin/python -m bench.logsearch [--lines 50000] [--needle ECONNRESET] [--gap-ms 120]

Fills a shown LogView (offscreen) with --lines lines (one in 500 holding the needle, so a
search finds about 100 matches spread over the whole buffer), then types the needle one key
every --gap-ms milliseconds, as a person does, and waits until the search is done. Prints the
longest gap between ticks of a 5 ms timer while typing and searching (how long the window
could not answer), and the time from the last key to the final match count. Numbers, not
assertions.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.kit.stall import Stall  # noqa: E402
from trayapp.logs.store import LogStore  # noqa: E402
from trayapp.logs.tail import LogLine  # noqa: E402
from trayapp.ui.app import freeze_startup_objects  # noqa: E402
from trayapp.ui.logview import LogFeed, LogView  # noqa: E402


def settle(app: QApplication, predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.001)  # ok-sleep: a polling loop of a measurement, not a synchronisation


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--needle", default="ECONNRESET")
    parser.add_argument("--gap-ms", type=int, default=120)
    args = parser.parse_args()
    app = QApplication([])
    store = LogStore()
    feed = LogFeed(store)
    view = LogView(store)
    feed.entries_added.connect(view.on_entries)
    view.resize(1000, 600)
    view.show()
    lines = [
        LogLine("api", "/tmp/api.log", f"line {i:06d} Error: read {args.needle} at socket {i}", 0.0, i)
        if i % 500 == 499
        else LogLine("api", "/tmp/api.log", f"line {i:06d} GET /api/items?page={i % 97} 200 12 ms - 512", 0.0, i)
        for i in range(args.lines)
    ]
    feed.on_batch(lines)
    settle(app, lambda: view.line_count() == min(args.lines, store.capacity))
    freeze_startup_objects()
    expected = sum(1 for line in lines[-store.capacity :] if args.needle.lower() in line.text.lower())

    stall = Stall()
    typed = {"n": 0, "last": 0.0}

    def key() -> None:
        typed["n"] += 1
        view.search.setText(args.needle[: typed["n"]])
        typed["last"] = time.perf_counter()
        if typed["n"] < len(args.needle):
            QTimer.singleShot(args.gap_ms, key)

    QTimer.singleShot(0, key)
    settle(app, lambda: typed["n"] == len(args.needle))
    settle(app, lambda: view.match_count() == expected and not getattr(view, "searching", lambda: False)())
    done = time.perf_counter()
    stall.timer.stop()
    print(
        f"{view.line_count():,} lines, typed {args.needle!r} one key every {args.gap_ms} ms: "
        f"longest GUI stall {stall.longest * 1000:.1f} ms; last key to {expected} matches "
        f"{(done - typed['last']) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
