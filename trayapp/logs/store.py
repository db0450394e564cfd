"""The log lines every view shows: one bounded ring buffer of entries, numbered in order.

Not thread-safe, on purpose: the store belongs to the GUI thread, and no lock is taken per
line. The tailer's batches are parsed on the tailer's thread (``parse_line`` is pure), reach
the GUI thread through a queued Qt signal (``trayapp.ui.logview.LogFeed``) and only then go in
with :meth:`LogStore.add_parsed`; :meth:`LogStore.add_batch` parses and stores in one go.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable

from trayapp.logs.format import Level, LogEntry, entry_from_item, marker_entry
from trayapp.logs.tail import LogLine, LogNotice

CAPACITY = 50_000


def passes(entry: LogEntry, sources: set[str] | frozenset[str] | None, min_level: Level | None) -> bool:
    """Whether a view showing ``sources`` (None: all) at ``min_level`` and up (None: all) shows ``entry``.

    Markers ignore the level and, without a source of their own, the source too. Lines without
    a level count as info; error-looking lines as errors.
    """
    if entry.kind == "marker":
        return sources is None or not entry.source or entry.source in sources
    if sources is not None and entry.source not in sources:
        return False
    return min_level is None or entry.rank >= min_level


class LogStore:
    """The last ``capacity`` entries; each gets the next sequence number (0, 1, 2, …), never reused.

    Sequence numbers are contiguous, so the entry with a given number is found by arithmetic
    (by a binary search across a gap of skipped lines). Lines the feed had to skip (when far
    more arrived at once than the store holds) still use up their numbers (:meth:`skip`), so
    ``last_seq + 1`` counts every line seen.
    """

    def __init__(self, capacity: int = CAPACITY, *, wall: Callable[[], float] = time.time) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._wall = wall
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._next = 0
        self._paths: dict[str, str] = {}
        self.skipped = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def first_seq(self) -> int:
        """The oldest entry still held (``last_seq + 1`` when empty)."""
        return self._entries[0].seq if self._entries else self._next

    @property
    def last_seq(self) -> int:
        """The newest sequence number given out; -1 before the first entry."""
        return self._next - 1

    def add_batch(self, items: Iterable[LogLine | LogNotice]) -> list[LogEntry]:
        """Parse and keep a tailer batch; returns the new entries in order.

        Of a batch longer than the store, only the newest ``capacity`` items are parsed; the
        others are counted as skipped (they would be pushed out at once).
        """
        items = list(items)
        if len(items) > self.capacity:
            self.skip(len(items) - self.capacity)
            items = items[len(items) - self.capacity :]
        added = []
        seq = self._next
        for item in items:
            entry = entry_from_item(item, seq)
            seq += 1
            added.append(entry)
            if entry.path is not None and entry.source:
                self._paths[entry.source] = entry.path
        self._next = seq
        self._entries.extend(added)
        return added

    def add_parsed(self, entries: Iterable[LogEntry]) -> list[LogEntry]:
        """Keep entries parsed elsewhere (on the tailer's thread, say), numbering them; returns them numbered.

        Like :meth:`add_batch`, a batch longer than the store keeps only its newest ``capacity``.
        """
        entries = list(entries)
        if len(entries) > self.capacity:
            self.skip(len(entries) - self.capacity)
            entries = entries[len(entries) - self.capacity :]
        seq = self._next
        added = []
        for entry in entries:
            if entry.seq == -1:
                # Not numbered yet, so not in any store nor view: the number is stamped in place
                # rather than by a copy (a copy per line costs a microsecond and garbage-collector work).
                object.__setattr__(entry, "seq", seq)
            else:
                entry = entry.numbered(seq)
            if entry.path is not None and entry.source:
                self._paths[entry.source] = entry.path
            added.append(entry)
            seq += 1
        self._next = seq
        self._entries.extend(added)
        return added

    def add_marker(self, text: str, source: str | None = None, t: float | None = None) -> int:
        """Add a state-change marker; returns its sequence number (for jumping to it later)."""
        return self.add_marker_entry(text, source, t).seq

    def add_marker_entry(self, text: str, source: str | None = None, t: float | None = None) -> LogEntry:
        entry = marker_entry(text, source, self._wall() if t is None else t, self._next)
        self._next += 1
        self._entries.append(entry)
        return entry

    def skip(self, lines: int) -> None:
        """Count lines that were dropped before reaching the store (they take sequence numbers)."""
        self._next += lines
        self.skipped += lines

    def get(self, seq: int) -> LogEntry | None:
        """The entry numbered ``seq`` if it is still held."""
        entries = self._entries
        index = self._index_after(seq - 1)
        return entries[index] if index < len(entries) and entries[index].seq == seq else None

    def _index_after(self, seq: int) -> int:
        """Index of the first entry numbered above ``seq``."""
        entries = self._entries
        if not entries or seq < entries[0].seq:
            return 0
        if seq >= entries[-1].seq:
            return len(entries)
        guess = seq + 1 - entries[0].seq  # right unless lines were skipped in between
        if guess < len(entries) and entries[guess].seq == seq + 1 and entries[guess - 1].seq == seq:
            return guess
        return bisect.bisect_right(entries, seq, key=_seq_of)

    def entries(
        self,
        sources: set[str] | frozenset[str] | None = None,
        min_level: Level | None = None,
        since_seq: int | None = None,
        limit: int | None = None,
    ) -> list[LogEntry]:
        """Entries a view would show, oldest first: of ``sources`` (None: all), at ``min_level`` and up
        (None: all), numbered above ``since_seq``; with ``limit``, only the newest ``limit`` of them."""
        entries = self._entries
        start = 0 if since_seq is None else self._index_after(since_seq)
        if start >= len(entries):
            return []
        chosen: Iterable[LogEntry]
        if start > len(entries) // 2:  # a deque is indexed quickly near its ends
            chosen = [entries[i] for i in range(start, len(entries))]
        else:
            chosen = itertools.islice(entries, start, None) if start else entries
        if sources is not None or min_level is not None:
            chosen = [e for e in chosen if passes(e, sources, min_level)]
        else:
            chosen = list(chosen)
        if limit is not None and len(chosen) > limit:
            chosen = chosen[len(chosen) - limit :] if limit > 0 else []
        return chosen

    def add_source(self, source: str, path: str) -> None:
        """Make a source known before its first line (so views list it and can open its file)."""
        self._paths[source] = path

    def sources(self) -> list[str]:
        """Every source added or seen in a line or notice, in the order first known."""
        return list(self._paths)

    def path_of(self, source: str) -> str | None:
        """The file a source's lines come from (the latest seen)."""
        return self._paths.get(source)


def _seq_of(entry: LogEntry) -> int:
    return entry.seq
