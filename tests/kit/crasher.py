"""A child that prints what a crashing Node backend prints, then exits.

    python tests/kit/crasher.py [--after S] [--code N] [--json] [--env NAME] [LINE...]

Prints its lines (default: Node's EADDRINUSE crash) to stderr, pino-style JSON to stdout
with --json, the value of $NAME with --env, waits --after seconds, and exits with --code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

EADDRINUSE = [
    "node:events:497",
    "      throw er; // Unhandled 'error' event",
    "      ^",
    "",
    "Error: listen EADDRINUSE: address already in use :::5000",
    "    at Server.setupListenHandle [as _listen2] (node:net:1872:16)",
    "    at listenInCluster (node:net:1920:12)",
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--after", type=float, default=0.0)
    parser.add_argument("--code", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("lines", nargs="*")
    args = parser.parse_args()
    for name in args.env:
        print(f"{name}={os.environ.get(name, '<unset>')}", flush=True)
    if args.json:
        record = {"level": 30, "time": int(time.time() * 1000), "pid": os.getpid(), "msg": "server starting"}
        print(json.dumps(record), flush=True)
    if args.after:
        time.sleep(args.after)  # ok-sleep: the child's own life time, not a test synchronisation
    for line in args.lines or EADDRINUSE:
        print(line, file=sys.stderr, flush=True)
    return args.code


if __name__ == "__main__":
    sys.exit(main())
