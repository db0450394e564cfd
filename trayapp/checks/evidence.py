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
  it has one, else by the file's modification time); a stamped line counts only if stamped
  after the same times the file must have been written after. For "nothing listens", lines
  from before the server last answered (a 503 too) do not count: it listened after them.
* **Nothing says the program was stopped on purpose after it.** "Received SIGTERM, shutting
  down", a traceback ending in ``KeyboardInterrupt``: that line ends what came before it and
  is quoted itself (:attr:`LogEvidence.stopped`).
* **Nothing later says the problem passed.** A ``listening`` / ``ready`` line clears an error
  that kept the server from serving (a crash, EADDRINUSE); a ``connected`` / ``reconnected``
  line clears a dependency's error (MongoDB, ``ECONNREFUSED``).
* **It is of a kind that explains the failure** (:class:`Topic`, :func:`topics_for`): a wrong
  health path (404) is not explained by a crash line, a database reported down only by a
  database error, nothing listening by a database error only when the process died of it
  (:attr:`LogEvidence.crashed`), a kill by a signal trayapp did not send by no line at all.

When nothing qualifies, nothing is said about the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from trayapp.logs.format import Level, LogEntry, error_score, parse_line
from trayapp.logs.tail import last_lines
from trayapp.model import CheckResult, Reason
from trayapp.text import humanize_age, shorten_home

#: without a last time up (a fresh ``trayapp status``), a log counts if written this recently
RECENT_S = 600.0
#: lines looked at from the end of each file
TAIL_LINES = 40
#: bytes of a file remembered at a mark (its start and the bytes before the mark): a file whose
#: bytes there changed was rewritten, whatever its size
MARK_BYTES = 256
#: seconds of slack between a process's start time and a line's timestamp (clock rounding)
CLOCK_SLACK_S = 1.0
#: seconds a file's mtime may lag the time.time() of the moment it was written: the kernel
#: stamps files from its coarse clock, which advances once per tick (1-10 ms; see
#: current_time() and ktime_get_coarse_real_ts64 in the kernel). A line written just after a
#: healthy check may otherwise look older than it.
MTIME_GRANULARITY_S = 0.02


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
#: a line that says the program was stopped on purpose: a signal handler's goodbye, a clean exit
_STOP = re.compile(
    r"\b(?:received|got|caught)\s+(?:SIG(?:TERM|INT|HUP|QUIT)\b|signal\b)|\bshutting down\b"
    r"|\bshut(?:ting)? down gracefully|\bgraceful(?:ly)? shut|\bserver (?:closed|stopped)\b"
    r"|^\s*\[nodemon\] clean exit\b",
    re.IGNORECASE,
)
#: a Python traceback's closing line that is a clean stop, not a crash (sys.exit(0), Ctrl-C)
_CLEAN_EXIT = re.compile(r"^(?:SystemExit(?::\s*(?:0|None))?|KeyboardInterrupt)\s*$")
_TRACEBACK = "Traceback (most recent call last):"
#: what Python prints between the tracebacks of a chain
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
#: Node's last line after an uncaught exception ("Node.js v22.3.0")
_NODE_FOOTER = re.compile(r"^\s*Node\.js v\d+\.\d+\.\d+\s*$")
#: words that say the error was not caught: the process died of it
_UNCAUGHT = re.compile(
    r"Unhandled 'error' event|[Uu]ncaught|[Uu]nhandled ?(?:[Pp]romise ?)?[Rr]ejection|triggerUncaughtException"
)
#: Node's location line above an uncaught error: "file:///app/server/index.js:86" or "/app/server/index.js:86"
_LOCATION = re.compile(r"^\s*(?:file://)?(/\S*?):(\d+)\s*$")
#: a stack frame: Node's "    at fn (file:1:2)", Python's '  File "x.py", line 3'
_FRAME_LINE = re.compile(r"^\s+(?:at\s|File \")")
_CARET = re.compile(r"^\s*\^+\s*$")
#: a file watcher's own lines, which say nothing about the app's error
_WATCHER_LINE = re.compile(r"^\s*(?:\[nodemon\]|Failed running '|Restarting '|Completed running ')")
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
    #: the process died of this error (Node's "Node.js vX" footer after it, "Uncaught …", a
    #: Python traceback that ends the output): see :func:`unresolved_error`
    crashed: bool = False
    #: the line says the program was stopped on purpose ("Received SIGTERM, shutting down")
    stopped: bool = False
    #: the file watcher whose lines are in the log ("nodemon", "node --watch"), if any
    watcher: str | None = None

    @property
    def when(self) -> float:
        """When the line was written: its own timestamp, else (an upper bound) the file's."""
        return self.stamped if self.stamped is not None else self.written

    def sentence(self, now: float, *, why: bool = False) -> str:
        """``Its log (app.log, written 4 s ago) says: …``; the age is the line's own when it is
        stamped. With ``why`` (the line explains that nothing listens) "says it crashed: …" or
        "says it was stopped: …" when the log says so."""
        age = humanize_age(max(0.0, now - self.when))
        said = "says"
        if why and self.crashed:
            said = "says it crashed"
        elif why and self.stopped:
            said = "says it was stopped"
        return f"Its log ({os.path.basename(self.path)}, written {age} ago) {said}: {self.line}"


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


