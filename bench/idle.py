"""Idle CPU and memory of the running tray app watching three healthy services.

    .venv/bin/python -m bench.idle [--warmup 300] [--window 60]

Starts a healthy backend, a TCP listener and NX-27017, runs the real app on Xvfb with
trayer as the tray host, lets it run for --warmup seconds, then measures its CPU time
over --window seconds and its memory (RSS, USS). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import start_backend, start_mongo
from tests.kit.services import service_toml
from tests.kit.x11 import x_desktop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=float, default=300)
    parser.add_argument("--window", type=float, default=60)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="trayapp-idle-"))
    api, vite, db = start_backend("healthy"), start_backend("healthy"), start_mongo(home)
    config = home / "stack.toml"
    config.write_text(
        service_toml("backend", "http", url=api.url())
        + service_toml("frontend", "tcp", host="127.0.0.1", port=vite.port)
        + service_toml("db", "mongo", uri=db.uri)
    )
    try:
        with x_desktop() as desktop:
            proc = subprocess.Popen(
                trayapp_command("--config", config),
                cwd=home,
                env=desktop.env(cli_env(home)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            app = psutil.Process(proc.pid)
            time.sleep(args.warmup)  # the thing measured is "after N minutes of running"
            before, started = app.cpu_times(), time.monotonic()
            time.sleep(args.window)
            after, elapsed = app.cpu_times(), time.monotonic() - started
            cpu = (after.user + after.system - before.user - before.system) / elapsed * 100
            memory = app.memory_full_info()
            print(
                f"after {args.warmup:.0f} s with 3 services (interval 2 s): "
                f"CPU {cpu:.2f} % of one core over {elapsed:.0f} s, "
                f"RSS {memory.rss / 2**20:.1f} MiB, USS {memory.uss / 2**20:.1f} MiB, "
                f"threads {app.num_threads()}"
            )
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        api.kill()
        vite.kill()
        db.stop()


if __name__ == "__main__":
    main()
