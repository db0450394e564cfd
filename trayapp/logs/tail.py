"""Follow log files by name, like GNU ``tail -F``.

A :class:`FileFollower` follows one path, poll-driven and thread-free: it survives rename
rotation (the rest of the old file is drained, then the new one is read from its start),
copytruncate (size below our position: read what we had not yet read from the copy, found
among the file's siblings by the bytes read last, then start again at 0), deletion and later
re-creation,
unfinished last lines (held back until their newline arrives), invalid UTF-8 (replaced)
and endless lines (capped, with a marker). It never reads a file whole: following starts
with a seek to the end, and :func:`last_lines` reads backwards in blocks.

After a rotation the old file stays open for ``rotate_wait`` seconds, because a writer that
has not reopened its log yet (logrotate's ``create`` plus a HUP) is still adding to it;
GNU tail loses those lines. A deleted file is drained and closed at once.

:class:`LogTailer` runs many followers on one background thread and hands out batches.
"""

from __future__ import annotations

import codecs
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from trayapp.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_LINE = 16384  # bytes kept of one line; the rest is counted, not kept
READ_CHUNK = 65536
#: how long a LogTailer with nothing to follow sleeps before looking again (add() wakes it at once)
IDLE_WAIT = 60.0
MAX_POLL_BYTES = 1 << 20  # one poll reads at most this much, so a burst cannot starve the caller
ROTATE_WAIT = 5.0  # seconds a rotated file is still read for late writes
TAIL_BYTES = 64  # bytes compared to tell a copytruncate's copy from an unrelated sibling
MAX_COPY_CANDIDATES = 16  # siblings (newest first) looked at for a copytruncate's copy
#: endings of compressed copies (logrotate's compress, pm2-logrotate's compress): not looked in, see _copy_candidates
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".z", ".zip")
BLOCK = 65536  # backwards-reading block size


@dataclass(frozen=True)
class LogLine:
    """One line of a followed file, as plain text: decoded with replacement, no newline, capped."""

    source: str  # a label: the service name or the file path
    path: str
    text: str
    t: float  # wall time it was read (Unix)
    seq: int  # per-follower sequence number, from 0


class NoticeKind(Enum):
    NOT_FOUND = "not_found"
    APPEARED = "appeared"
    ROTATED = "rotated"
    MOVED = "moved"  # renamed away and no new file yet
    TRUNCATED = "truncated"
    DELETED = "deleted"
    UNREADABLE = "unreadable"


_MESSAGES = {
    NoticeKind.NOT_FOUND: "log file not found; waiting for it to appear",
    NoticeKind.APPEARED: "log file appeared; reading from the start",
    NoticeKind.ROTATED: "log rotated; reading the new file from the start",
    NoticeKind.MOVED: "log rotated; waiting for the new file",
    NoticeKind.TRUNCATED: "log truncated; reading from the start",
    NoticeKind.DELETED: "log file deleted; waiting for it to come back",
}


@dataclass(frozen=True)
class LogNotice:
    """Something about the file itself that a user should see in the log view."""

    source: str
    path: str
    kind: NoticeKind
    message: str
    t: float


LogItem: TypeAlias = LogLine | LogNotice


if sys.platform == "win32":
    import ctypes
    import msvcrt
    from ctypes import wintypes

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.CreateFileW.restype = wintypes.HANDLE
    _kernel32.CreateFileW.argtypes = (
        wintypes.LPCWSTR,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.LPVOID,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.HANDLE,
    )
    _GENERIC_READ = 0x80000000
    _SHARE_READ_WRITE_DELETE = 0x1 | 0x2 | 0x4
    _OPEN_EXISTING = 3
    _INVALID_HANDLE = wintypes.HANDLE(-1).value

    def _open_for_reading(path: str) -> int:
        # os.open shares read+write but not delete, and then the writer's rotation fails with WinError 32.
        handle = _kernel32.CreateFileW(path, _GENERIC_READ, _SHARE_READ_WRITE_DELETE, None, _OPEN_EXISTING, 0, None)
        if handle == _INVALID_HANDLE:
            raise ctypes.WinError(ctypes.get_last_error())
        return msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)