class Found(NamedTuple):
    """An error line that explains a failure (see :func:`unresolved_error`)."""

    line: str
    topic: Topic
    stamp: float | None  # the line's own timestamp (Unix time), if it has one
    crashed: bool = False  # the process died of it
    stopped: bool = False  # not an error: the program was stopped on purpose


def unresolved_error(
    lines: Sequence[str],
    topics: frozenset[Topic],
    *,
    port: int | None = None,
    not_before: float | None = None,
    signed: frozenset[Topic] = NO_TOPICS,
    stops: bool = False,
) -> Found | None:
    """The error line of ``lines`` that best says what went wrong among those of ``topics``
    that no later line cleared, with its topic and own timestamp.

    Lines stamped before ``not_before`` (Unix time), and every line above the last of them, are
    left out, and so are EADDRINUSE lines about another port. A line saying the program was
    stopped on purpose ("Received SIGTERM, shutting down", a traceback ending in ``SystemExit: 0``
    or ``KeyboardInterrupt``) ends what came before it: with ``stops`` it is returned itself
    (``stopped``) when no error follows it. A Python traceback is quoted by its closing line (the
    exception), a Node error by its statement with the location line Node prints above it
    (``SyntaxError: Unexpected token ')' (/app/server/index.js:86)``; a crash's, not a listen
    error's). Lines of a topic in ``signed`` count only when the process died of them (``crashed``).
    """
    if not topics:
        return None
    entries = [parse_line(line) for line in lines]
    stamps = [line_time(line) for line in lines]
    closing, body = _tracebacks(entries)
    first = 0
    if not_before is not None:
        for index in range(len(lines) - 1, -1, -1):
            stamp = stamps[index]
            if stamp is not None and stamp < not_before - CLOCK_SLACK_S:
                first = index + 1  # this line and everything above it predate what failed
                break
    candidates: list[tuple[int, int, str, Topic]] = []  # (index, score, text, topic)
    cleared: set[Topic] = set()
    for index in range(len(lines) - 1, first - 1, -1):
        entry, raw = entries[index], lines[index]
        if index in body:
            continue
        message = entry.message.strip()
        if index in closing and not _CLEAN_EXIT.match(message):
            score, text = 4, message
        elif index in closing or _is_stop(entry):
            if stops and not candidates:
                return Found(_cap(message), Topic.CRASH, stamps[index], stopped=True)
            break  # the program was stopped here: nothing above it is this failure's
        elif _FRAME_LINE.match(entry.message):
            continue  # a stack frame belongs to the error above it; it never says what went wrong
        else:
            score, text = error_score(raw)
        if not score:
            cleared |= clears(entry.message, entry.level, entry.is_error)
            continue
        topic = topic_of(entry.message)
        if topic in topics and topic not in cleared:
            if not (topic is Topic.LISTEN and names_other_port(entry.message, port)):
                candidates.append((index, score, text, topic))
    chosen: tuple[int, int, str, Topic, bool] | None = None
    for index, score, text, topic in sorted(candidates, key=lambda c: (-c[1], c[0])):
        crashed = _crashed(entries, index, first, closing)
        if topic in signed and not crashed:
            continue
        chosen = (index, score, text, topic, crashed)
        break
    if chosen is None:
        return None
    index, score, text, topic, crashed = chosen
    crash_statement = score == 4 and topic is Topic.CRASH and index not in closing
    if crash_statement and (where := _node_location(entries, index, first)) is not None:
        text = f"{text} ({where})"
    return Found(_cap(text), topic, stamps[index], crashed=crashed)


