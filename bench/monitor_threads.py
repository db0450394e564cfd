"""Threads and CPU of the monitor engine at 3, 30 and 100 services, beside another checkout's.

    .venv/bin/python -m bench.monitor_threads [--services 3,30,100] [--compare DIR] [--seconds 20]
        [--engine] [--interval 2]

Each run is a child process that starts a :class:`trayapp.monitor.scheduler.Monitor` on N
healthy services (alternating HTTP and TCP against the test kit's backend, interval 2 s),
waits for every service's first check, then reports the process's threads (psutil: now and
the peak, sampled every 0.25 s) and its CPU (% of one core) over ``--seconds``. With
``--compare DIR`` the same child runs against the trayapp package of DIR too (for example
/work/main before this change), in the same run. With ``--engine`` every check is a stub that
waits 0-4 ms without using the CPU (as a local check waits for its answer) and then answers,
so the CPU is the engine's own: scheduling, the worker pool, debouncing and events (the
scheduler's work per finished check). Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.kit.servers import start_backend

CHILD = r"""
import json, random, sys, threading, time
import psutil
from trayapp.monitor.scheduler import Monitor, CheckEvent
from trayapp.model import CheckResult, Reason, State
from tests.kit.services import http_service, tcp_service
n, port, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
engine, interval = sys.argv[4] == "engine", float(sys.argv[5])
services = [
    http_service(f"http://127.0.0.1:{port}/api/health", name=f"api{i}", interval=interval) if i % 2 == 0
    else tcp_service("127.0.0.1", port, name=f"tcp{i}", interval=interval)
    for i in range(n)
]
class Stub:  # waits 0-4 ms without CPU (like a local check's I/O), then answers: the CPU is the engine's
    child_state = owns = None
    logs = ()
    def __init__(self, service):
        self.service = service
    def check(self):
        time.sleep(random.uniform(0, 0.004))
        s = self.service
        return CheckResult(s.name, s.kind, s.display_target, State.UP, Reason.OK, "ok", 0.1, time.time())
    def close(self):
        pass
    def reset(self):
        pass

seen, all_seen = set(), threading.Event()
def on_event(e):
    if isinstance(e, CheckEvent):
        seen.add(e.result.service)
        if len(seen) == n:
            all_seen.set()
m = Monitor(services, checker_factory=Stub) if engine else Monitor(services)
m.subscribe(on_event)
m.start()
all_seen.wait(30)
me = psutil.Process()
t0, c0 = time.monotonic(), sum(me.cpu_times()[:2])
peak = me.num_threads()
while time.monotonic() - t0 < seconds:
    time.sleep(0.25)
    peak = max(peak, me.num_threads())
cpu = (sum(me.cpu_times()[:2]) - c0) / (time.monotonic() - t0) * 100
print(json.dumps({"threads": me.num_threads(), "peak": peak, "cpu": cpu}), flush=True)
m.stop(0.2)
"""


def run(checkout: Path, n: int, port: int, seconds: float, engine: bool, interval: float) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=f"{checkout}{os.pathsep}{Path.cwd()}")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(port), str(seconds), "engine" if engine else "real", str(interval)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=checkout,
    )
    result: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", default="3,30,100")
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--engine", action="store_true", help="stub checks: the engine's own CPU")
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    backend = start_backend()
    try:
        checkouts = [("this", Path.cwd())] + ([("compare", args.compare)] if args.compare else [])
        print(f"{'services':>8}  {'checkout':<8}  {'threads':>7}  {'peak':>4}  {'CPU % of a core':>15}")
        for n in (int(x) for x in args.services.split(",")):
            for label, checkout in checkouts:
                r = run(checkout, n, backend.port, args.seconds, args.engine, args.interval)
                print(f"{n:>8}  {label:<8}  {r['threads']:>7}  {r['peak']:>4}  {r['cpu']:>15.2f}", flush=True)
    finally:
        backend.kill()


if __name__ == "__main__":
    main()
