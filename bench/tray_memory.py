"""Where the tray's memory goes, beside the minimal tray with httpx in the same run.

    .venv/bin/python -m bench.tray_memory [--warmup 20] [--top 20] [--no-mongo]

Starts the services of bench.tray_cpu's 3-service run (a backend, a TCP listener and NX-27017;
--no-mongo: without the Mongo service), then the real tray and bench.minimal_tray --url on one
Xvfb desktop with trayer. After --warmup seconds it prints each one's RSS and USS and, from
/proc/PID/smaps, the RSS and private memory of each mapping (a shared library, a font,
``[heap]``, ``[anon]``: Python's object arenas, thread stacks, malloc arenas) where the two
differ most, and the files only the tray maps. Issue #12's goal: tray RSS <= 1.3x the minimal
tray with httpx. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.tray_cpu import config_for
from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import start_backend, start_mongo
from tests.kit.x11 import x_desktop

HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def mappings(pid: int) -> dict[str, collections.Counter[str]]:
    """kB per smaps field, per mapping name (a file's base name, or ``[heap]``, ``[anon]``, ...)."""
    found: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    name = "[anon]"
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            if HEADER.match(line):
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else "[anon]"
                name = os.path.basename(path) if path.startswith("/") else path
                continue
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                found[name][key] += int(value.split()[0])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--no-mongo", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="trayapp-memory-"))
    backends = [start_backend("healthy") for _ in range(2)]
    mongo = None if args.no_mongo else start_mongo(home)
    config = home / "stack.toml"
    if mongo is None:
        config.write_text(config_for(2, backends, None))
    else:
        config.write_text(config_for(3, backends, mongo))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        with x_desktop() as desktop:
            env = desktop.env(cli_env(home))
            tray = subprocess.Popen(trayapp_command("--config", config), env=env, cwd=home, **quiet)
            minimal = subprocess.Popen(
                [sys.executable, "-m", "bench.minimal_tray", "--url", backends[0].url()], env=env, **quiet
            )
            try:
                time.sleep(args.warmup)  # ok-sleep: the thing measured is the idle state after start-up
                print(f"after {args.warmup:.0f} s, {'2 services (no Mongo)' if mongo is None else '3 services'}:")
                for label, proc in (("tray", tray), ("minimal tray + httpx", minimal)):
                    m = psutil.Process(proc.pid).memory_full_info()
                    print(f"  {label:22} RSS {m.rss / 2**20:6.1f} MiB  USS {m.uss / 2**20:6.1f} MiB")
                ours, floor = mappings(tray.pid), mappings(minimal.pid)
                ratio = psutil.Process(tray.pid).memory_info().rss / psutil.Process(minimal.pid).memory_info().rss
                print(f"  tray / minimal tray + httpx: {ratio:.2f}x RSS (goal <= 1.3x)")
                rows = []
                for name in set(ours) | set(floor):
                    a, b = ours.get(name, collections.Counter()), floor.get(name, collections.Counter())
                    private_a = a["Private_Clean"] + a["Private_Dirty"]
                    private_b = b["Private_Clean"] + b["Private_Dirty"]
                    rows.append((a["Rss"] - b["Rss"], name, a["Rss"], b["Rss"], private_a, private_b))
                rows.sort(key=lambda r: -abs(r[0]))
                print(f"\n  {'RSS diff':>9} {'tray':>8} {'minimal':>8} {'tray pr.':>8} {'min. pr.':>8}  mapping (kB)")
                for diff, name, rss_a, rss_b, pa, pb in rows[: args.top]:
                    print(f"  {diff:9d} {rss_a:8d} {rss_b:8d} {pa:8d} {pb:8d}  {name}")
                only = sorted(((ours[n]["Rss"], n) for n in ours if n not in floor and ours[n]["Rss"]), reverse=True)
                total = sum(r for r, _ in only)
                print(f"\n  mapped only by the tray ({total} kB): " + ", ".join(f"{n} {r}" for r, n in only if r >= 40))
            finally:
                for proc in (tray, minimal):
                    proc.terminate()
                for proc in (tray, minimal):
                    proc.wait(timeout=10)
    finally:
        for b in backends:
            b.kill()
        if mongo is not None:
            mongo.stop()


if __name__ == "__main__":
    main()
