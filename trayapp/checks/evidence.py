"""What a service's own log says about a failure: the line that names the error.

"Nothing listens on port 5000" says *that* the backend is down; the line its process wrote
just before (``Error: listen EADDRINUSE: address already in use :::5000``, a
``MongoServerSelectionError``, nodemon's "app crashed") says *why*. A failed check quotes
that line when the service has log files (its ``log`` and, for a managed service, its
captured output) and one of them was written since the service was last seen up, so an
old error from an earlier run is never passed off as today's reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trayapp.logs.format import first_error_line
from trayapp.logs.tail import last_lines
from trayapp.model import CheckResult, Reason
from trayapp.text import humanize_age

#: without a last time up (a fresh ``trayapp status``), a log counts if written this recently
RECENT_S = 600.0
#: lines looked at from the end of each file
TAIL_LINES = 40

#: failures whose cause a log can tell; the others are said fully by the probe (a wrong
#: path, TLS, DNS, another program on the port, a wrong address)
EXPLAINED_BY_LOGS = frozenset(
    {Reason.REFUSED, Reason.TIMEOUT, Reason.RESET, Reason.DEPENDENCY_DOWN, Reason.UNHEALTHY, Reason.ERROR}
)


@dataclass(frozen=True)
class LogEvidence:
    path: str
    line: str
    written: float  # Unix time the file was last written

    def sentence(self, now: float) -> str:
        age = humanize_age(max(0.0, now - self.written))
        return f"Its log ({os.path.basename(self.path)}, written {age} ago) says: {self.line}"


@dataclass(frozen=True)
class FileMark:
    """Where a log file ended (which file, how long) when the service was last seen up."""

    ident: tuple[int, int]
    size: int


def mark(paths: Sequence[str]) -> dict[str, FileMark]:
    """The end of each of ``paths`` now (missing ones left out)."""
    marks = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        marks[path] = FileMark((st.st_dev, st.st_ino), st.st_size)
    return marks


def latest_error(paths: Sequence[str], since: float, marks: Mapping[str, FileMark] | None = None) -> LogEvidence | None:
    """The error line near the end of the most recently written of ``paths``, among what was
    written at or after ``since`` (Unix time): lines before a file's mark are not looked at
    (unless it was rotated or truncated since, when all of it is new). None if nothing new
    shows an error."""
    written: list[tuple[float, str, int]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        was = (marks or {}).get(path)
        floor = was.size if was and was.ident == (st.st_dev, st.st_ino) and st.st_size >= was.size else 0
        if st.st_mtime >= since and st.st_size > floor:
            written.append((st.st_mtime, path, floor))
    for mtime, path, floor in sorted(written, reverse=True):
        try:
            line = first_error_line(last_lines(path, TAIL_LINES, floor=floor))
        except OSError:
            continue
        if line:
            return LogEvidence(path, line, mtime)
    return None


def worth_evidence(result: CheckResult) -> bool:
    """Whether a log line could say why this check failed."""
    if result.reason is Reason.HTTP_STATUS:
        return result.http_status is not None and result.http_status >= 500
    return result.reason in EXPLAINED_BY_LOGS