def _cap(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 300 else text[:299] + "…"


def _is_stop(entry: LogEntry) -> bool:
    """A line saying the program was stopped on purpose (not an error, not negated)."""
    if entry.is_error or (entry.level is not None and entry.level >= Level.WARN):
        return False
    return _STOP.search(entry.message) is not None and _NEGATED.search(entry.message) is None


def _tracebacks(entries: Sequence[LogEntry]) -> tuple[set[int], set[int]]:
    """Python tracebacks in ``entries``: the indexes of their closing lines (the exception), and
    of everything else in them (header, frames, code; a chain's earlier tracebacks entirely)."""
    closing: set[int] = set()
    body: set[int] = set()
    index = 0
    while index < len(entries):
        message = entries[index].message.strip()
        if message.startswith(_CHAINED):
            body.add(index)
        if message != _TRACEBACK:
            index += 1
            continue
        body.add(index)
        index += 1
        while index < len(entries) and (not entries[index].message.strip() or entries[index].message[:1].isspace()):
            body.add(index)
            index += 1
        if index < len(entries):
            chained = index + 1 < len(entries) and any(
                e.message.strip().startswith(_CHAINED) for e in entries[index + 1 : index + 3]
            )
            (body if chained else closing).add(index)
            index += 1
    return closing, body


def _crashed(entries: Sequence[LogEntry], index: int, first: int, closing: set[int]) -> bool:
    """Whether the process died of the error at ``index``: Node's "Node.js vX" footer after it, an
    "uncaught" / "Unhandled 'error' event" at or just above it, or a Python traceback that ends
    the output (only a watcher's lines after it)."""
    if any(_NODE_FOOTER.match(e.message) for e in entries[index + 1 :]):
        return True
    if any(_UNCAUGHT.search(e.text) for e in entries[max(first, index - 3) : index + 1]):
        return True
    if index in closing:
        after = [e.message for e in entries[index + 1 :] if e.message.strip()]
        return all(_WATCHER_LINE.match(m) for m in after)
    return False


def _node_location(entries: Sequence[LogEntry], index: int, first: int) -> str | None:
    """The ``path:line`` Node prints above an uncaught error (its location line, the source line,
    the caret line, a blank line), when it directly precedes the error at ``index``."""
    above = [e.message for e in entries[max(first, index - 5) : index]]
    while above and not above[-1].strip():
        above.pop()
    if above and _CARET.match(above[-1]):
        above.pop()
        if above and not _LOCATION.match(above[-1]):
            above.pop()  # the source line the caret points into
    if not above or (found := _LOCATION.match(above[-1])) is None:
        return None
    return f"{shorten_home(found.group(1))}:{found.group(2)}"


def watcher_in(lines: Sequence[str]) -> str | None:
    """The file watcher whose own lines are in ``lines``: "nodemon", "node --watch", or None."""
    for line in lines:
        if "[nodemon]" in line:
            return "nodemon"
        if line.startswith(("Failed running '", "Restarting '", "Completed running '")):
            return "node --watch"
    return None


def latest_error(
    sources: Sequence[LogSource | str],
    since: float,
    marks: Mapping[str, FileMark] | None = None,
    *,
    topics: frozenset[Topic] = ALL_TOPICS,
    not_before: float | None = None,
    port: int | None = None,
    signed: frozenset[Topic] = NO_TOPICS,
    stops: bool = False,
) -> LogEvidence | None:
    """The unresolved error line of the current run in the most recently written of ``sources``.

    Only files written at or after ``since`` and (when given) ``not_before`` (Unix times) are
    read, each from its mark on (see :func:`floor_of`); a line with its own timestamp counts only
    if stamped at or after both (a line stamped yesterday is not today's reason, however recently
    the file was written). ``signed`` and ``stops`` as in :func:`unresolved_error`. None if no
    line qualifies.
    """
    floor_time = since if not_before is None else max(since, not_before)
    written: list[tuple[float, LogSource, int]] = []
    for item in sources:
        source = item if isinstance(item, LogSource) else LogSource(item)
        try:
            st = os.stat(source.path)
        except OSError:
            continue
        if st.st_mtime < since - MTIME_GRANULARITY_S or (
            not_before is not None and st.st_mtime < not_before - CLOCK_SLACK_S
        ):
            continue
        floor = floor_of(source.path, st, (marks or {}).get(source.path))
        if st.st_size > floor:
            written.append((st.st_mtime, source, floor))
    for mtime, source, floor in sorted(written, key=lambda w: w[0], reverse=True):
        try:
            lines = last_lines(source.path, TAIL_LINES, floor=floor)
        except OSError:
            continue
        run = current_run(lines, source)
        found = unresolved_error(run, topics, port=port, not_before=floor_time, signed=signed, stops=stops)
        if found is not None:
            line, topic, stamp, crashed, stopped = found
            return LogEvidence(source.path, line, mtime, topic, stamp, crashed, stopped, watcher_in(lines))
    return None
