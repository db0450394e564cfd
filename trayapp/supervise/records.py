"""Records of running managed children on disk, so a later trayapp adopts them.

One small JSON file per service (pid, process group, start time, command, log path) under
the per-user state dir. A record is trusted only while its pid still belongs to the process
that was started then: psutil's create time must match (pids are reused).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

#: seconds two create times may differ and still be the same process (they are rounded differently)
SAME_START = 1.0


@dataclass(frozen=True)
class ChildRecord:
    """What is remembered of a running child (also on disk, for adoption)."""

    service: str
    pid: int
    pgid: int
    started: float  # psutil create_time (Unix seconds), the identity guard
    command: tuple[str, ...]
    log: str


def is_running(record: ChildRecord) -> bool:
    """Whether ``record``'s process is still that process and not a zombie."""
    try:
        process = psutil.Process(record.pid)
        return abs(process.create_time() - record.started) < SAME_START and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class RecordStore:
    """The records in one directory (``children_dir()``; tests pass their own)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def save(self, record: ChildRecord) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path(record.service).write_text(json.dumps(asdict(record)))
        except OSError:
            log.warning("cannot record child of %s", record.service, exc_info=True)

    def forget(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def load(self, name: str) -> ChildRecord | None:
        """The record of ``name`` if its process still runs; a stale or unreadable record is dropped."""
        path = self.path(name)
        try:
            data = json.loads(path.read_text())
            record = ChildRecord(**{**data, "command": tuple(data["command"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if not is_running(record):
            path.unlink(missing_ok=True)
            return None
        return record
