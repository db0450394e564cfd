"""What a service's own log says about a failure: the line that names the error, if it belongs.

"Nothing listens on port 5000" says *that* the backend is down; the line its process wrote
just before (``Error: listen EADDRINUSE: address already in use :::5000``, a
``MongoServerSelectionError``, nodemon's "app crashed") says *why*. A line is quoted only as
evidence of *this* failure (issue 9, section 1):

* **It belongs to the current run.** Lines before the last start marker do not count: trayapp's
  own ``[trayapp …] starting NAME: …`` in a managed service's captured output, and the restart
  lines of the watchers that run Node apps (nodemon's ``[nodemon] starting``, ``node --watch``'s
  ``Restarting '…'``, tsx's and ts-node-dev's ``Restarting``). Nor do lines from before the
  service was last seen up (where each file ended then, recognised by its content, so a log
  rewritten with ``>`` to at least its earlier size is read afresh rather than from that offset),
  nor from before the process now holding the port started (by the line's own timestamp where
  it has one, else by the file's modification time).
* **Nothing later says the problem passed.** A ``listening`` / ``ready`` line clears an error
  that kept the server from serving (a crash, EADDRINUSE); a ``connected`` / ``reconnected``
  line clears a dependency's error (MongoDB, ``ECONNREFUSED``).
* **It is of a kind that explains the failure** (:class:`Topic`, :func:`topics_for`): a wrong
  health path (404) is not explained by a crash line, a database reported down only by a
  database error, a kill by a signal trayapp did not send by no line at all.

When nothing qualifies, nothing is said about the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from trayapp.logs.format import Level, first_error_line, parse_line
from trayapp.logs.tail import last_lines
from trayapp.model import CheckResult, Reason
from trayapp.text import humanize_age

#: without a last time up (a fresh ``trayapp status``), a log counts if written this recently
RECENT_S = 600.0
#: lines looked at from the end of each file
TAIL_LINES = 40
#: bytes of a file remembered at a mark (its start and the bytes before the mark): a file whose
#: bytes there changed was rewritten, whatever its size
MARK_BYTES = 256
#: seconds of slack between a process's start time and a line's timestamp (clock rounding)
CLOCK_SLACK_S = 1.0


class Topic(StrEnum):
    """What an error line is about, which decides what it can explain and what clears it."""

    LISTEN = "listen"  # the server could not take its port (EADDRINUSE, EADDRNOTAVAIL)
    DEPENDENCY = "dependency"  # a database or another service it talks to (Mongo*Error, ECONNREFUSED)
    CRASH = "crash"  # anything else that stops a server: an exception, a missing module, out of memory


ALL_TOPICS = frozenset(Topic)
NO_TOPICS: frozenset[Topic] = frozenset()

#: signals a process brings on itself (its output may say why: "FATAL ERROR: … heap out of
#: memory" before SIGABRT); any other signal came from outside, and no line of its output explains it
SELF_INFLICTED_SIGNALS = frozenset({4, 5, 6, 7, 8, 11, 31})  # SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGSEGV SIGSYS

_LISTEN = re.compile(r"EADDRINUSE|EADDRNOTAVAIL|[Aa]ddress already in use|[Aa]ddress not available")
_DEPENDENCY = re.compile(
    r"Mongo(?:ose)?\w*Error|MongoNetwork|ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ECONNRESET"
    r"|[Cc]onnection refused|getaddrinfo|[Rr]edis\w*Error|SequelizeConnection\w*Error|Prisma\w*Error"
)
#: a line that says the server serves again (clears LISTEN and CRASH)
_SERVING = re.compile(
    r"\blistening\b|\blistens\b|\bready\b|\bserver (?:is )?(?:running|started|up)\b|\brunning (?:on|at)\b"
    r"|\bstarted (?:on|at)\b|\baccepting connections\b|\bwaiting for connections\b|Local:\s+https?://",
    re.IGNORECASE,
)
#: a line that says a dependency is reachable again (clears DEPENDENCY)
_CONNECTED = re.compile(
    r"\b(?:re)?connected\b|\bconnection (?:re)?established\b|\bready\b|\bconnection restored\b", re.IGNORECASE
)
_NEGATED = re.compile(
    r"\b(?:not|never|no longer|unable|failed|failure|cannot|can't|couldn't|could not|lost|won't)\b", re.IGNORECASE
)
#: lines that begin a new run of the service's program
_WATCHER_RUN = re.compile(
    r"^\s*(?:\[nodemon\] (?:starting|restarting)\b"  # nodemon
    r"|Restarting '"  # node --watch
    r"|.{0,30}\[tsx\] .*[Rr]estarting"  # tsx watch
    r"|\[INFO\] [\d:]+ Restarting:)"  # ts-node-dev
)
_PORTS = re.compile(r"(?::|\bport\s+)(\d{3,5})\b", re.IGNORECASE)
_ISO_START = re.compile(r"^\s*\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
_TIME_KEY = re.compile(r'"(?:time|timestamp|@timestamp|ts)"\s*:\s*("[^"]{10,40}"|\d{9,16}(?:\.\d+)?)')


@dataclass(frozen=True)
class LogSource:
    """One file whose lines may say why a service failed.

    ``service`` is set for a managed service's captured output, where trayapp writes
    ``[trayapp …] starting NAME: …`` at every start: only the lines after the last one count.
    """

    path: str
    service: str | None = None

    def starts_run(self, message: str) -> bool:
        if _WATCHER_RUN.match(message):
            return True
        return (
            self.service is not None and message.startswith("[trayapp ") and f"] starting {self.service}: " in message
        )


@dataclass(frozen=True)
class LogEvidence:
    path: str
    line: str
    written: float  # Unix time the file was last written
    topic: Topic = Topic.CRASH
    #: the line's own timestamp (Unix time) when it has one
    stamped: float | None = None

    @property
    def when(self) -> float:
        """When the line was written: its own timestamp, else (an upper bound) the file's."""
        return self.stamped if self.stamped is not None else self.written

    def sentence(self, now: float) -> str:
        age = humanize_age(max(0.0, now - self.written))
        return f"Its log ({os.path.basename(self.path)}, written {age} ago) says: {self.line}"


