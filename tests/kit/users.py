"""Running a piece of test code as another user (``nobody``), for permission paths."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def nobody_ids() -> tuple[int, int]:
    """(uid, gid) of ``nobody``; the suite runs as root (CI and scripts/test do) to switch to it."""
    if os.geteuid() != 0:
        pytest.fail("this test switches to user 'nobody' and must run as root (CI does)")
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def run_as_nobody(code: str, imports: str = "", before: str = "") -> dict[str, object]:
    """Run ``code`` in a fresh interpreter that drops to user ``nobody`` before running it.

    The interpreter starts as root and imports trayapp and psutil first, then setuid()s:
    ``subprocess.run(user="nobody")`` cannot work here because this venv's interpreter lives
    under /root, which ``nobody`` may not read. The listing itself really runs as nobody.
    ``imports`` (module names, comma-separated) are imported before the switch too, and the
    statements in ``before`` run then (to read what only root may, e.g. package metadata).
    ``code`` must print one JSON object as its last line.
    """
    uid, gid = nobody_ids()
    prelude = (
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "import psutil, trayapp.checks.ports, trayapp.supervise.kill, trayapp.logs.tail\n"
        + (f"import {imports}\n" if imports else "")
        + (before.rstrip("\n") + "\n" if before else "")
        + f"os.setgroups([]); os.setgid({gid}); os.setuid({uid})\n"
        + f"assert os.geteuid() == {uid}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60, cwd="/", check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
