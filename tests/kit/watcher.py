"""A nodemon-like file watcher, for tests: it runs the app and stays up when the app dies.

    python watcher.py -- COMMAND [ARG...]

Runs COMMAND with its output going where ours goes. When it exits, prints nodemon's
"[nodemon] app crashed - waiting for file changes before starting..." and waits; SIGUSR1
(a file change) starts it again, SIGTERM stops both. This is the hot-reload case where the
process trayapp started is alive while nothing listens on the port.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1 :]
    changed = threading.Event()
    app: subprocess.Popen[bytes] | None = None

    def on_change(signum: int, frame: object) -> None:
        changed.set()

    def on_term(signum: int, frame: object) -> None:
        if app is not None and app.poll() is None:
            app.terminate()
        sys.exit(0)

    signal.signal(signal.SIGUSR1, on_change)
    signal.signal(signal.SIGTERM, on_term)
    while True:
        print(f"[nodemon] starting `{' '.join(command)}`", flush=True)
        app = subprocess.Popen(command)
        app.wait()
        print("[nodemon] app crashed - waiting for file changes before starting...", flush=True)
        changed.wait()
        changed.clear()


if __name__ == "__main__":
    sys.exit(main())