else:

    def _open_for_reading(path: str) -> int:
        # O_NONBLOCK: a FIFO at the path must not hang the poll; it is refused as "not a regular file".
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def _pread(fd: int, offset: int, size: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    chunks = []
    while size > 0 and (data := os.read(fd, size)):
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _after_newlines_from_end(fd: int, end: int, k: int, *, floor: int = 0, block: int = BLOCK) -> int | None:
    """Offset just after the ``k``-th newline counted back from ``end`` (not below ``floor``), or None."""
    if k <= 0:
        return end
    pos = end
    while pos > floor:
        step = min(block, pos - floor)
        pos -= step
        data = _pread(fd, pos, step)
        i = len(data)
        while (i := data.rfind(b"\n", 0, i)) >= 0:
            k -= 1
            if k == 0:
                return pos + i + 1
    return None


def _decode(raw: bytes) -> str:
    return (raw[:-1] if raw.endswith(b"\r") else raw).decode("utf-8", "replace")


class _Lines:
    """Splits bytes into decoded, capped lines, holding back an unfinished last line."""

    def __init__(self, max_line: int) -> None:
        self._max = max_line
        self._head = bytearray()  # the kept start of the unfinished line
        self._dropped = 0  # bytes of it beyond the cap

    def feed(self, data: bytes) -> list[str]:
        *complete, rest = data.split(b"\n")
        lines = []
        for part in complete:
            if self._head or self._dropped or len(part) > self._max:
                self._add(part)
                lines.append(self._take())
            else:
                lines.append(_decode(part))
        self._add(rest)
        return lines

    def flush(self) -> str | None:
        """The unfinished line, if any, as if its newline had come."""
        return self._take() if self._head or self._dropped else None

    def _add(self, part: bytes) -> None:
        room = self._max - len(self._head)
        if len(part) > room:
            self._head += part[:room]
            self._dropped += len(part) - room
        else:
            self._head += part

    def _take(self) -> str:
        head, dropped = bytes(self._head), self._dropped
        self._head.clear()
        self._dropped = 0
        if not dropped:
            return _decode(head)
        # final=False leaves out a character that the cap cut in half
        kept = codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=False)
        return f"{kept}… [line truncated, {len(head) + dropped} bytes]"


class _Stream:
    """One open file being read."""

    def __init__(self, fd: int, ident: tuple[int, int], pos: int, max_line: int) -> None:
        self.fd = fd
        self.ident = ident  # (st_dev, st_ino)
        self.pos = pos
        self.lines = _Lines(max_line)
        self.at_eof = False
        self.tail = b""  # the last bytes read: recognises this file's copy after a copytruncate
        self.farewell: NoticeKind | None = None  # once retired: the notice to give when drained
        self.deadline = 0.0  # once retired: monotonic time after which late writes are no longer awaited
        self.held: list[LogItem] = []  # read, but waiting for an older file's last lines to go first
        self.final = False  # once retired: read to its end after a newer file was written to


