"""A process that appends numbered lines to a log file as fast as a busy server would.

    python tests/kit/writer.py PATH

Writes ``line 0``, ``line 1``, … (one write per line, line-buffered) until killed, so a
reader can tell a lost line (a gap) from a repeated one.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    with open(sys.argv[1], "a", buffering=1) as out:
        i = 0
        while True:
            out.write(f"line {i}\n")
            i += 1
            if i % 20 == 0:
                time.sleep(0.0005)  # ok-sleep: the writer's own pace, not a test synchronisation


if __name__ == "__main__":
    main()
