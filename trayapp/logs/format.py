"""Reading one log line: JSON loggers (pino, bunyan, winston, MongoDB), plain lines, errors.

:func:`parse_line` turns a line into a :class:`LogEntry` with its level, its time as shown,
its message and whether it looks like an error; JSON lines are shown as
``time  LEVEL  message  extra=fields``. :func:`first_error_line` picks the line that says
what went wrong in a crash's output ("failed to start: <line>"). Nothing here raises for any
input, and the work per line is bounded however long the line is.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import Any, Literal, TypeAlias

from trayapp.logs.tail import LogLine, LogNotice, NoticeKind


class Level(IntEnum):
    """Severity, with pino's numbers (bunyan uses the same ones)."""

    TRACE = 10
    DEBUG = 20
    INFO = 30
    WARN = 40
    ERROR = 50
    FATAL = 60

    @property
    def label(self) -> str:
        return self.name


EntryKind: TypeAlias = Literal["line", "notice", "marker"]

#: what a line is shown as when it is a marker: between rules, so it stands out in plain text too
MARKER_RULE = "──"
#: what a notice about the file itself starts with
NOTICE_PREFIX = "⋯ "
#: joins the lines of a stack kept inside one entry (Qt shows it as a line break inside one block)
LINE_BREAK = "\u2028"

SCAN = 4096  # characters of a line looked at for its level and error words
MAX_SHOWN = 20000  # characters of one entry shown; the rest is counted
MAX_EXTRAS = 600  # characters of extra JSON fields shown after the message
MAX_STACK = 12  # stack lines kept of an err.stack
MAX_JSON = 1 << 20  # a longer line is not parsed as JSON


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One thing in the log view: a line, a notice about the file, or a state-change marker.

    ``text`` is the line as read; ``display`` is what the view shows (one entry, one block:
    no newlines, ANSI colours removed). ``seq`` is given by the store (-1 before); ``path``
    is the file the entry came from (None for markers).
    """

    source: str
    text: str
    t: float
    level: Level | None
    time_text: str | None
    message: str
    is_error: bool
    kind: EntryKind = "line"
    seq: int = -1
    path: str | None = None
    display: str = ""

    def numbered(self, seq: int) -> LogEntry:
        """The same entry with the store's sequence number."""
        return LogEntry(
            self.source, self.text, self.t, self.level, self.time_text, self.message, self.is_error, self.kind, seq,
            self.path, self.display,
        )  # fmt: skip

    @property
    def rank(self) -> int:
        """The level the filters use: no level counts as info, anything error-looking as an error."""
        rank = int(self.level) if self.level is not None else int(Level.INFO)
        return max(rank, int(Level.ERROR)) if self.is_error else rank


# -- patterns ---------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b(?:\[[0-9;?:<=>]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Characters a text document would treat as a paragraph break or cannot show: kept out of ``display``.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\u2029\ufdd0\ufdd1]")
_CONTROL_MAP = {c: "\ufffd" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, 0xFDD0, 0xFDD1)}
_CONTROL_MAP.update({0x0A: LINE_BREAK, 0x0D: LINE_BREAK, 0x2029: LINE_BREAK})

_LEVEL_WORDS = {
    "trace": Level.TRACE,
    "silly": Level.TRACE,
    "debug": Level.DEBUG,
    "verbose": Level.DEBUG,
    "fine": Level.DEBUG,
    "info": Level.INFO,
    "information": Level.INFO,
    "notice": Level.INFO,
    "http": Level.INFO,
    "log": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "err!": Level.ERROR,
    "severe": Level.ERROR,
    "fatal": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "alert": Level.FATAL,
    "emerg": Level.FATAL,
    "emergency": Level.FATAL,
    "panic": Level.FATAL,
}
_MONGO_SEVERITY = {"F": Level.FATAL, "E": Level.ERROR, "W": Level.WARN, "I": Level.INFO}

