"""Restart time of a backend that ignores SIGTERM: should be stop_timeout + start time, nothing more.

    .venv/bin/python -m bench.restart [--rounds 5] [--stop-timeout 2]

Measures a plain start (start -> first healthy check) and a restart of the same backend
started with --ignore-term, and prints both and the overhead beyond stop_timeout + start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from tests.kit.servers import BACKEND_SCRIPT, free_port
from trayapp.config.load import parse_config
from trayapp.supervise.supervisor import Supervisor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stop-timeout", type=float, default=2.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayapp-restart-"))
    port = free_port()
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port), "--ignore-term"]
    text = (
        f'[[service]]\nname = "backend"\nkind = "http"\nurl = "http://127.0.0.1:{port}/api/health"\n'
        f"start = {json.dumps(argv)}\nstop_timeout = {args.stop_timeout}\n"
    )
    supervisor = Supervisor(parse_config(text, str(work / "t.toml")), log_dir=work / "logs", state_dir=work / "st")
    starts, restarts = [], []
    try:
        for _ in range(args.rounds):
            started = supervisor.start("backend")
            starts.append(started.elapsed_s)
            restarted = supervisor.restart("backend")
            assert restarted.ok, restarted.detail
            restarts.append(restarted.elapsed_s)
            supervisor.stop("backend")
    finally:
        supervisor.stop("backend")
    start_s, restart_s = statistics.median(starts), statistics.median(restarts)
    print(f"start (spawn -> healthy), median of {args.rounds}: {start_s:.3f} s")
    print(f"restart of a backend ignoring SIGTERM (stop_timeout {args.stop_timeout:g} s), median: {restart_s:.3f} s")
    print(f"overhead beyond stop_timeout + start: {restart_s - args.stop_timeout - start_s:+.3f} s")


if __name__ == "__main__":
    main()
