"""The tray's CPU over time and per service, beside its anchors in the same run.

    .venv/bin/python -m bench.tray_cpu [--services 3,30] [--minutes 2] [--sample 30] [--warmup 15]

For each number of services N: healthy local HTTP and TCP endpoints (the test kit's backend,
services alternating http and tcp; with N = 3 a backend, a TCP listener and NX-27017 as in
bench.idle), interval 2 s. Runs side by side on one Xvfb desktop with trayer as the tray host:

- the real tray app watching the N services;
- headless ``trayapp watch`` on the same config;
- with --compare DIR: the tray from another checkout too (before and after in one run);
- with the smallest N only: a minimal PySide6 tray doing an httpx GET every 2 s, and a
  minimal tray doing nothing (bench.minimal_tray): the floor for CPU and memory.

After --warmup seconds it samples each process's CPU time every --sample seconds for
--minutes, and prints CPU % of one core per sample (flat or growing?), per service, and the
memory (RSS, USS) and threads at the end. The machine is shared, so compare ratios to the
anchors of the same run rather than absolute numbers across runs. The issue's full runs:
``--services 3,30,100 --minutes 10 --sample 60``. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import Backend, Mongo, start_backend, start_mongo
from tests.kit.services import service_toml
from tests.kit.x11 import x_desktop


@dataclass
class Watched:
    label: str
    proc: subprocess.Popen[bytes]
    samples: list[float] = field(default_factory=list)
    last: float = 0.0

    def cpu_s(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def memory(self) -> str:
        try:
            p = psutil.Process(self.proc.pid)
            m = p.memory_full_info()
            return f"RSS {m.rss / 2**20:5.1f} MiB  USS {m.uss / 2**20:5.1f} MiB  threads {p.num_threads()}"
        except psutil.Error as exc:
            return f"(gone: {exc})"


def config_for(n: int, backends: list[Backend], mongo: Mongo | None) -> str:
    if n == 3 and mongo is not None:
        return (
            service_toml("backend", "http", url=backends[0].url())
            + service_toml("frontend", "tcp", host="127.0.0.1", port=backends[1].port)
            + service_toml("db", "mongo", uri=mongo.uri)
        )
    parts = []
    for i in range(n):
        b = backends[i % len(backends)]
        if i % 2 == 0:
            parts.append(service_toml(f"api{i}", "http", url=b.url()))
        else:
            parts.append(service_toml(f"tcp{i}", "tcp", host="127.0.0.1", port=b.port))
    return "".join(parts)


def run_size(n: int, anchors: bool, args: argparse.Namespace, backends: list[Backend], mongo: Mongo | None) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"trayapp-cpu{n}-"))
    config = home / "stack.toml"
    config.write_text(config_for(n, backends, mongo))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": home}
    with x_desktop() as desktop:
        env = desktop.env(cli_env(home))
        procs = [
            Watched(f"tray, {n} services", subprocess.Popen(trayapp_command("--config", config), env=env, **quiet)),
            Watched(
                f"watch, {n} services",
                subprocess.Popen(trayapp_command("watch", "--config", config), env=cli_env(home), **quiet),
            ),
        ]
        if args.compare:
            # Another checkout's tray (e.g. before a change) in the same run: its own home, since
            # the tray is one instance per user, and that checkout first on the import path.
            other = home / "compare"
            other.mkdir()
            other_env = desktop.env({**cli_env(other), "PYTHONPATH": str(args.compare)})
            procs.insert(
                1,
                Watched(
                    f"tray from {args.compare.name}",
                    subprocess.Popen(
                        trayapp_command("--config", config), env=other_env, **{**quiet, "cwd": args.compare}
                    ),
                ),
            )
        if anchors:
            minimal = [sys.executable, "-m", "bench.minimal_tray"]
            procs.append(
                Watched(
                    "minimal tray + httpx GET/2 s",
                    subprocess.Popen([*minimal, "--url", backends[0].url()], env=env, **quiet),
                )
            )
            procs.append(Watched("minimal tray", subprocess.Popen(minimal, env=env, **quiet)))
        try:
            time.sleep(args.warmup)  # ok-sleep: the thing measured is the steady state after start-up
            for w in procs:
                w.last = w.cpu_s()
            ticks = max(1, round(args.minutes * 60 / args.sample))
            started = time.monotonic()
            for _ in range(ticks):
                mark = time.monotonic()
                time.sleep(args.sample)  # ok-sleep: a sampling period
                span = time.monotonic() - mark
                for w in procs:
                    now = w.cpu_s()
                    w.samples.append((now - w.last) / span * 100)
                    w.last = now
            elapsed = time.monotonic() - started
            print(f"\n== {n} services, interval 2 s, {elapsed:.0f} s after {args.warmup:.0f} s warm-up")
            for w in procs:
                series = " ".join(f"{s:5.2f}" for s in w.samples)
                mean = statistics.fmean(w.samples)
                per = f"  ({mean / n:.3f} %/service)" if w.label.startswith(("tray", "watch")) else ""
                print(f"  {w.label:30} CPU % per {args.sample:.0f} s: {series}   mean {mean:5.2f}{per}")
            for w in procs:
                print(f"  {w.label:30} {w.memory()}")
        finally:
            for w in procs:
                w.proc.terminate()
            for w in procs:
                try:
                    w.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    w.proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", default="3,30", help="comma-separated numbers of services")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds per CPU sample")
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--compare", type=Path, help="also run the tray from this checkout (e.g. a worktree of main)")
    args = parser.parse_args()
    sizes = sorted({int(x) for x in args.services.split(",")})
    work = Path(tempfile.mkdtemp(prefix="trayapp-cpu-"))
    backends = [start_backend("healthy") for _ in range(3)]
    mongo = start_mongo(work) if 3 in sizes else None
    try:
        for i, n in enumerate(sizes):
            run_size(n, anchors=i == 0, args=args, backends=backends, mongo=mongo)
    finally:
        for b in backends:
            b.kill()
        if mongo is not None:
            mongo.stop()


if __name__ == "__main__":
    main()