# The level of a plain line is the leftmost of: an upper-case word (`ERROR`, `npm WARN`, `npm ERR!`),
# a bracketed word in any case (`[warn]`), `error:` / `warning:` at the start, logfmt's `level=warn`,
# or a Node warning class (`DeprecationWarning:`). Each pattern starts with a literal, which the
# regex engine scans for quickly; one alternation with a leading `\b` costs ten times more.
_UPPER = re.compile(r"(FATAL|CRITICAL|CRIT|PANIC|ERROR|ERR!|WARNING|WARN|INFO|NOTICE|DEBUG|TRACE|VERBOSE)(?![\w-])")
_BRACKET = re.compile(r"\[(fatal|critical|error|err|warning|warn|info|notice|debug|trace|verbose)\]", re.IGNORECASE)
_START = re.compile(r"[\s>*-]*(fatal|error|warning|warn|info|debug|trace)\s*:", re.IGNORECASE)
_LOGFMT = re.compile(r"level=\"?(\w+)")

# Error-looking lines: the failures this stack meets, `Error:` lines, stack frames, tracebacks.
FAILURE_WORDS = re.compile(
    r"E(?:CONNREFUSED|ADDRINUSE|CONNRESET|NOTFOUND|TIMEDOUT|ADDRNOTAVAIL|ACCES|PIPE|HOSTUNREACH|NETUNREACH)\b"
    r"|ERR_[A-Z_]{4,}|Mongo(?:ose)?\w*Error\b|[Uu]nhandled ?(?:[Pp]romise ?)?[Rr]ejection|[Uu]ncaught ?[Ee]xception"
    r"|Cannot find (?:module|package)|FATAL ERROR|JavaScript heap out of memory|Segmentation fault"
    r"|[Aa]ddress already in use|[Cc]onnection refused"  # the same two in the words of Python, Go, Rust…
)
_ERROR_CLASS = re.compile(r"(?:Error|Exception)(?: \[[\w.-]+\])?:")
_FRAME = re.compile(
    r"\s+(?:at\s(?:.*:\d+(?::\d+)?\)?|.*\((?:<anonymous>|native|index \d+)\))\s*$|File \".*\", line \d+)"
)
_CRASH_WORDS = ("npm ERR!", "[nodemon] app crashed", "Traceback (most recent call last)")
_ERROR_TRIGGERS = (
    "err",
    "crash",
    "traceback",
    "exception",
    "rejection",
    "uncaught",
    "cannot find",
    "econn",
    "eaddr",
    "enotfound",
    "etimedout",
    "eacces",
    "epipe",
    "unreach",
    "mongo",
    "fatal",
    "memory",
    "segmentation",
    "already in use",
    "refused",
)

# A line that states the error itself: `Error: listen EADDRINUSE …`, `TypeError: …`,
# `MongoServerSelectionError: …`, `Error [ERR_MODULE_NOT_FOUND]: …`, `[UnhandledPromiseRejection: …`,
# Python's closing `ValueError: …`.
_STATEMENT = re.compile(
    r"\s*(?:Uncaught\s+)?\[?(?:[\w$]+\.)*[A-Z]?\w*(?:Error|Exception|Rejection)(?: \[[\w.-]+\])?:\s*\S"
)

# JSON fields that are the logger's own and not worth repeating on every line
_NOISE = frozenset({"pid", "hostname", "v", "name"})
_MSG_KEYS = ("msg", "message")
_TIME_KEYS = ("time", "timestamp", "@timestamp", "ts", "t", "date")
_LEVEL_KEYS = ("level", "severity", "lvl", "log.level", "s")
_ERR_KEYS = ("err", "error")


# -- parsing ----------------------------------------------------------------------------


def parse_line(text: str, source: str = "", t: float = 0.0, *, seq: int = -1, path: str | None = None) -> LogEntry:
    """One line of a log as an entry. Never raises: anything odd is shown as it came."""
    try:
        return _parse(text, source, t, seq, path)
    except Exception:  # noqa: BLE001 - a log line must never break the view
        shown = _clean(str(text)[:MAX_SHOWN])
        return LogEntry(source, str(text), t, None, None, shown, False, "line", seq, path, shown)


def _parse(text: str, source: str, t: float, seq: int, path: str | None) -> LogEntry:
    plain = _ANSI.sub("", text) if "\x1b" in text else text
    entry = _json_entry(text, plain, source, t, seq, path)
    if entry is not None:
        return entry
    shown = _clean(plain)
    is_error = looks_like_error(shown)
    level = guess_level(shown)
    if level is None and is_error:
        level = Level.ERROR
    return LogEntry(source, text, t, level, None, shown, is_error, "line", seq, path, shown)


