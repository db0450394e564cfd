"""Keeping a log file under a size by moving its content to numbered backups (``NAME.1`` …).

Two ways, as logrotate has them: a file nobody writes is renamed; a file a running process
writes to is copied and truncated (``copytruncate``), because that process keeps its
descriptor and would go on writing to the renamed file.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

LOG_BACKUPS = 3  # NAME.1 to NAME.3


def file_size(path: Path) -> int:
    """Bytes in ``path``; 0 when it cannot be read (missing, no permission)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def rotate_log_file(path: Path, *, live: bool, backups: int = LOG_BACKUPS) -> int:
    """Move ``path``'s content to ``path.1`` (``.1`` to ``.2`` and so on, the oldest dropped);
    returns the bytes moved.

    A file nobody writes is renamed. A file a running child writes to (``live``) is copied
    and then truncated, as logrotate's copytruncate does: the child keeps its descriptor and,
    opened with O_APPEND, writes its next line at the new start. Whatever it writes between
    the end of the copy and the truncation (microseconds) is lost; a note at the top of the
    new file says where the earlier output went. Followers see a truncation and start again.
    Raises ``OSError`` (a backup name taken by a directory, a full disk) for the caller to log.
    """
    for index in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{index + 1}"))
    first = path.with_name(f"{path.name}.1")
    if not live:
        moved = file_size(path)
        path.replace(first)
        return moved
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(path, "rb") as source, open(first, "wb") as copy, open(path, "ab", buffering=0) as out:
        shutil.copyfileobj(source, copy)  # to the end, including what was appended during the copy
        moved = copy.tell()
        os.ftruncate(out.fileno(), 0)
        note = f"[trayapp {stamp}] rotated: the {moved:,} bytes before this line went to {first.name}"
        out.write(f"{note} (older files moved one number up)\n".encode())
    return moved
