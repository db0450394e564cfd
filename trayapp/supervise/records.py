"""Records of running managed children on disk, so a later trayapp adopts them.

One small JSON file per service (pid, process group, start time, command, log path, the
service's identity) in a folder per config under the per-user state dir
(:func:`trayapp.paths.config_records`): a ``backend`` of another project is another record. A
record is trusted only while its pid still belongs to the process that was started then:
psutil's create time must match (pids are reused).

The old layout kept one folder for every config (``children/NAME.json``, ``services/NAME.log``),
so a service of one project could take another's record. :func:`adopt_old_layout` moves an old
record, and its captured output, into a config's folder once, and only when they are this
service's: the same command, run in this service's folder.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shlex
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
    #: the service's identity (:func:`trayapp.identity.service_identity`); "" in an old record
    identity: str = ""


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

    def peek(self, name: str) -> ChildRecord | None:
        """The record of ``name`` as it is on disk, whether its process runs or not (nothing removed)."""
        return self._read(name)

    def _read(self, name: str) -> ChildRecord | None:
        try:
            data = json.loads(self.path(name).read_text())
            return ChildRecord(**{**data, "command": tuple(data["command"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None


def _same_folder(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _runs_in(pid: int, cwd: str) -> bool:
    """Whether process ``pid`` runs in folder ``cwd`` (False when that cannot be read)."""
    try:
        return _same_folder(psutil.Process(pid).cwd(), cwd)
    except (psutil.Error, OSError):
        return False


_HEADER = re.compile(r"^\[trayapp [^\]]*\] starting (?P<name>.+?): (?P<command>.*) \(in (?P<cwd>.*)\)$")


def _last_header(path: Path, name: str) -> tuple[str, str] | None:
    """(command line, folder) of the last ``[trayapp …] starting NAME: …`` line of ``path``."""
    found = None
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                match = _HEADER.match(line.rstrip("\n"))
                if match and match["name"] == name:
                    found = (match["command"], match["cwd"])
    except OSError:
        return None
    return found


def adopt_old_layout(
    old_records: Path, old_logs: Path, store: RecordStore, record_name: str, *,
    identity: str, command: tuple[str, ...], cwd: str, log_path: Path,
) -> bool:  # fmt: skip
    """Move what the old layout kept of service ``record_name`` into this config's places, once.

    The old record (``old_records/NAME.json``) is taken when its process still runs, was started
    with ``command`` (as recorded: credentials hidden) and runs in ``cwd``; a record whose process
    has gone is removed. The old captured output (``old_logs/NAME.log`` and its rotated copies) is
    moved to ``log_path`` when it goes with a record taken here, or when its last start line says
    it is this command run in ``cwd``; a running child keeps writing to it where it went (a rename
    keeps the open file). Anything of another project's is left where it is. Returns whether a
    record was taken.
    """
    taken = False
    old = RecordStore(old_records)
    record = old._read(record_name)
    if record is not None and not is_running(record):
        old.forget(record_name, record)
        record = None
    if record is not None and record.command == command and _runs_in(record.pid, cwd):
        moved = ChildRecord(**{**asdict(record), "identity": identity, "log": str(log_path)})
        store.save(moved)
        old.forget(record_name, record)
        taken = True
        log.info("%s: adopted the record of pid %d from the old layout", record_name, record.pid)
    old_log = old_logs / f"{record_name}.log"
    header = _last_header(old_log, record_name)
    ours = header is not None and header[0] == shlex.join(command) and _same_folder(header[1], cwd)
    if (taken or ours) and old_log.is_file() and not log_path.exists():
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            for copy in sorted(old_logs.glob(f"{glob.escape(record_name)}.log.*")):
                copy.replace(log_path.with_name(log_path.name + copy.name[len(old_log.name) :]))
            old_log.replace(log_path)
            log.info("%s: moved its captured output from %s to %s", record_name, old_log, log_path)
        except OSError:
            log.warning("%s: cannot move its captured output from %s", record_name, old_log, exc_info=True)
    return taken