class FileFollower:
    """Follows one file by name. Poll-driven and thread-free; use it from one thread at a time.

    The file is opened here, so ``from_start=False`` means "what is written after this call"
    (a line being written right now is delivered whole). With ``backlog=n`` the first poll
    starts with the file's last ``n`` lines, read from the same position as everything after
    them: a "last lines, then follow" view that neither loses nor repeats the lines written in
    between. A file that does not exist yet, or that comes back after rotation or deletion,
    is read from its start.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source: str,
        *,
        from_start: bool = False,
        max_line: int = MAX_LINE,
        read_chunk: int = READ_CHUNK,
        max_poll_bytes: int = MAX_POLL_BYTES,
        rotate_wait: float = ROTATE_WAIT,
        clock: Clock | None = None,
        backlog: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.source = source
        self.behind = False  # the last poll stopped at max_poll_bytes; poll again soon
        self._max_line = max_line
        self._read_chunk = read_chunk
        self._max_poll_bytes = max_poll_bytes
        self._rotate_wait = rotate_wait
        self._clock = clock or SystemClock()
        self._current: _Stream | None = None
        self._retired: list[_Stream] = []  # rotated away, drained before the current file
        self._problem: str | None = None  # what was last reported as wrong, so it is said once
        self._seq = 0
        self._now = self._clock.wall()
        self._closed = False
        self._pending: list[LogItem] = []
        self._open(self._pending, at_end=not from_start, backlog=backlog)

    def __enter__(self) -> FileFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self) -> list[LogItem]:
        """Whatever is new since the last poll, in order: at most ``max_poll_bytes`` read."""
        if self._closed:
            return []
        self._now = self._clock.wall()
        items, self._pending = self._pending, []
        if self._current is not None:
            self._check_name()
        # Files rotated away first, oldest first: their rest was written before the new file's lines.
        # Each read takes from one budget, so a big rest is finished before the new file gets a byte.
        budget = self._drain_retired(items, self._max_poll_bytes)
        if self._current is None:
            self._open(items)
        current = self._current
        if current is not None and not self._retired_unread():
            fresh, current.held = current.held, []
            self._check_truncation(fresh)
            budget = self._read(current, fresh, budget)
            # A writer switching files may have added its last lines to the old one after the drain
            # above and then written what was just read from the new one: those old lines come first,
            # and when this poll's budget does not reach their end, the new ones wait for them.
            budget = self._drain_retired(items, budget)
            if self._retired_unread(newer_written=current.pos > 0):
                current.held = fresh
            else:
                items += fresh
        self.behind = budget <= 0 or any(s.held for s in [*self._retired, current] if s is not None)
        return items

    def _retired_unread(self, streams: list[_Stream] | None = None, newer_written: bool = False) -> bool:
        """Whether a file rotated away (or one of ``streams``) holds bytes not read yet.

        Once a newer file has been written to, the writer has moved on: an older file found
        read to its end is then final and is not looked at again.
        """
        unread = False
        for stream in self._retired if streams is None else streams:
            if stream.final:
                continue
            if _unread(stream):
                unread = True
            elif newer_written:
                stream.final = True
        return unread

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stream in [*self._retired, self._current]:
            if stream is not None:
                _close(stream.fd)
        self._retired.clear()
        self._current = None

    # -- internals ------------------------------------------------------------------

    def _open(self, out: list[LogItem], *, at_end: bool = False, backlog: int | None = None) -> None:
        try:
            fd = _open_for_reading(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self._report(out, "missing", NoticeKind.NOT_FOUND, _MESSAGES[NoticeKind.NOT_FOUND])
            return
        except OSError as exc:
            self._report_unreadable(out, exc)
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(0, "not a regular file")
            if backlog:
                pos = _backlog_offset(fd, st.st_size, backlog, self._max_line)
            else:
                pos = _resume_offset(fd, st.st_size, self._max_line) if at_end else 0
            os.lseek(fd, pos, os.SEEK_SET)
        except OSError as exc:
            _close(fd)
            self._report_unreadable(out, exc)
            return
        if self._problem == "missing":
            out.append(self._notice(NoticeKind.APPEARED))
        self._problem = None
        self._current = _Stream(fd, (st.st_dev, st.st_ino), pos, self._max_line)

    def _check_name(self) -> None:
        """Retire the open file if the name now leads elsewhere or nowhere."""
        current = self._current
        assert current is not None
        delete_pending = False
        try:
            st: os.stat_result | None = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError as exc:
            if sys.platform != "win32" or not isinstance(exc, PermissionError):
                return  # cannot tell (say, a directory lost its x bit); keep reading what is open
            # Windows says "access denied" for a deleted file that is still open (by us): let go of it at
            # once, or the name stays taken and the writer cannot create its log again.
            st, delete_pending = None, True
        if st is not None and (st.st_dev, st.st_ino) == current.ident:
            return
        try:
            deleted = delete_pending or os.fstat(current.fd).st_nlink == 0
        except OSError:
            deleted = True
        if st is not None:
            current.farewell = NoticeKind.ROTATED
        else:
            current.farewell = NoticeKind.DELETED if deleted else NoticeKind.MOVED
            self._problem = "missing"
        current.deadline = self._clock.monotonic() + (0.0 if deleted else self._rotate_wait)
        log.debug("%s: %s", self.path, current.farewell.value)
        self._retired.append(current)
        self._current = None

    def _check_truncation(self, out: list[LogItem]) -> None:
        current = self._current
        assert current is not None
        try:
            size = os.fstat(current.fd).st_size
        except OSError:
            return
        if size < current.pos or (size > current.pos and not self._still_ends_as_read(current)):
            copy = self._read_rest_from_copy(current, out)
            self._flush(current, out)
            os.lseek(current.fd, 0, os.SEEK_SET)
            current.pos = 0
            said = copy and f"log truncated; read its last lines from {os.path.basename(copy)}, now from the start"
            out.append(self._notice(NoticeKind.TRUNCATED, said or None))

    @staticmethod
    def _still_ends_as_read(stream: _Stream) -> bool:
        """Whether the bytes before our position are still those we read: a file truncated and
        written past our position again (between two polls) is not one that merely grew."""
        try:
            return not stream.tail or _holds_tail(stream.fd, stream)
        except OSError:
            return True
        finally:
            os.lseek(stream.fd, stream.pos, os.SEEK_SET)

    def _read_rest_from_copy(self, stream: _Stream, out: list[LogItem]) -> str | None:
        """After a copytruncate, read the lines written between our last read and the copy from
        the copy: the sibling that holds the bytes we read last at the offset we read them, whatever
        the rotator named it (see :func:`_copy_candidates`). Returns its path when something was read."""
        if not stream.tail:
            return None
        for copy in _copy_candidates(self.path, stream.ident, stream.pos):
            try:
                fd = _open_for_reading(copy)
            except OSError:
                continue
            try:
                size = os.fstat(fd).st_size
                if size <= stream.pos or not _holds_tail(fd, stream):
                    continue
                os.lseek(fd, stream.pos, os.SEEK_SET)
                rest = _Stream(fd, (0, 0), stream.pos, self._max_line)
                rest.lines = stream.lines  # the same byte stream: an unfinished line goes on
                self._read(rest, out, min(size - stream.pos, self._max_poll_bytes))
                return copy
            except OSError:
                continue
            finally:
                _close(fd)
        return None

    def _drain_retired(self, out: list[LogItem], budget: int) -> int:
        """Read the files rotated away, oldest first. A file's lines go out only once every file
        before it is read to its end; until then they wait in its ``held``."""
        for index, stream in enumerate(list(self._retired)):
            earlier = self._retired[:index]
            if self._retired_unread(earlier):
                break
            got, stream.held = stream.held, []
            budget = self._read(stream, got, budget)
            if self._retired_unread(earlier, newer_written=stream.pos > 0):  # the writer's last lines there
                stream.held = got
                break
            out += got
            if _unread(stream):
                break  # the budget ran out: later files wait
            if self._clock.monotonic() >= stream.deadline:
                self._flush(stream, out)
                self._retired.remove(stream)
                _close(stream.fd)
            if stream.farewell is not None:
                out.append(self._notice(stream.farewell))
                stream.farewell = None
        return budget

    def _read(self, stream: _Stream, out: list[LogItem], budget: int) -> int:
        stream.at_eof = False
        while budget > 0:
            try:
                data = os.read(stream.fd, min(self._read_chunk, budget))
            except OSError as exc:
                self._report_unreadable(out, exc)
                stream.at_eof = True
                break
            if not data:
                stream.at_eof = True
                break
            stream.pos += len(data)
            stream.tail = data[-TAIL_BYTES:] if len(data) >= TAIL_BYTES else (stream.tail + data)[-TAIL_BYTES:]
            budget -= len(data)
            out += [self._line(text) for text in stream.lines.feed(data)]
        return budget

    def _flush(self, stream: _Stream, out: list[LogItem]) -> None:
        text = stream.lines.flush()
        if text is not None:
            out.append(self._line(text))

    def _line(self, text: str) -> LogLine:
        self._seq += 1
        return LogLine(self.source, self.path, text, self._now, self._seq - 1)

    def _notice(self, kind: NoticeKind, message: str | None = None) -> LogNotice:
        return LogNotice(self.source, self.path, kind, message or _MESSAGES[kind], self._now)

    def _report(self, out: list[LogItem], problem: str, kind: NoticeKind, message: str) -> None:
        if self._problem != problem:
            self._problem = problem
            out.append(self._notice(kind, message))

    def _report_unreadable(self, out: list[LogItem], exc: OSError) -> None:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        message = f"cannot read log: {reason}"
        if self._problem != message:
            log.warning("%s: %s", self.path, message)
        self._report(out, message, NoticeKind.UNREADABLE, message)


def _resume_offset(fd: int, size: int, max_line: int) -> int:
    """Where following starts in an existing file: after its last newline, so an unfinished line comes whole."""
    floor = max(0, size - max_line - 1)
    offset = _after_newlines_from_end(fd, size, 1, floor=floor)
    if offset is not None:
        return offset
    return 0 if floor == 0 else size


def _copy_candidates(path: str, ident: tuple[int, int], pos: int) -> list[str]:
    """The files beside ``path`` that may be its copytruncate copy, newest first (at most
    ``MAX_COPY_CANDIDATES``): regular files longer than ``pos`` whose name starts with the
    file's name less its extension. That covers every rotator's naming: logrotate's ``app.log.1``
    and dateext ``app.log-20261130`` (or ``app-20261130.log`` with ``extension .log``),
    pm2-logrotate's ``app-out__2026-11-30_14-52-00.log``, numbered ``app1.log``, trayapp's own
    ``NAME.log.1``. Which of them is the copy is told by its bytes, not its name.

    Compressed copies (``app.log.1.gz``) are left out: telling them by their bytes means
    inflating everything up to our offset, and logrotate's ``compress`` writes the ``.gz`` while
    we would read it; with ``delaycompress`` the newest copy stays plain and is found. A copy
    moved to another folder (logrotate's ``olddir``) is not looked for.
    """
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0] or name
    found: list[tuple[float, str]] = []
    try:
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                if entry.name == name or not entry.name.startswith(stem):
                    continue
                if entry.name.lower().endswith(COMPRESSED):
                    log.debug("%s: not looking in compressed %s for the copy", path, entry.name)
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size > pos and (st.st_dev, st.st_ino) != ident:
                    found.append((st.st_mtime, entry.path))
    except OSError:
        return []
    found.sort(reverse=True)
    return [candidate for _, candidate in found[:MAX_COPY_CANDIDATES]]


def _backlog_offset(fd: int, size: int, n: int, max_line: int) -> int:
    """Where the last ``n`` lines of a file start (a last line without newline counts).

    Looks back at most ``n`` capped lines' worth of bytes: when the lines there are longer
    than that, the backlog starts after the first newline it saw (or at the end).
    """
    if n <= 0 or size == 0:
        return size
    k = n + 1 if _pread(fd, size - 1, 1) == b"\n" else n
    floor = max(0, size - k * (max_line + 1))
    start = _after_newlines_from_end(fd, size, k, floor=floor)
    if start is not None:
        return start
    if floor == 0:
        return 0
    data = _pread(fd, floor, size - floor)
    first = data.find(b"\n")
    return size if first < 0 else floor + first + 1


def _holds_tail(fd: int, stream: _Stream) -> bool:
    """Whether ``fd`` has the bytes ``stream`` read last, where it read them."""
    return _pread(fd, stream.pos - len(stream.tail), len(stream.tail)) == stream.tail


def _unread(stream: _Stream) -> bool:
    """Whether ``stream``'s file holds bytes past what was read (a file that shrank: none)."""
    try:
        return os.fstat(stream.fd).st_size > stream.pos
    except OSError:
        return False


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def last_lines(
    path: str | os.PathLike[str], n: int, *, max_line: int = MAX_LINE, block: int = BLOCK, floor: int = 0
) -> list[str]:
    """The last ``n`` lines of a file (a final line without newline counts), decoded and capped like followed ones;
    none from before byte ``floor``.

    Reads backwards in blocks to find where they start, so memory stays at a block plus the
    lines themselves however large the file. Raises ``OSError`` for the caller to put in words.
    """
    if n <= 0:
        return []
    fd = _open_for_reading(os.fspath(path))
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return []
        k = n + 1 if _pread(fd, size - 1, 1) == b"\n" else n
        start = _after_newlines_from_end(fd, size, k, block=block)
        start = max(floor, 0 if start is None else start)
        os.lseek(fd, start, os.SEEK_SET)
        splitter, lines, left = _Lines(max_line), [], size - start
        while left > 0 and (data := os.read(fd, min(block, left))):
            left -= len(data)
            lines += splitter.feed(data)
        if (rest := splitter.flush()) is not None:
            lines.append(rest)
        return lines[-n:]
    finally:
        os.close(fd)


class LogTailer:
    """Many followers on one daemon thread, polled every ``interval`` seconds while they have news.

    A pass that finds nothing doubles the wait before the next, up to ``idle_interval``
    (default ten times ``interval``, at most 1 s, GNU tail's own polling period); the first
    news brings it back to ``interval``. With nothing to follow the thread sleeps until
    :meth:`add`. A follower that polls every 100 ms with nothing to read was 17 % of the idle
    tray's CPU (issue #12). So the first line after a quiet spell arrives within
    ``idle_interval``, and a steady stream within ``interval``.

    ``on_batch(items)`` is called on the tailer thread with everything new from one pass
    (each file's items in order); a GUI must hop to its own thread. ``add``, ``remove``,
    ``start`` and ``stop`` may be called from any thread.
    """

    def __init__(
        self,
        on_batch: Callable[[list[LogItem]], None],
        *,
        interval: float = 0.1,
        idle_interval: float | None = None,
        clock: Clock | None = None,
        max_line: int = MAX_LINE,
        rotate_wait: float = ROTATE_WAIT,
    ) -> None:
        self._on_batch = on_batch
        self._interval = interval
        self._idle_interval = max(interval, min(1.0, 10 * interval) if idle_interval is None else idle_interval)
        self._clock = clock or SystemClock()
        self._max_line = max_line
        self._rotate_wait = rotate_wait
        self._lock = threading.Lock()  # held while a follower polls, so remove() never closes one mid-read
        self._followers: dict[str, FileFollower] = {}
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by add() and stop(): end the current wait early
        self._thread: threading.Thread | None = None

    def add(
        self, path: str | os.PathLike[str], source: str, from_start: bool = False, backlog: int | None = None
    ) -> None:
        """Follow ``path``; without ``from_start``, from what is written after this call, with
        ``backlog`` its last lines before that (see :class:`FileFollower`). Twice is once."""
        follower = FileFollower(
            path,
            source,
            from_start=from_start,
            max_line=self._max_line,
            rotate_wait=self._rotate_wait,
            clock=self._clock,
            backlog=backlog,
        )
        self.follow(follower)

    def follow(self, follower: FileFollower) -> None:
        """Go on polling ``follower`` (a caller that polled it first keeps its read position). Twice is once."""
        key = os.path.abspath(follower.path)
        with self._lock:
            if key not in self._followers:
                self._followers[key] = follower
                self._wake.set()
                return
        follower.close()

    def follow_only(self, sources: Iterable[tuple[str, str]], *, backlog: int | None = None) -> list[tuple[str, str]]:
        """Follow exactly these ``(source, path)`` pairs (a config reload): a path already followed
        keeps its follower and its place in the file (under the new source name if that changed),
        a path no longer wanted is closed, and a new one starts ``backlog`` lines before the end
        of its file. Returns the pairs added. New files are opened on the calling thread.
        """
        wanted = {os.path.abspath(path): (source, path) for source, path in sources}
        with self._lock:
            for key in [k for k in self._followers if k not in wanted]:
                self._followers.pop(key).close()
            for key, follower in self._followers.items():
                follower.source = wanted[key][0]
            fresh = [pair for key, pair in wanted.items() if key not in self._followers]
        added = []
        for source, path in fresh:
            follower = FileFollower(
                path,
                source,
                backlog=backlog,
                max_line=self._max_line,
                rotate_wait=self._rotate_wait,
                clock=self._clock,
            )
            with self._lock:
                key = os.path.abspath(path)
                if key in self._followers:  # added meanwhile by add()
                    follower.close()
                    continue
                self._followers[key] = follower
                self._wake.set()
            added.append((source, path))
        return added

    def followed(self) -> list[tuple[str, str]]:
        """The ``(source, path)`` pairs followed now."""
        with self._lock:
            return [(f.source, f.path) for f in self._followers.values()]

    def remove(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            follower = self._followers.pop(os.path.abspath(path), None)
            if follower is not None:
                follower.close()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="trayapp-logtail", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread (waiting at most ``timeout`` for it) and close every file."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("log tailer thread still busy after %.1f s (in on_batch?)", timeout)
        with self._lock:
            for follower in self._followers.values():
                follower.close()
            self._followers.clear()

    def _run(self) -> None:
        """The tailer thread."""
        wait = self._interval
        while not self._stopping.is_set():
            self._wake.clear()
            behind, news = self._pass()
            if behind:
                continue
            wait = self._interval if news else min(2 * wait, self._idle_interval)
            with self._lock:
                idle = not self._followers
            # Nothing to follow: sleep until add() or stop() (bounded, as every wait is).
            if self._wake.wait(IDLE_WAIT if idle else wait):
                wait = self._interval  # a new file: follow it closely at first

    def _pass(self) -> tuple[bool, bool]:
        """One poll of every follower: (some follower is behind, anything was delivered)."""
        items: list[LogItem] = []
        behind = False
        with self._lock:
            followers = list(self._followers.values())
        for follower in followers:
            if self._stopping.is_set():
                return False, False
            with self._lock:
                try:
                    items += follower.poll()  # a closed (removed) follower gives nothing
                except Exception:
                    log.exception("polling %s failed", follower.path)
                behind = behind or follower.behind
        if items:
            try:
                self._on_batch(items)
            except Exception:
                log.exception("log batch subscriber failed")
        return behind, bool(items)
