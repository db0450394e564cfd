"""Records of running managed children on disk, so a later trayapp adopts them.

One small JSON file per service (pid, process group, start time, command, log path) under
the per-user state dir. A record is trusted only while its pid still belongs to the process
that was started then: psutil's create time must match (pids are reused).
"""

from __future__ import annotations

import json
import logging
import os
import threading
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
    """The records in one directory (``children_dir()``; tests pass their own).

    Writes are atomic (a temporary file renamed over the record), and :meth:`forget` removes
    a record only if it is still the one given: the exit of an old child never deletes the
    record of the new one that took its place.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # a compare-and-remove is not interleaved with a save

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def save(self, record: ChildRecord) -> None:
        path = self.path(record.service)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                temporary.write_text(json.dumps(asdict(record)))
                temporary.replace(path)
            except OSError:
                log.warning("cannot record child of %s", record.service, exc_info=True)

    def forget(self, name: str, record: ChildRecord | None = None) -> None:
        """Remove ``name``'s record (only if it is ``record``, when given)."""
        with self._lock:
            if record is not None and self._read(name) not in (record, None):
                return  # a newer child's record
            try:
                self.path(name).unlink(missing_ok=True)
            except OSError:
                log.warning("cannot remove the record of %s", name, exc_info=True)

    def load(self, name: str) -> ChildRecord | None:
        """The record of ``name`` if its process still runs; a stale or unreadable record is dropped."""
        record = self._read(name)
        if record is None:
            return None
        if not is_running(record):
            self.forget(name, record)
            return None
        return record

    def _read(self, name: str) -> ChildRecord | None:
        try:
            data = json.loads(self.path(name).read_text())
            return ChildRecord(**{**data, "command": tuple(data["command"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None
