"""Log-follow latency and throughput against a real writer process.

    .venv/bin/python -m bench.logtail [--lines 3000] [--rate 1000] [--burst-rate 20000] [--seconds 3]

Latency: a writer process appends lines at a modest rate, each stamped with
``time.monotonic_ns()`` just before its write+flush; ``LogTailer``'s ``on_batch`` notes when
each line arrives. (The monotonic clock is system-wide on Linux, macOS and Windows, so the
two processes' stamps compare.) Throughput: the writer appends ``--burst-rate`` lines/s for
``--seconds``. Also: the latency of lines that come after a quiet spell (the tailer polls less while a
file is quiet), the tailer's CPU when idle with nothing and with 20 files, and raw catch-up speed of a
follower reading a big file from its start. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from trayapp.logs.tail import FileFollower, LogItem, LogLine, LogTailer

PAD = "x" * 60  # lines of about 90 bytes


def write(path: Path, rate: float, count: int) -> None:
    """The writer process: ``count`` lines at ``rate`` lines/s, each flushed as it is written."""
    with path.open("a", encoding="utf-8") as fh:
        start = time.monotonic()
        for i in range(count):
            ahead = start + i / rate - time.monotonic()
            if ahead > 0.001:
                time.sleep(ahead)  # pacing the writer, not synchronising anything
            fh.write(f"{i} {time.monotonic_ns()} {PAD}\n")
            fh.flush()


class Arrivals:
    """on_batch for the tailer: records each line's latency and when the last one came."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.batches = 0
        self.last_ns = 0
        self.done = threading.Event()
        self.expected = 0

    def __call__(self, items: list[LogItem]) -> None:
        now = time.monotonic_ns()
        self.batches += 1
        for item in items:
            if isinstance(item, LogLine):
                self.latencies_ms.append((now - int(item.text.split()[1])) / 1e6)
        self.last_ns = now
        if len(self.latencies_ms) >= self.expected:
            self.done.set()


def run_writer(work: Path, rate: float, count: int, interval: float) -> tuple[Arrivals, float, float]:
    """Follow a file while a writer process fills it; returns arrivals, wall seconds and tailer CPU seconds."""
    path = work / f"app-{rate:g}-{interval:g}.log"
    path.write_bytes(b"")
    arrivals = Arrivals()
    arrivals.expected = count
    tailer = LogTailer(arrivals, interval=interval)
    tailer.add(path, "bench")
    tailer.start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    writer = subprocess.Popen([sys.executable, "-m", "bench.logtail", "--write", str(path), str(rate), str(count)])
    try:
        writer.wait(timeout=count / rate + 60)
        arrivals.done.wait(timeout=30)
    finally:
        writer.kill()
        tailer.stop()
    return arrivals, time.monotonic() - wall0, time.process_time() - cpu0


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   max {ordered[-1]:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--burst-rate", type=float, default=20000)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds between lines of the quiet-spell case")
    parser.add_argument("--quiet-lines", type=int, default=5)
    parser.add_argument("--write", nargs=3, metavar=("PATH", "RATE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write(Path(args.write[0]), float(args.write[1]), int(args.write[2]))
        return

    work = Path(tempfile.mkdtemp(prefix="trayapp-bench-logtail-"))
    try:
        print(f"follow latency, write+flush -> on_batch, {args.lines} lines at {args.rate:g} lines/s:")
        for interval in (0.1, 0.02):
            arrivals, _, _ = run_writer(work, args.rate, args.lines, interval)
            got = len(arrivals.latencies_ms)
            print(f"  interval {interval:4.2f} s   {summary(arrivals.latencies_ms)}   ({got}/{args.lines} lines)")

        count = int(args.burst_rate * args.seconds)
        arrivals, wall, cpu = run_writer(work, args.burst_rate, count, 0.1)
        got = len(arrivals.latencies_ms)
        print(f"throughput, writer at {args.burst_rate:g} lines/s for {args.seconds:g} s ({count} lines):")
        print(
            f"  delivered {got}/{count} lines in {wall:.2f} s = {got / wall:,.0f} lines/s, {arrivals.batches} batches"
        )
        print(f"  latency {summary(arrivals.latencies_ms)}")
        print(f"  tailer CPU {cpu / wall:.1%} of one core")

        sparse = max(2, args.quiet_lines)
        arrivals, _, _ = run_writer(work, 1 / args.quiet, sparse, 0.1)
        print(
            f"after a quiet spell: {sparse} lines {args.quiet:g} s apart (the tailer backs off while idle):"
            f"\n  {summary(arrivals.latencies_ms)}"
        )

        idle = LogTailer(lambda items: None, interval=0.1)
        idle.start()
        cpu0, wall0 = time.process_time(), time.monotonic()
        threading.Event().wait(2.0)  # let the idle tailer run for a while
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        idle.stop()
        print(f"idle: nothing to follow: tailer CPU {cpu / wall:.3%} of one core")

        paths = [work / f"idle{i}.log" for i in range(20)]
        for path in paths:
            path.write_bytes(b"quiet\n")
        tailer = LogTailer(lambda items: None, interval=0.1)
        for path in paths:
            tailer.add(path, path.stem)
        tailer.start()
        cpu0, wall0 = time.process_time(), time.monotonic()
        threading.Event().wait(2.0)  # let the idle tailer run for a while
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        tailer.stop()
        print(f"idle: 20 quiet files at interval 0.1 s: tailer CPU {cpu / wall:.3%} of one core")

        big = work / "big.log"
        with big.open("w", encoding="utf-8") as fh:
            fh.writelines(f"{i} 0 {PAD}\n" for i in range(1_000_000))
        size = big.stat().st_size
        started = time.perf_counter()
        lines = 0
        with FileFollower(big, "big", from_start=True) as follower:
            lines += len(follower.poll())
            while follower.behind:
                lines += len(follower.poll())
        took = time.perf_counter() - started
        print(
            f"catch-up: one follower reading {size / 1e6:.0f} MB from the start: {lines:,} lines in {took:.2f} s"
            f" = {lines / took:,.0f} lines/s, {size / 1e6 / took:.0f} MB/s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