def _json_entry(text: str, plain: str, source: str, t: float, seq: int, path: str | None) -> LogEntry | None:
    """The entry of a JSON logger's line, or None if the line is not one."""
    if plain.lstrip()[:1] != "{" or len(plain) > MAX_JSON or not plain.rstrip().endswith("}"):
        return None
    parsed = _parse_json(plain)
    if parsed is None:
        return None
    level, time_text, message, error_text = parsed
    shown = _clean(_join(time_text, level, message))
    is_error = (level is not None and level >= Level.ERROR) or looks_like_error(error_text)
    return LogEntry(source, text, t, level, time_text, _clean(message), is_error, "line", seq, path, shown)


def _clean(text: str) -> str:
    """What can be shown as one block of plain text: no paragraph breaks, no control characters."""
    if _CONTROL.search(text) is not None:
        text = text.rstrip("\r\n").translate(_CONTROL_MAP)
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN]}… [{len(text) - MAX_SHOWN} more characters]"
    return text


def _join(time_text: str | None, level: Level | None, message: str) -> str:
    parts = [time_text] if time_text else []
    parts.append(f"{level.label:<5}" if level is not None else "     ")
    parts.append(message)
    return "  ".join(parts)


def guess_level(text: str) -> Level | None:
    """The level a plain line states, from the common ways of writing it; None if it states none."""
    head = text[:SCAN]
    found: list[tuple[int, str]] = []
    for upper in _UPPER.finditer(head):
        start = upper.start()
        if start == 0 or not (head[start - 1].isalnum() or head[start - 1] == "_"):
            found.append((start, upper.group(1)))
            break
    for pattern in (_BRACKET, _LOGFMT):
        if (match := pattern.search(head)) is not None:
            found.append((match.start(), match.group(1)))
    if (first := _START.match(head)) is not None:
        found.append((0, first.group(1)))
    if (at := head.find("Warning:")) >= 0:
        found.append((at, "warn"))
    if not found:
        return None
    return _LEVEL_WORDS.get(min(found)[1].lower())


def looks_like_error(text: str) -> bool:
    """Whether a line looks like an error: a failure code, an ``Error:`` line, a stack frame, a traceback."""
    head = text[:SCAN]
    if head[:1] in (" ", "\t") and _FRAME.match(head) is not None:
        return True
    low = head.lower()
    if not any(word in low for word in _ERROR_TRIGGERS):
        return False
    return (
        "error:" in low
        or _ERROR_CLASS.search(head) is not None
        or FAILURE_WORDS.search(head) is not None
        or any(word in head for word in _CRASH_WORDS)
    )


