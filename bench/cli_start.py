"""How fast the command line answers, paired with its anchors in the same run.

    .venv/bin/python -m bench.cli_start [--rounds 10] [--hung-rounds 3] [--compare DIR]

Runs each command --rounds times, interleaved round by round so that a busy moment on the
shared machine hits every command alike, and prints the median wall time (process start to
exit) and its ratio to a bare ``python -c 'import psutil'``. Commands: ``trayapp ports PORT``,
``kill`` of a port nothing holds, ``logs NAME``, ``--version``, ``status`` with three local
services up, and ``status`` with a hung backend and a SIGSTOPped MongoDB (timeout 2 s, so its
floor is 2 s). Anchors: the bare interpreter, ``import psutil``, psutil's connection scan,
``ss -ltnp`` and ``lsof -iTCP:PORT``. Then ``python -X importtime`` says which heavy modules each
command loads. With ``--compare DIR`` the hung ``status`` also runs from the trayapp package of
DIR (another checkout, e.g. /work/main before a change), alternating with this one's, and each
gets a line: its median, range, and what it takes past the timeout. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.kit.cli import cli_env
from tests.kit.servers import free_port, start_backend, start_mongo
from tests.kit.services import service_toml

HEAVY = ("pymongo", "httpx", "httpcore", "PySide6", "importlib.metadata", "asyncio", "jeepney", "ssl")


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=60)
    return (time.perf_counter() - started) * 1000


def heavy_imports(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    return ", ".join(h for h in HEAVY if h in names) or "none of them"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--hung-rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayapp-cli-"))
    api, hung, db = start_backend("healthy"), start_backend("hang"), start_mongo(work)
    env = cli_env(work)
    # As installed: modules load from their cached bytecode (a PYTHONDONTWRITEBYTECODE in the
    # developer's environment would make every run compile trayapp from source).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    trayapp = [py, "-m", "trayapp"]
    up, hanging = work / "up.toml", work / "hung.toml"
    log = work / "backend.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    up.write_text(
        service_toml("backend", "http", url=api.url(), log=str(log))
        + service_toml("vite", "tcp", host="127.0.0.1", port=api.port)
        + service_toml("db", "mongo", uri=db.uri)
    )
    hanging.write_text(
        service_toml("backend", "http", url=hung.url(), timeout=2.0)
        + service_toml("db", "mongo", uri=db.uri, timeout=2.0)
    )
    port, free = str(api.port), str(free_port())
    commands: dict[str, list[str]] = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import psutil' (anchor)": [py, "-c", "import psutil"],
        "python: psutil.net_connections()": [py, "-c", "import psutil; psutil.net_connections('inet')"],
        "ss -ltnp": [shutil.which("ss") or "ss", "-ltnp", f"sport = :{port}"],
        "lsof -iTCP:PORT": [shutil.which("lsof") or "lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN"],
        "trayapp --version": [*trayapp, "--version"],
        "trayapp ports PORT": [*trayapp, "ports", port, "--config", str(up)],
        "trayapp kill PORT (nothing there)": [*trayapp, "kill", free, "--yes", "--config", str(up)],
        "trayapp logs NAME": [*trayapp, "logs", "backend", "--config", str(up)],
        "trayapp status (3 up)": [*trayapp, "status", "--config", str(up)],
    }
    try:
        walls: dict[str, list[float]] = {label: [] for label in commands}
        for cmd in commands.values():
            timed(cmd, env, work)  # warm up: bytecode written, files in the page cache
        for _ in range(args.rounds):
            for label, cmd in commands.items():
                walls[label].append(timed(cmd, env, work))
        db.pause()
        checkouts = {"": env}
        if args.compare:
            checkouts[f" [{args.compare}]"] = dict(env, PYTHONPATH=str(args.compare))
        hung_walls: dict[str, list[float]] = {label: [] for label in checkouts}
        for _ in range(args.hung_rounds):
            for label, its_env in checkouts.items():
                hung_walls[label].append(timed([*trayapp, "status", "--config", str(hanging)], its_env, work))
        db.resume()
        anchor = statistics.median(walls["python -c 'import psutil' (anchor)"])
        print(f"wall time, median of {args.rounds} interleaved rounds (x = ratio to python -c 'import psutil'):")
        for label, samples in walls.items():
            m = statistics.median(samples)
            print(f"  {label:38} {m:7.1f} ms  ({min(samples):.0f}-{max(samples):.0f})  {m / anchor:5.2f}x")
        for label, samples in hung_walls.items():
            m = statistics.median(samples)
            span = f"{min(samples) - 2000:.0f}-{max(samples) - 2000:.0f}"
            print(f"  trayapp status (hung, timeout 2 s){label} {m:7.1f} ms  = timeout + {m - 2000:.0f} ms ({span})")
        print("\nheavy modules each command imports (python -X importtime):")
        for label, cmd in commands.items():
            if label.startswith("trayapp"):
                print(f"  {label:38} {heavy_imports(cmd, env, work)}")
    finally:
        db.resume()
        db.stop()
        api.kill()
        hung.kill()


if __name__ == "__main__":
    main()