@dataclass(frozen=True)
class FileMark:
    """Where a log file ended (which file, how long, and the bytes at its start and before its
    end) when the service was last seen up."""

    ident: tuple[int, int]
    size: int
    head: bytes = b""
    tail: bytes = b""


def mark(paths: Iterable[str]) -> dict[str, FileMark]:
    """The end of each of ``paths`` now (missing or unreadable ones left out)."""
    marks = {}
    for path in paths:
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                head = fh.read(min(MARK_BYTES, st.st_size))
                start = max(0, st.st_size - MARK_BYTES)
                fh.seek(start)
                tail = fh.read(st.st_size - start)
        except OSError:
            continue
        marks[path] = FileMark((st.st_dev, st.st_ino), st.st_size, head, tail)
    return marks


def floor_of(path: str, st: os.stat_result, was: FileMark | None) -> int:
    """Where new lines of ``path`` begin: ``was``'s end if the file still holds what it held
    then (same file, not shorter, the same bytes at its start and before that end), else 0
    (rotated, truncated or rewritten: all of it is new)."""
    if was is None or was.ident != (st.st_dev, st.st_ino) or st.st_size < was.size:
        return 0
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(was.head))
            fh.seek(was.size - len(was.tail))
            tail = fh.read(len(was.tail))
    except OSError:
        return 0
    return was.size if head == was.head and tail == was.tail else 0


def changed_since(paths: Iterable[str], marks: Mapping[str, FileMark]) -> bool:
    """Whether any of ``paths`` differs in size or identity from its mark (a cheap stat each)."""
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            if path in marks:
                return True
            continue
        was = marks.get(path)
        if was is None or was.ident != (st.st_dev, st.st_ino) or was.size != st.st_size:
            return True
    return False


# --------------------------------------------------------------------------- which lines explain what


def topics_for(result: CheckResult) -> frozenset[Topic]:
    """The kinds of log line that can explain a failed check (empty: none can, the probe says it all)."""
    reason = result.reason
    if reason in (Reason.REFUSED, Reason.ERROR, Reason.TIMEOUT, Reason.RESET):
        # (An EADDRINUSE of the service's newest run explains a port held by something that
        # does not answer: the lines are only those since the holder started.)
        return ALL_TOPICS
    if reason is Reason.UNHEALTHY:
        return frozenset({Topic.CRASH, Topic.DEPENDENCY})
    if reason is Reason.HTTP_STATUS:
        if result.http_status is not None and result.http_status >= 500:
            return frozenset({Topic.CRASH, Topic.DEPENDENCY})
        return NO_TOPICS  # a wrong path, a missing route: no crash line explains a 404
    if reason is Reason.DEPENDENCY_DOWN:
        return frozenset({Topic.DEPENDENCY})
    if reason in (Reason.STALE_HOLDER, Reason.PAUSED):
        return frozenset({Topic.LISTEN})  # a newer run that could not take the port
    return NO_TOPICS


def exit_topics(code: int | None) -> frozenset[Topic]:
    """What can explain a child's exit: anything for an exit code or a self-inflicted signal,
    nothing for a signal from outside (SIGKILL, SIGTERM, …)."""
    if code is not None and code < 0 and -code not in SELF_INFLICTED_SIGNALS:
        return NO_TOPICS
    return ALL_TOPICS


def topic_of(text: str) -> Topic:
    if _LISTEN.search(text):
        return Topic.LISTEN
    if _DEPENDENCY.search(text):
        return Topic.DEPENDENCY
    return Topic.CRASH


