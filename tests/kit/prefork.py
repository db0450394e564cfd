"""A pre-fork HTTP server, for tests: one listening socket shared by forked workers.

    python tests/kit/prefork.py [--workers N] [--host 127.0.0.1] [--port 0]

Binds and listens, forks N workers (default 2) that each accept on the shared socket and
answer every request ``200 ok``, prints ``WORKERS <pid> <pid> ...`` and then
``LISTENING <host> <port>``, and waits; SIGUSR1 makes it fork one more worker and print
``WORKER <pid>``. Killing the parent with SIGKILL leaves the workers holding the port as
orphans (re-parented to pid 1 or the nearest subreaper), as gunicorn's or Node cluster's
workers are left when their master dies.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys


def serve(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(128)
    more = []
    signal.signal(signal.SIGUSR1, lambda *_: more.append(1))
    workers = [fork_worker(listener) for _ in range(args.workers)]
    print("WORKERS " + " ".join(str(p) for p in workers), flush=True)
    print(f"LISTENING {args.host} {listener.getsockname()[1]}", flush=True)
    while True:
        signal.pause()
        while more:
            more.pop()
            print(f"WORKER {fork_worker(listener)}", flush=True)


def fork_worker(listener: socket.socket) -> int:
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # only the parent talks on stdout
        try:
            serve(listener)
        finally:
            os._exit(0)
    return pid


if __name__ == "__main__":
    sys.exit(main())
