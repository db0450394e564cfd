"""Running the real ``trayapp`` command line as a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_env(home: Path) -> dict[str, str]:
    """An environment whose config, log, cache and runtime dirs are private to one test."""
    (home / ".runtime").mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAYAPP_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(home / ".runtime"),
        NO_COLOR="1",
        PYTHONPATH=str(REPO),
    )
    return env


def trayapp_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "trayapp", *map(str, args)]


def run_cli(
    *args: str | os.PathLike[str], home: Path, timeout: float = 30, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``trayapp ARGS`` with a private ``home``, in ``cwd`` (default: ``home``)."""
    return subprocess.run(
        trayapp_command(*args),
        cwd=cwd or home,
        env=cli_env(home),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