def _parse_json(text: str) -> tuple[Level | None, str | None, str, str] | None:
    """(level, time shown, message with extras, text to look for error words in), or None if not a log object."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    msg_key = next((k for k in _MSG_KEYS if isinstance(obj.get(k), str | int | float)), None)
    level_key = next((k for k in _LEVEL_KEYS if k in obj and _level_of(k, obj[k]) is not None), None)
    if msg_key is None and level_key is None:
        return None  # some other JSON; shown as it is
    level = _level_of(level_key, obj[level_key]) if level_key is not None else None
    time_key = next((k for k in _TIME_KEYS if k in obj), None)
    time_text = _time_of(obj[time_key]) if time_key is not None else None
    message = str(obj[msg_key]) if msg_key is not None else ""
    used = {msg_key, level_key, time_key} | _NOISE
    if isinstance(obj.get("c"), str) and level_key == "s":  # MongoDB's own log: component first
        message = f"[{obj['c']}] {message}"
        used |= {"c", "id", "ctx"}
    extras: list[str] = []
    stack: list[str] = []
    for key, value in obj.items():
        if key in used:
            continue
        if key in _ERR_KEYS and isinstance(value, dict):
            stack = _err_fields(key, value, message, extras)
        else:
            _flatten(key, value, extras, depth=2)
    tail = "  ".join(extras)
    if len(tail) > MAX_EXTRAS:
        tail = tail[:MAX_EXTRAS] + "…"
    full = "  ".join(p for p in (message, tail) if p)
    if stack:
        full += LINE_BREAK + LINE_BREAK.join(stack)
    return level, time_text, full, f"{message} {tail}"


def _level_of(key: str, value: Any) -> Level | None:
    if key == "s":
        if isinstance(value, str) and value[:1] in _MONGO_SEVERITY:
            return _MONGO_SEVERITY[value[:1]]
        return Level.DEBUG if isinstance(value, str) and value.startswith("D") else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
        if number <= 0:
            return None
        return max((lv for lv in Level if lv <= number), default=Level.TRACE)
    if isinstance(value, str):
        word = _ANSI.sub("", value).strip().lower()
        if word.isdigit():
            return _level_of(key, int(word))
        return _LEVEL_WORDS.get(word)
    return None


def _time_of(value: Any) -> str | None:
    try:
        if isinstance(value, dict) and "$date" in value:  # MongoDB: {"$date": "2024-…"}
            value = value["$date"]
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value  # pino's milliseconds, or Unix seconds
            return clock_text(float(seconds))
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                return value.strip()[:40] or None
            if when.tzinfo is not None:
                when = when.astimezone()
            return _day(when.date()) + when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
    except (ValueError, OverflowError, OSError):
        pass
    return None


def clock_text(seconds: float) -> str:
    """``HH:MM:SS.mmm`` in local time; a time on another day than today carries its date
    (``2026-11-29 20:06:08.000``), so yesterday's line never reads as today's."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    local = time.localtime(whole)
    return _day(date(local.tm_year, local.tm_mon, local.tm_mday)) + time.strftime("%H:%M:%S", local) + f".{millis:03d}"


def _day(day: date) -> str:
    """``""`` for today (local time), else ``"YYYY-MM-DD "``."""
    return "" if day == date.today() else f"{day.isoformat()} "


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if (not value or any(c in value for c in ' "=')) else value
    return json.dumps(value, ensure_ascii=False)


def _flatten(key: str, value: Any, out: list[str], depth: int) -> None:
    if isinstance(value, dict) and value and depth > 0:
        for sub, inner in value.items():
            _flatten(f"{key}.{sub}", inner, out, depth - 1)
    elif isinstance(value, dict | list):
        out.append(f"{key}={json.dumps(value, ensure_ascii=False, separators=(',', ':'))[:200]}")
    else:
        out.append(f"{key}={_scalar(value)}")


def _err_fields(key: str, err: dict[str, Any], message: str, out: list[str]) -> list[str]:
    """pino's / bunyan's serialised error: type and message inline, the stack's frames kept for below."""
    frames: list[str] = []
    stack = err.get("stack")
    for sub, value in err.items():
        if sub == "stack":
            continue
        if sub == "message" and value == message:
            continue
        _flatten(f"{key}.{sub}", value, out, depth=1)
    if isinstance(stack, str):
        lines = [line.rstrip() for line in stack.splitlines() if line.strip()]
        if lines and (lines[0] == f"{err.get('type', '')}: {err.get('message', '')}" or lines[0].endswith(message)):
            lines = lines[1:]  # the stack's first line repeats the type and message
        if len(lines) > MAX_STACK:
            lines = lines[:MAX_STACK] + [f"    … {len(lines) - MAX_STACK} more"]
        frames = lines
    return frames


# -- items from the tailer, markers -----------------------------------------------------

_NOTICE_LEVELS = {
    NoticeKind.NOT_FOUND: Level.WARN,
    NoticeKind.UNREADABLE: Level.ERROR,
    NoticeKind.DELETED: Level.WARN,
    NoticeKind.MOVED: Level.INFO,
}


def notice_entry(notice: LogNotice, seq: int = -1) -> LogEntry:
    """A notice about the file itself (rotated, truncated, missing) as an entry."""
    message = _clean(notice.message)
    level = _NOTICE_LEVELS.get(notice.kind, Level.INFO)
    shown = _clean(f"{NOTICE_PREFIX}{message} ({notice.path})")
    return LogEntry(
        notice.source, notice.message, notice.t, level, None, message, False, "notice", seq, notice.path, shown
    )


