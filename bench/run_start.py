"""What ``scripts/run`` costs before trayapp itself starts, once it has set up (issue #11).

    .venv/bin/python -m bench.run_start [--rounds 10]

Interleaves, round by round, ``scripts/run --version`` and ``.venv/bin/trayapp --version`` (the
same command without the setup checks) and prints each one's median wall time and their
difference: the setup's own cost (one dpkg-query, a sha256 of pyproject.toml, no pip). Before
issue #11 every ``scripts/run`` ran pip (6.6-7.6 s). Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from tests.kit.cli import REPO


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    commands = {
        "scripts/run --version": [str(REPO / "scripts" / "run"), "--version"],
        ".venv/bin/trayapp --version": [str(REPO / ".venv" / "bin" / "trayapp"), "--version"],
    }
    for argv in commands.values():  # warm-up: the first scripts/run may install
        wall(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, argv in commands.items():
            times[name].append(wall(argv))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        low, high = min(times[name]) * 1000, max(times[name]) * 1000
        print(f"{name:<30} median {value * 1000:6.0f} ms  (min {low:.0f}, max {high:.0f})")
    setup = medians["scripts/run --version"] - medians[".venv/bin/trayapp --version"]
    print(f"{'setup checks':<30} median {setup * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
