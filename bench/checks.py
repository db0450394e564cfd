"""Check latency and `trayapp status` wall time against the test kit's real servers.

    .venv/bin/python -m bench.checks [--rounds 200]

Prints median / p95 / max per probe kind and for the whole `status` command. Numbers,
not assertions: the tests check behaviour, this measures speed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.kit.cli import cli_env, trayapp_command
from tests.kit.servers import free_port, start_backend, start_mongo
from tests.kit.services import http_service, mongo_service, service_toml, tcp_service
from trayapp.checks.checker import Checker, lookup_owners


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   max {ordered[-1]:7.2f} ms"


def time_checks(checker: Checker, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        checker.check()
        samples.append((time.perf_counter() - started) * 1000)
        # A tcp check takes 0.05 ms: back to back, 200 of them queue connections faster than
        # the test server accepts, its accept queue overflows (ListenOverflows in
        # /proc/net/netstat) and the kernel retries the dropped SYN after 1 s. The app checks
        # every few seconds; a 1 ms pause keeps that artefact out of the numbers.
        time.sleep(0.001)  # ok-sleep: pacing a benchmark, not synchronising
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix="trayapp-bench-"))
    api, hung, db = start_backend("healthy"), start_backend("hang"), start_mongo(work)
    try:
        cases = {
            "http ok": Checker(http_service(api.url())),
            "mongo ok": Checker(mongo_service(db.uri)),
            "tcp ok": Checker(tcp_service("127.0.0.1", api.port)),
            "http refused (+owner scan)": Checker(http_service(f"http://127.0.0.1:{free_port()}/")),
        }
        print(f"one check, {rounds} rounds each:")
        for label, checker in cases.items():
            checker.check()  # warm up (imports, first connection)
            print(f"  {label:28} {summary(time_checks(checker, rounds))}")
            checker.close()
        scans = []
        for _ in range(rounds):
            started = time.perf_counter()
            lookup_owners([api.port])
            scans.append((time.perf_counter() - started) * 1000)
        print(f"  {'port owners, asked again':28} {summary(scans)}")

        config = work / "stack.toml"
        for label, services in {
            "all up": [
                service_toml("backend", "http", url=api.url()),
                service_toml("db", "mongo", uri=db.uri),
                service_toml("vite", "tcp", host="127.0.0.1", port=api.port),
            ],
            "hung backend + SIGSTOPped mongo (timeout 2 s)": [
                service_toml("backend", "http", url=hung.url(), timeout=2.0),
                service_toml("db", "mongo", uri=db.uri, timeout=2.0),
            ],
        }.items():
            config.write_text("\n".join(services))
            if "SIGSTOP" in label:
                db.pause()
            walls = []
            for _ in range(5):
                started = time.perf_counter()
                subprocess.run(
                    trayapp_command("status", "--json", "--config", config),
                    env=cli_env(work),
                    cwd=work,
                    capture_output=True,
                    check=False,
                    timeout=30,
                )
                walls.append((time.perf_counter() - started) * 1000)
            print(f"`trayapp status` wall time, {label}, 5 runs: {summary(walls)}")
    finally:
        db.stop()
        api.kill()
        hung.kill()


if __name__ == "__main__":
    main()