def entry_from_item(item: LogLine | LogNotice, seq: int = -1) -> LogEntry:
    """A tailer's item as an entry. Never raises."""
    if isinstance(item, LogNotice):
        try:
            return notice_entry(item, seq)
        except Exception:  # noqa: BLE001
            return parse_line(str(item.message), item.source, item.t, seq=seq, path=item.path)
    return parse_line(item.text, item.source, item.t, seq=seq, path=item.path)


def marker_text(what: str, source: str | None = None, t: float | None = None) -> str:
    """``── 12:03:04 backend: up → down (refused) ──``: how a state change is written into the log."""
    when = time.strftime("%H:%M:%S", time.localtime(time.time() if t is None else t))
    who = f"{source}: " if source else ""
    return f"{MARKER_RULE} {when} {who}{what} {MARKER_RULE}"


def marker_entry(text: str, source: str | None = None, t: float = 0.0, seq: int = -1) -> LogEntry:
    """A marker: shown whatever the level filter, in every view of its source (all views if no source)."""
    shown = _clean(str(text))
    if not shown.startswith(MARKER_RULE):
        shown = f"{MARKER_RULE} {shown} {MARKER_RULE}"
    return LogEntry(source or "", str(text), t, None, None, shown, False, "marker", seq, None, shown)


# -- the line that says what went wrong ---------------------------------------------------


def first_error_line(lines: Iterable[str]) -> str | None:
    """The line of some output that best says what went wrong, or None if nothing looks like an error.

    The first line that states an error (``Error: listen EADDRINUSE: address already in use
    :::5000``, ``MongoServerSelectionError: …``, ``[UnhandledPromiseRejection: …``) wins over
    lines that only mention a failure code or an error level, and those over stack frames and
    traceback headers. JSON lines count by their level and message. At most 300 characters.
    """
    best: tuple[int, str] | None = None
    try:
        for raw in lines:
            score, line = _error_score(str(raw))
            if score and (best is None or score > best[0]):
                best = (score, line)
                if score == 4:
                    break
    except Exception:  # noqa: BLE001 - a summary must never fail the caller
        pass
    if best is None:
        return None
    line = best[1].strip()
    return line if len(line) <= 300 else line[:299] + "…"


def error_score(raw: str) -> tuple[int, str]:
    """How well one line says what went wrong (4: states the error, 3: names a failure, 2: error
    level, 1: a stack frame or crash notice, 0: not an error) and its text, as
    :func:`first_error_line` ranks it. Never raises."""
    try:
        return _error_score(str(raw))
    except Exception:  # noqa: BLE001 - a summary must never fail the caller
        return (0, str(raw))


def _error_score(raw: str) -> tuple[int, str]:
    """4: states the error; 3: names a failure; 2: error level; 1: stack frame or crash notice; 0: none."""
    plain = _ANSI.sub("", raw) if "\x1b" in raw else raw
    json_entry = _json_entry(raw, plain, "", 0.0, -1, None)
    if json_entry is not None:  # a JSON logger's line: its level and message say it
        text = json_entry.message.split(LINE_BREAK, 1)[0]
        named = json_entry.is_error or FAILURE_WORDS.search(text) is not None
        return (3, text) if named else (0, text)
    entry = parse_line(plain[:SCAN])
    text = entry.message
    if not entry.is_error and (entry.level is None or entry.level < Level.ERROR):
        return (0, text)
    if _STATEMENT.match(text):
        return (4, text)
    if FAILURE_WORDS.search(text):
        return (3, text)
    if _FRAME.match(text) or any(word in text for word in _CRASH_WORDS):
        return (1, text)
    return (2, text)


# -- a file watcher giving up on its app -----------------------------------------------------

# What a watcher prints when the app it runs died and it waits for a file change instead of
# exiting: nodemon 3 (lib/monitor/run.js, "app crashed - waiting for file changes before
# starting..."), and Node's own `node --watch` (lib/internal/main/watch_mode.js, "Failed running
# 'server.js'"). The process trayapp started lives on; nothing listens.
_WATCHER_CRASH = re.compile(r"\[nodemon\] app crashed\b|^Failed running '")


def watcher_crash_line(text: str) -> str | None:
    """``text`` without colours if it is a file watcher's "the app crashed, waiting for changes" line."""
    plain = _ANSI.sub("", text) if "\x1b" in text else text
    return plain.strip() if _WATCHER_CRASH.search(plain) else None
