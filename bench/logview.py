"""Follow latency and GUI stalls of the log view under a steady flood of log lines.

    .venv/bin/python -m bench.logview [--rate 20000] [--seconds 10] [--untuned]

A child process appends --rate lines a second (one in five a pino JSON line) to a file for
--seconds; a real LogTailer follows it into a LogFeed, a LogStore and a shown LogView
(offscreen). Each line carries the monotonic time it was written; when the view shows it the
latency is taken. Prints the median / p95 / max latency (write -> visible in the view) and
the longest gap between ticks of a 5 ms timer (how long the window was frozen). The app's
modules are imported and its start-up objects frozen as ``trayapp.ui.app.run`` does;
--untuned skips the freeze, to see what it is worth. A burst (the test suite's 200,000 lines
at once) is ``--rate 200000 --seconds 1``. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QObject, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.kit.stall import Stall  # noqa: E402
from trayapp.logs.store import LogStore  # noqa: E402
from trayapp.logs.tail import LogTailer  # noqa: E402
from trayapp.ui.app import freeze_startup_objects  # noqa: E402
from trayapp.ui.logview import LogFeed, LogView  # noqa: E402

WRITER = r"""
import json, os, sys, time
path, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
start = time.monotonic()
written = 0
while True:
    now = time.monotonic()
    if now - start >= seconds:
        break
    due = int((now - start) * rate) - written
    lines = []
    for i in range(written, written + due):
        if i % 5 == 4:
            lines.append(json.dumps({"level": 30, "time": int(time.time() * 1000), "pid": 1, "hostname": "box",
                                     "msg": f"request {i} done", "wt": f"{now:.6f}"}) + "\n")
        else:
            lines.append(f"wt={now:.6f} line {i} GET /api/items?page={i % 97} 200 12 ms - 512\n")
    if lines:
        os.write(fd, "".join(lines).encode())
    written += due
    time.sleep(0.002)
os.close(fd)
print(written)
"""

STAMP = re.compile(r'"?wt"?[=:]\s*"?(\d+\.\d+)')


class Latency(QObject):
    """On each view update, the time from write to visible of every line newly shown."""

    def __init__(self, view: LogView) -> None:
        super().__init__()
        self.view = view
        self.samples: list[float] = []
        self.seen = -1
        view.updated.connect(self.on_updated)

    @Slot()
    def on_updated(self) -> None:
        now = time.monotonic()
        last = self.view.seq_at(self.view.line_count() - 1)
        if last is None or last <= self.seen:
            return
        for entry in self.view.store.entries(since_seq=self.seen):
            if entry.seq > last:
                break
            match = STAMP.search(entry.text)
            if match:
                self.samples.append((now - float(match.group(1))) * 1000)
        self.seen = last


class Done(QObject):
    """Quits the event loop once the writer has finished and its last line is shown."""

    def __init__(self, writer: subprocess.Popen[str], view: LogView) -> None:
        super().__init__()
        self.writer, self.view = writer, view
        self.written: int | None = None
        self.timer = QTimer(self, interval=20)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    @Slot()
    def check(self) -> None:
        if self.written is None and self.writer.poll() is not None:
            assert self.writer.stdout is not None
            self.written = int(self.writer.stdout.read())
        if self.written is not None and self.view.seq_at(self.view.line_count() - 1) == self.written - 1:
            QApplication.quit()


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   max {ordered[-1]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--untuned", action="store_true")
    args = parser.parse_args()
    app = QApplication([])
    store = LogStore()
    feed = LogFeed(store)
    view = LogView(store)
    feed.entries_added.connect(view.on_entries)
    view.resize(1000, 600)
    view.show()
    latency = Latency(view)
    if not args.untuned:
        freeze_startup_objects()
    path = Path(tempfile.mkdtemp(prefix="trayapp-logview-")) / "api.log"
    path.touch()
    tailer = LogTailer(feed.on_batch, interval=0.1)
    tailer.add(path, "api")
    tailer.start()
    app.processEvents()
    stall = Stall()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(args.rate), str(args.seconds)], stdout=subprocess.PIPE, text=True
    )
    done = Done(writer, view)
    QTimer.singleShot(int((args.seconds + 30) * 1000), app.quit)  # a bound, whatever happens
    app.exec()
    written = done.written
    stall.timer.stop()
    tailer.stop()
    print(
        f"{args.rate:,.0f} lines/s for {args.seconds:.0f} s{' (untuned)' if args.untuned else ''}: "
        f"{written} written, {store.last_seq + 1} stored ({store.skipped} skipped), {view.line_count()} shown"
    )
    print(f"follow latency (write -> visible): {summary(latency.samples)}   over {len(latency.samples)} lines")
    print(f"longest GUI stall: {stall.longest * 1000:.1f} ms")


if __name__ == "__main__":
    main()
