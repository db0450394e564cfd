"""Who holds a watched port, asked again and again in one process, against its anchors in the same run.

    .venv/bin/python -m bench.port_owners [--rounds 300] [--runs 3] [--extra 500] [--compare DIR]

For each case (a backend alone; a backend whose forked worker shares its socket; a backend
with ``--extra`` more sleeping processes on the machine) a child process times
``listeners([port])`` repeated ``--rounds`` times after a first lookup (the question the
checker asks on every check that needs the holders), ``listeners([port], fresh=True)`` (every
process's open files read: what ``kill`` asks, and any first lookup) and
``psutil.net_connections('inet')``; this process times ``ss -ltnp 'sport = :PORT'`` as a
process. ``--compare DIR`` runs the same child against the trayapp package of DIR too (a
worktree of an older commit, where every lookup is a full one), case by case in the same run.
``--runs`` repeats everything, alternating the checkouts, so a busy moment on the shared
machine hits each alike. Prints the median (and range of the per-run medians) in ms, and the
repeated lookup's ratio to ``ss``. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.kit.servers import Backend, start_backend

CHILD = """
import inspect, json, sys, time
import psutil
from trayapp.checks import ports
port, rounds = int(sys.argv[1]), int(sys.argv[2])
def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter(); fn(); out.append((time.perf_counter() - t) * 1000)
    return out
found = ports.listeners([port])
full = (lambda: ports.listeners([port], fresh=True)) if "fresh" in inspect.signature(ports.listeners).parameters \\
    else (lambda: ports.listeners([port]))
print(json.dumps({
    "holders": sorted(x.pid for x in found),
    "file": ports.__file__,
    "repeated": timed(lambda: ports.listeners([port]), rounds),
    "full": timed(full, max(10, rounds // 10)),
    "psutil": timed(lambda: psutil.net_connections("inet"), max(10, rounds // 10)),
}))
"""


def child(checkout: Path, port: int, rounds: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=f"{checkout}{os.pathsep}{Path.cwd()}")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(port), str(rounds)],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    answer = json.loads(out.stdout)
    assert Path(answer.pop("file")).is_relative_to(checkout), "the child ran another checkout's trayapp"
    answer.pop("holders")
    return answer


def ss_times(port: int, rounds: int) -> list[float]:
    ss = shutil.which("ss") or "ss"
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([ss, "-ltnp", f"sport = :{port}"], capture_output=True, check=False, timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@contextmanager
def sleepers(count: int) -> Iterator[None]:
    """``count`` more processes on the machine, each asleep."""
    procs = [subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=30)


@contextmanager
def backend(fork_child: bool = False) -> Iterator[Backend]:
    server = start_backend("healthy", fork_child=fork_child)
    try:
        yield server
    finally:
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--extra", type=int, default=500)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    checkouts = [("this", Path.cwd())] + ([("before", args.compare.resolve())] if args.compare else [])
    cases = ["one holder", "holder + forked worker", f"one holder, {args.extra} more processes"]
    # (case, what) -> one median per run
    medians: dict[tuple[str, str], list[float]] = {}
    rounds_of: dict[str, int] = {}
    for _ in range(args.runs):
        for case in cases:
            with backend(fork_child="forked" in case) as server, sleepers(args.extra if "more" in case else 0):
                for label, checkout in checkouts:
                    for what, samples in child(checkout, server.port, args.rounds).items():
                        medians.setdefault((case, f"{label}: {what}"), []).append(statistics.median(samples))
                        rounds_of[what] = len(samples)
                ss = ss_times(server.port, max(10, args.rounds // 10))
                medians.setdefault((case, "ss -ltnp (a process)"), []).append(statistics.median(ss))
                rounds_of["ss"] = len(ss)
    print(
        f"median ms over {args.runs} runs (range of the per-run medians); per run: repeated lookups "
        f"{rounds_of['repeated']}, full lookups, psutil and ss {rounds_of['ss']} each"
    )
    for case in cases:
        print(f"\n{case}:")
        ss_median = statistics.median(medians[(case, "ss -ltnp (a process)")])
        for (which, what), values in medians.items():
            if which != case:
                continue
            m = statistics.median(values)
            print(f"  {what:32} {m:8.3f} ms  ({min(values):.3f}-{max(values):.3f})  {m / ss_median:6.3f}x ss")


if __name__ == "__main__":
    main()
