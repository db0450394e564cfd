"""CPU per check, in-process, beside its anchors in the same run.

    .venv/bin/python -m bench.check_cost [--checks 1000] [--profile]

Against the test kit's healthy backend (and NX-27017 for the Mongo probe), one check after
another with a 1 ms pause: CPU time (user + system of this process, ``time.process_time``)
per check for trayapp's HTTP, TCP and Mongo probes and the whole ``Checker`` (probe +
diagnosis), and as anchors the same GET on a bare socket (connect, send, read to the end,
close), through one reused httpx client, and ``curl`` as a process (its CPU from
``RUSAGE_CHILDREN``, a tenth as many runs). Prints medians over --repeat batches and each
one's ratio to the bare socket GET. ``--profile`` prints cProfile's top functions of the
HTTP probe. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.kit.servers import start_backend, start_mongo
from tests.kit.services import http_service, mongo_service, tcp_service
from trayapp.checks.checker import Checker
from trayapp.checks.probes import make_probe


def pace() -> None:
    # Back to back, checks overflow the test server's accept queue (see bench.checks).
    time.sleep(0.001)  # ok-sleep: pacing a benchmark, not synchronising


def cpu_per_call(fn: Callable[[], object], n: int) -> float:
    """Milliseconds of this process's CPU per call of ``fn`` (the pauses cost no CPU)."""
    total = 0.0
    for _ in range(n):
        started = time.process_time()
        fn()
        total += time.process_time() - started
        pace()
    return total / n * 1000


def bare_get(url: str) -> Callable[[], bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()

    def get() -> bytes:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    return get


def curl_cpu(url: str, n: int) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(n):
        subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=False, timeout=10)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=1000, help="checks per batch")
    parser.add_argument("--repeat", type=int, default=3, help="batches; the median is reported")
    parser.add_argument("--profile", action="store_true", help="cProfile the HTTP probe")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayapp-cost-"))
    api, db = start_backend("healthy"), start_mongo(work)
    url = api.url()
    http_probe = make_probe(http_service(url))
    tcp_probe = make_probe(tcp_service("127.0.0.1", api.port))
    mongo_probe = make_probe(mongo_service(db.uri))
    checker = Checker(http_service(url))
    client = httpx.Client(timeout=2.0)
    cases: dict[str, Callable[[], object]] = {
        "bare socket GET (anchor)": bare_get(url),
        "reused httpx client GET": lambda: client.get(url),
        "trayapp http probe": http_probe.check,
        "trayapp http Checker.check": checker.check,
        "trayapp tcp probe": tcp_probe.check,
        "trayapp mongo probe": mongo_probe.check,
    }
    try:
        for fn in cases.values():
            for _ in range(20):
                fn()  # warm up: imports, first connections, the Mongo client's handshake
        results: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(args.repeat):
            for label, fn in cases.items():
                results[label].append(cpu_per_call(fn, args.checks))
        curl = curl_cpu(url, max(10, args.checks // 10))
        anchor = statistics.median(results["bare socket GET (anchor)"])
        print(f"CPU per check, median of {args.repeat} batches of {args.checks} (ms; x = ratio to a bare socket GET):")
        for label, samples in results.items():
            m = statistics.median(samples)
            spread = f"{min(samples):.3f}-{max(samples):.3f}"
            print(f"  {label:30} {m:7.3f} ms  ({spread})  {m / anchor:5.1f}x")
        print(f"  {'curl as a process':30} {curl:7.3f} ms  {curl / anchor:5.1f}x")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.checks):
                http_probe.check()
            profiler.disable()
            stats = pstats.Stats(profiler)
            print(f"\ncProfile of {args.checks} HTTP probe checks: {stats.total_calls / args.checks:.0f} calls a check")  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(25)
    finally:
        for probe in (http_probe, tcp_probe, mongo_probe):
            probe.close()
        checker.close()
        client.close()
        api.kill()
        db.stop()


if __name__ == "__main__":
    main()
