"""How soon `trayapp watch` reports a managed child's crash, beside its next-check fallback.

    .venv/bin/python -m bench.watch_exit [--rounds 10] [--compare DIR]

Starts a backend with ``trayapp start`` (interval 2 s, timeout 1 s), runs ``trayapp watch --json``
in another process, SIGKILLs the child and times the kill to the ``down`` transition read from
watch's stdout; then starts it again (watch follows the new child through its record) and
repeats. With ``--compare DIR`` the same rounds run with the trayapp package of DIR (e.g.
/work/main before this change), whose watch sees the crash at its checks (``down_after`` 2).
Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.wait import LineReader, wait_until
from trayapp.checks.ports import listeners


def rounds(home: Path, env: dict[str, str], n: int) -> list[float]:
    port = free_port()
    config = home / "stack.toml"
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(port)]
    config.write_text(
        '[[service]]\nname = "backend"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{port}/api/health"\ninterval = 2\ntimeout = 1\n'
        f"start = {json.dumps(argv)}\nstart_timeout = 10\n"
    )
    start = [*trayapp_command("start", "backend", "--config", config)]
    subprocess.run(start, env=env, cwd=home, capture_output=True, check=True)
    watch = subprocess.Popen(
        trayapp_command("watch", "--config", config, "--json"),
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    reader = LineReader(watch.stdout)
    took = []
    try:
        for _ in range(n):
            while True:  # until this child has been seen up
                event = json.loads(reader.line(timeout=30))
                if event["event"] == "transition" and event["to"] == "up":
                    break
            time.sleep(1.5)  # ok-sleep: a benchmark's pace: let the watcher's 1 s look at the records pass
            [holder] = listeners([port])
            killed = time.perf_counter()
            psutil.Process(holder.pid).kill()
            while True:
                event = json.loads(reader.line(timeout=30))
                if event["event"] == "transition" and event["to"] == "down":
                    took.append((time.perf_counter() - killed) * 1000)
                    break
            wait_until(lambda: not listeners([port]), what="the port to be free")
            subprocess.run(start, env=env, cwd=home, capture_output=True, check=True)
    finally:
        watch.kill()
        watch.wait()
        for holder in listeners([port]):
            if holder.pid:
                psutil.Process(holder.pid).kill()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    checkouts = {"this": None} | ({str(args.compare): args.compare} if args.compare else {})
    for label, checkout in checkouts.items():
        home = Path(tempfile.mkdtemp(prefix="trayapp-watch-exit-"))
        env = cli_env(home)
        if checkout is not None:
            env["PYTHONPATH"] = str(checkout)
        took = rounds(home, env, args.rounds)
        print(
            f"{label}: kill -> down in watch, {len(took)} rounds: median {statistics.median(took):.1f} ms, "
            f"{min(took):.1f}-{max(took):.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