def clears(message: str, level: Level | None, is_error: bool) -> frozenset[Topic]:
    """The topics a line says have passed (``Server listening on 5000`` clears LISTEN and CRASH)."""
    if is_error or (level is not None and level >= Level.WARN) or _NEGATED.search(message):
        return NO_TOPICS
    cleared: set[Topic] = set()
    if _SERVING.search(message):
        cleared |= {Topic.LISTEN, Topic.CRASH}
    if _CONNECTED.search(message):
        cleared.add(Topic.DEPENDENCY)
    return frozenset(cleared)


def names_other_port(text: str, port: int | None) -> bool:
    """Whether an EADDRINUSE-style line is about a port other than ``port`` (unknown ports: no)."""
    if port is None:
        return False
    named = {int(p) for p in _PORTS.findall(text)}
    return bool(named) and port not in named


def line_time(text: str) -> float | None:
    """A line's own timestamp as Unix time: a JSON logger's ``time`` (pino's milliseconds,
    bunyan's and winston's ISO text) or a leading ISO 8601 time; None if it has none."""
    raw: str | None = None
    if text.lstrip().startswith("{"):
        found = _TIME_KEY.search(text)
        if found is not None:
            raw = found.group(1).strip('"')
            if raw.replace(".", "", 1).isdigit():
                number = float(raw)
                return number / 1000 if number > 1e11 else number
    else:
        found = _ISO_START.match(text)
        raw = found.group(1) if found is not None else None
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp()  # a time without a zone is local time, as the logger wrote it


def current_run(lines: Sequence[str], source: LogSource) -> list[str]:
    """The lines after the last line that starts a run (all of them if none does)."""
    for index in range(len(lines) - 1, -1, -1):
        if source.starts_run(parse_line(lines[index]).message):
            return list(lines[index + 1 :])
    return list(lines)


def unresolved_error(
    lines: Sequence[str],
    topics: frozenset[Topic],
    *,
    port: int | None = None,
    not_before: float | None = None,
) -> tuple[str, Topic, float | None] | None:
    """The error line of ``lines`` that best says what went wrong among those of ``topics``
    that no later line cleared; with its topic and own timestamp. Lines stamped before
    ``not_before`` (Unix time) are left out, and so are EADDRINUSE lines about another port."""
    if not topics:
        return None
    entries = [parse_line(line) for line in lines]
    stamps = [line_time(line) for line in lines]
    candidates: list[tuple[str, Topic, float | None]] = []
    cleared: set[Topic] = set()
    for entry, raw, stamp in zip(reversed(entries), reversed(lines), reversed(stamps), strict=True):
        if not_before is not None and stamp is not None and stamp < not_before - CLOCK_SLACK_S:
            break  # this line and everything above it predate the process now on the port
        if first_error_line([raw]) is not None:
            topic = topic_of(entry.message)
            if topic in topics and topic not in cleared:
                if not (topic is Topic.LISTEN and names_other_port(entry.message, port)):
                    candidates.append((raw, topic, stamp))
            continue
        cleared |= clears(entry.message, entry.level, entry.is_error)
    if not candidates:
        return None
    candidates.reverse()  # back in file order, so the first statement of the error wins ties
    best = first_error_line(raw for raw, _, _ in candidates)
    if best is None:
        return None
    for raw, topic, stamp in candidates:
        if first_error_line([raw]) == best:
            return best, topic, stamp
    return best, candidates[0][1], candidates[0][2]


def latest_error(
    sources: Sequence[LogSource | str],
    since: float,
    marks: Mapping[str, FileMark] | None = None,
    *,
    topics: frozenset[Topic] = ALL_TOPICS,
    not_before: float | None = None,
    port: int | None = None,
) -> LogEvidence | None:
    """The unresolved error line of the current run in the most recently written of ``sources``.

    Only files written at or after ``since`` and (when given) ``not_before`` (Unix times) are
    read, each from its mark on (see :func:`floor_of`). None if no line qualifies.
    """
    written: list[tuple[float, LogSource, int]] = []
    for item in sources:
        source = item if isinstance(item, LogSource) else LogSource(item)
        try:
            st = os.stat(source.path)
        except OSError:
            continue
        if st.st_mtime < since or (not_before is not None and st.st_mtime < not_before - CLOCK_SLACK_S):
            continue
        floor = floor_of(source.path, st, (marks or {}).get(source.path))
        if st.st_size > floor:
            written.append((st.st_mtime, source, floor))
    for mtime, source, floor in sorted(written, key=lambda w: w[0], reverse=True):
        try:
            lines = last_lines(source.path, TAIL_LINES, floor=floor)
        except OSError:
            continue
        found = unresolved_error(current_run(lines, source), topics, port=port, not_before=not_before)
        if found is not None:
            line, topic, stamp = found
            return LogEvidence(source.path, line, mtime, topic, stamp)
    return None
