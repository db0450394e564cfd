"""Which processes a process holds a pidfd of (Linux, from /proc)."""

from __future__ import annotations

import os
from pathlib import Path


def pidfds(pid: int) -> set[int]:
    """The pids that process ``pid`` holds a pidfd of (``/proc/PID/fdinfo/FD`` says ``Pid:``)."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) != "anon_inode:[pidfd]":
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
        except OSError:
            continue  # closed meanwhile
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        held.add(int(fields["Pid"]))
    return held
