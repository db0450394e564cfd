"""Following real log files by name while they grow, rotate, get truncated and deleted.

Files are written by the test (or by a real writer process) in tmp_path. A follower reads
synchronously when polled, so most tests need no waiting at all; the tailer and the writer
process are waited on by condition, with a deadline.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kit.rotate import logrotate, pm2_logrotate
from tests.kit.users import nobody_ids, run_as_nobody
from tests.kit.wait import wait_until
from trayapp.clock import ManualClock
from trayapp.logs.tail import (
    FileFollower,
    LogItem,
    LogLine,
    LogNotice,
    LogTailer,
    NoticeKind,
    last_lines,
)

ROTATED, TRUNCATED, DELETED = NoticeKind.ROTATED, NoticeKind.TRUNCATED, NoticeKind.DELETED
MOVED, NOT_FOUND, APPEARED = NoticeKind.MOVED, NoticeKind.NOT_FOUND, NoticeKind.APPEARED

Follow = Callable[..., FileFollower]


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def texts(items: list[LogItem]) -> list[str]:
    return [item.text for item in items if isinstance(item, LogLine)]


def describe(items: list[LogItem]) -> list[str | NoticeKind]:
    """Lines as their text, notices as their kind, in delivery order."""
    return [item.text if isinstance(item, LogLine) else item.kind for item in items]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def follow(clock: ManualClock) -> Iterator[Follow]:
    """``follow(path, ...)`` makes a FileFollower on the manual clock; all are closed at teardown."""
    made: list[FileFollower] = []

    def factory(path: Path, source: str = "api", **options: Any) -> FileFollower:
        follower = FileFollower(path, source, clock=clock, **options)
        made.append(follower)
        return follower

    yield factory
    for follower in made:
        follower.close()


# -- starting -------------------------------------------------------------------------


def test_starts_at_the_end_of_a_big_file_without_reading_it(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    with path.open("wb") as fh:
        fh.write(b"".join(b"old line %d\n" % i for i in range(200_000)))  # a few MB of real lines
        fh.truncate(8 << 30)  # then an 8 GiB hole: a follower that read to the end would take seconds and the RAM
        fh.seek(8 << 30)
        fh.write(b"old last line\n")
    follower = follow(path)
    assert follower.poll() == []
    append(path, b"new 1\nnew 2\n")
    items = follower.poll()
    assert texts(items) == ["new 1", "new 2"]
    assert [item.seq for item in items if isinstance(item, LogLine)] == [0, 1]


def test_a_line_being_written_when_following_starts_arrives_whole(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"done\nhalf a li")
    follower = follow(path)
    assert follower.poll() == []
    append(path, b"ne\n")
    assert texts(follower.poll()) == ["half a line"]


def test_from_start_delivers_existing_content(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"one\ntwo\n")
    assert texts(follow(path, from_start=True).poll()) == ["one", "two"]


def test_a_missing_file_is_waited_for_and_read_from_its_start(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "later.log"
    follower = follow(path)
    first = follower.poll()
    assert describe(first) == [NOT_FOUND]
    assert isinstance(first[0], LogNotice) and first[0].message == "log file not found; waiting for it to appear"
    assert follower.poll() == []  # said once, retried quietly
    path.write_bytes(b"hello\n")
    assert describe(follower.poll()) == [APPEARED, "hello"]


def test_an_unreadable_file_is_reported_once_then_followed_when_readable() -> None:
    # Root reads anything, so the follower runs as 'nobody' on a file 'nobody' owns.
    uid, gid = nobody_ids()
    folder = Path(tempfile.mkdtemp(prefix="trayapp-perm-"))
    folder.chmod(0o755)
    path = folder / "secret.log"
    path.write_bytes(b"first\n")
    os.chown(path, uid, gid)
    try:
        seen = run_as_nobody(
            "from trayapp.logs.tail import FileFollower, LogNotice\n"
            f"path = {str(path)!r}\n"
            "os.chmod(path, 0)\n"
            "f = FileFollower(path, 'app', from_start=True)\n"
            "first = [i.message for i in f.poll() if isinstance(i, LogNotice)]\n"
            "again = f.poll()\n"
            "os.chmod(path, 0o644)\n"
            "after = [i.text for i in f.poll() if not isinstance(i, LogNotice)]\n"
            "print(json.dumps({'first': first, 'again': len(again), 'after': after}))\n"
        )
    finally:
        shutil.rmtree(folder)
    assert seen == {"first": ["cannot read log: permission denied"], "again": 0, "after": ["first"]}


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_something_other_than_a_file_is_reported_once_and_never_hangs(
    tmp_path: Path, follow: Follow, kind: str
) -> None:
    path = tmp_path / "app.log"
    if kind == "directory":
        path.mkdir()
    elif hasattr(os, "mkfifo"):
        os.mkfifo(path)  # opening a FIFO for reading would block until a writer came
    else:
        # Windows has no os.mkfifo, so there is no FIFO to follow; the "directory" case covers a
        # non-regular file there. Never skipped on Linux, where CI runs.
        pytest.skip("os.mkfifo does not exist on this platform (Windows): no FIFO can be made")
    follower = follow(path)
    assert [(n.kind, n.message) for n in follower.poll() if isinstance(n, LogNotice)] == [
        (NoticeKind.UNREADABLE, "cannot read log: not a regular file")
    ]
    assert follower.poll() == []
    if kind == "directory":
        path.rmdir()
    else:
        path.unlink()
    path.write_bytes(b"a file now\n")
    assert texts(follower.poll()) == ["a file now"]


# -- rotation, truncation, deletion ---------------------------------------------------


def test_rename_rotation_drains_the_old_file_then_reads_the_new_one(
    tmp_path: Path, follow: Follow, clock: ManualClock
) -> None:
    path, old = tmp_path / "app.log", tmp_path / "app.log.1"
    path.write_bytes(b"")
    follower = follow(path, rotate_wait=5.0)
    append(path, b"1\n2\n")
    assert texts(follower.poll()) == ["1", "2"]
    append(path, b"3\n")  # written just before the rotation, not read yet
    path.rename(old)
    path.write_bytes(b"4\n")  # logrotate's `create`, and the writer's first line in it
    items = follower.poll()
    assert describe(items) == ["3", ROTATED, "4"]
    assert [i.message for i in items if isinstance(i, LogNotice)] == [
        "log rotated; reading the new file from the start"
    ]

    # A writer that has not reopened yet still adds to the old file: those lines come too, and first.
    append(old, b"5\n")
    append(path, b"6\n")
    assert texts(follower.poll()) == ["5", "6"]

    clock.advance(5.0)  # after rotate_wait the old file is let go
    assert follower.poll() == []
    append(old, b"too late\n")
    append(path, b"7\n")
    items = follower.poll()
    assert texts(items) == ["7"]
    assert [i.seq for i in items if isinstance(i, LogLine)] == [6]  # 0..6: each line once


def test_copytruncate_starts_again_at_zero(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n2\n3\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2", "3"]
    append(path, b"4\nunfinished")
    assert texts(follower.poll()) == ["4"]
    shutil.copyfile(path, tmp_path / "app.log.1")
    with path.open("r+b") as fh:
        fh.truncate(0)
    append(path, b"5\n")
    items = follower.poll()
    assert describe(items) == ["unfinished", TRUNCATED, "5"]
    assert [i.message for i in items if isinstance(i, LogNotice)] == ["log truncated; reading from the start"]
    append(path, b"6\n")
    assert texts(follower.poll()) == ["6"]


def test_copytruncate_reads_what_it_had_not_read_yet_from_the_copy(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n2\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2"]
    append(path, b"3\n4\nunfin")  # written between two polls ...
    shutil.copyfile(path, tmp_path / "app.log.1")  # ... then copied and truncated before the next
    with path.open("r+b") as fh:
        fh.truncate(0)
    append(path, b"ished\n5\n")
    items = follower.poll()
    assert describe(items) == ["3", "4", "unfin", TRUNCATED, "ished", "5"]  # nothing lost, in order
    [notice] = [i for i in items if isinstance(i, LogNotice)]
    assert notice.message == "log truncated; read its last lines from app.log.1, now from the start"


def test_an_unrelated_dot_1_file_is_not_taken_for_the_copy(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n2\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2"]
    append(path, b"3\n")
    (tmp_path / "app.log.1").write_bytes(b"yesterday's log, not a copy of this one\n" * 10)
    with path.open("r+b") as fh:
        fh.truncate(0)
    append(path, b"4\n")
    items = follower.poll()
    assert describe(items) == [TRUNCATED, "4"]  # "3" is gone with the truncation; nothing foreign shows up
    assert [i.message for i in items if isinstance(i, LogNotice)] == ["log truncated; reading from the start"]


def _write_between_polls_then(rotate: Callable[[Path], object], path: Path, follower: FileFollower) -> list[LogItem]:
    """Lines 3, 4 and half a line are written after the last poll; ``rotate`` copies and truncates
    the file; the writer goes on; the next poll is returned."""
    append(path, b"3\n4\nunfin")
    rotate(path)
    append(path, b"ished\n5\n")
    return follower.poll()


def test_a_pm2_logrotate_copy_is_found_by_its_bytes_among_older_copies(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app-out.log"
    older = tmp_path / "app-out__2026-11-29_14-52-00.log"
    older.write_bytes(b"the day before, another run\n" * 20)
    path.write_bytes(b"1\n2\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2"]
    items = _write_between_polls_then(pm2_logrotate, path, follower)
    assert (tmp_path / "app-out__2026-11-30_14-52-00.log").read_bytes() == b"1\n2\n3\n4\nunfin"
    assert describe(items) == ["3", "4", "unfin", TRUNCATED, "ished", "5"]  # nothing lost, in order
    [notice] = [i for i in items if isinstance(i, LogNotice)]
    assert (
        notice.message == "log truncated; read its last lines from app-out__2026-11-30_14-52-00.log, now from the start"
    )


@pytest.mark.parametrize(
    ("directives", "copy_name"),
    [
        (("copytruncate", "dateext"), r"app\.log-\d{8}"),  # app.log-20261130
        (("copytruncate", "dateext", "extension .log"), r"app-\d{8}\.log"),  # app-20261130.log
        (("copytruncate",), r"app\.log\.1"),
        (("copytruncate", "compress", "delaycompress"), r"app\.log\.1"),  # the newest copy stays plain
    ],
)
def test_a_real_logrotate_copytruncate_copy_is_found_whatever_its_name(
    tmp_path: Path, follow: Follow, directives: tuple[str, ...], copy_name: str
) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n2\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2"]
    items = _write_between_polls_then(lambda p: logrotate(p, *directives), path, follower)
    assert describe(items) == ["3", "4", "unfin", TRUNCATED, "ished", "5"]
    [notice] = [i for i in items if isinstance(i, LogNotice)]
    assert re.fullmatch(f"log truncated; read its last lines from {copy_name}, now from the start", notice.message)


def test_a_compressed_copy_is_not_read_and_nothing_foreign_shows(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n2\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2"]
    items = _write_between_polls_then(lambda p: logrotate(p, "copytruncate", "compress"), path, follower)
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith("app.log.")] == ["app.log.1.gz"]
    # the lines written between the last poll and the rotation went into the .gz, which is not inflated
    assert describe(items) == [TRUNCATED, "ished", "5"]
    assert [i.message for i in items if isinstance(i, LogNotice)] == ["log truncated; reading from the start"]


def test_a_copy_numbered_the_winston_way_is_found_and_a_newer_unrelated_sibling_is_not(
    tmp_path: Path, follow: Follow
) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n2\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1", "2"]

    def copy_then_truncate(p: Path) -> None:
        shutil.copyfile(p, tmp_path / "app1.log")
        with p.open("r+b") as fh:
            fh.truncate(0)
        # newer, same name pattern, long enough, but not holding the bytes read last: not the copy
        (tmp_path / "app2.log").write_bytes(b"1\n9\n3\n4\nOTHER")

    items = _write_between_polls_then(copy_then_truncate, path, follower)
    assert describe(items) == ["3", "4", "unfin", TRUNCATED, "ished", "5"]
    [notice] = [i for i in items if isinstance(i, LogNotice)]
    assert notice.message == "log truncated; read its last lines from app1.log, now from the start"


def test_deleted_then_recreated_later(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"1\n")
    follower = follow(path, from_start=True)
    assert texts(follower.poll()) == ["1"]
    append(path, b"2\nlast words")
    path.unlink()
    items = follower.poll()
    assert describe(items) == ["2", "last words", DELETED]  # the rest is drained, the unfinished line flushed
    assert [i.message for i in items if isinstance(i, LogNotice)] == ["log file deleted; waiting for it to come back"]
    assert follower.poll() == []  # said once
    assert follower.poll() == []
    path.write_bytes(b"3\n")
    assert describe(follower.poll()) == [APPEARED, "3"]


def test_renamed_away_with_no_new_file_yet(tmp_path: Path, follow: Follow, clock: ManualClock) -> None:
    path, old = tmp_path / "app.log", tmp_path / "app.log.1"
    path.write_bytes(b"")
    follower = follow(path, rotate_wait=2.0)
    append(path, b"a\nno newline yet")
    path.rename(old)
    assert describe(follower.poll()) == ["a", MOVED]
    append(old, b" - finished late\n")  # the old file is still read while a slow writer catches up
    assert texts(follower.poll()) == ["no newline yet - finished late"]
    append(old, b"cut off")
    clock.advance(2.0)
    assert texts(follower.poll()) == ["cut off"]  # rotated away for good: the unfinished line is flushed
    path.write_bytes(b"b\n")
    assert describe(follower.poll()) == [APPEARED, "b"]


# -- line content ---------------------------------------------------------------------


def test_an_unfinished_line_is_held_back_until_its_newline(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = follow(path)
    append(path, b"hel")
    assert follower.poll() == []
    append(path, b"lo\nwor")
    assert texts(follower.poll()) == ["hello"]
    assert follower.poll() == []
    append(path, b"ld\r\nnext\n")
    assert texts(follower.poll()) == ["world", "next"]


def test_invalid_utf8_is_replaced(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = follow(path, read_chunk=1)  # every byte its own read: characters are split across reads
    append(path, "café ".encode() + b"\xff\xfe ok\n\xc3\n\x00bin\x1b[31m\n")
    assert texts(follower.poll()) == ["café \ufffd\ufffd ok", "\ufffd", "\x00bin\x1b[31m"]


def test_a_one_megabyte_line_is_capped_with_a_marker(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = follow(path)
    append(path, b"x" * 1_000_000 + b"\nafter\n")
    assert texts(follower.poll()) == ["x" * 16384 + "… [line truncated, 1000000 bytes]", "after"]


def test_the_cap_does_not_split_a_character(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = follow(path, max_line=101)
    append(path, "é".encode() * 1000 + b"\n")
    assert texts(follower.poll()) == ["é" * 50 + "… [line truncated, 2000 bytes]"]


def test_a_burst_is_read_over_several_polls_each_line_once(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = follow(path)
    expected = [f"{i:08d} " + "y" * 91 for i in range(40_000)]  # 100 bytes a line, 4 MB
    append(path, "".join(line + "\n" for line in expected).encode())
    first = follower.poll()
    assert follower.behind
    assert 0 < len(first) <= (1 << 20) // 100
    got = texts(first)
    while follower.behind:
        got += texts(follower.poll())
    assert got == expected


def test_a_burst_in_a_rotated_file_is_finished_before_the_new_file(tmp_path: Path, follow: Follow) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = follow(path)
    old_lines = [f"old {i:08d} " + "z" * 87 for i in range(30_000)]  # 3 MB: several polls' worth
    append(path, "".join(line + "\n" for line in old_lines).encode())
    path.rename(tmp_path / "app.log.1")
    path.write_bytes(b"new\n")
    polls = [follower.poll()]
    while follower.behind:
        polls.append(follower.poll())
    assert [item for items in polls for item in describe(items)] == [*old_lines, ROTATED, "new"]
    assert max(len(items) for items in polls) <= (1 << 20) // 100 + 1  # each poll reads at most 1 MiB


# -- many files on the tailer thread --------------------------------------------------


def test_tailer_follows_twenty_files_and_stops_following_a_removed_one(tmp_path: Path) -> None:
    delivered: list[LogItem] = []
    threads: set[str] = set()

    def on_batch(items: list[LogItem]) -> None:
        threads.add(threading.current_thread().name)
        delivered.extend(items)

    paths = [tmp_path / f"svc{i}.log" for i in range(20)]
    for path in paths:
        path.write_bytes(b"before\n")
    tailer = LogTailer(on_batch, interval=0.01)
    for i, path in enumerate(paths):
        tailer.add(path, f"svc{i}")
    tailer.add(paths[0], "svc0")  # twice is once
    tailer.start()
    try:
        for n in range(50):
            for i, path in enumerate(paths):
                append(path, f"{i}:{n}\n".encode())
        wait_until(lambda: len(delivered) >= 20 * 50, what="1000 lines from 20 files")

        tailer.remove(paths[3])
        append(paths[3], b"3:after removal\n")
        append(paths[4], b"4:after removal\n")
        wait_until(lambda: "4:after removal" in texts(list(delivered)), what="the line after removal")
    finally:
        tailer.stop()

    for i in range(20):
        mine = [item for item in delivered if item.source == f"svc{i}"]
        assert all(isinstance(item, LogLine) for item in mine)
        extra = ["4:after removal"] if i == 4 else []
        assert texts(mine) == [f"{i}:{n}" for n in range(50)] + extra
        assert [item.seq for item in mine if isinstance(item, LogLine)] == list(range(50 + len(extra)))
    assert threads == {"trayapp-logtail"}


def test_a_tailer_with_nothing_to_follow_sleeps_until_a_file_is_added(tmp_path: Path) -> None:
    # With no followers the thread waits for add() (up to a minute), not a poll period:
    # the line must still come within the wait below, so add() is what woke it.
    delivered: list[LogItem] = []
    tailer = LogTailer(delivered.extend, interval=0.01)
    tailer.start()
    try:
        path = tmp_path / "late.log"
        path.write_bytes(b"")
        tailer.add(path, "late")
        append(path, b"first line\n")
        wait_until(lambda: texts(list(delivered)) == ["first line"], timeout=20, what="the line of a file added later")
    finally:
        tailer.stop()


def test_a_quiet_file_is_polled_less_and_less_yet_its_next_line_still_comes(tmp_path: Path) -> None:
    path = tmp_path / "quiet.log"
    path.write_bytes(b"")
    delivered: list[LogItem] = []
    passes: list[bool] = []
    tailer = LogTailer(delivered.extend, interval=0.005, idle_interval=0.05)
    real_pass = tailer._pass

    def counted() -> tuple[bool, bool]:
        result = real_pass()
        passes.append(result[1])
        return result

    tailer._pass = counted  # type: ignore[method-assign]
    tailer.add(path, "quiet")
    tailer.start()
    try:
        append(path, b"one\n")
        wait_until(lambda: texts(list(delivered)) == ["one"], what="the first line")
        quiet_from = len(passes)
        wait_until(lambda: len(passes) >= quiet_from + 12, what="a quiet spell of a dozen passes")
        append(path, b"two\n")
        wait_until(lambda: texts(list(delivered)) == ["one", "two"], what="the line after the quiet spell")
    finally:
        tailer.stop()
    assert not any(passes[quiet_from : quiet_from + 12])  # the quiet spell really delivered nothing


def test_following_a_new_set_of_files_keeps_the_unchanged_ones_where_they_are(tmp_path: Path) -> None:
    # A config reload: api.log stays, web.log goes, db.log comes. Nothing is delivered twice.
    delivered: list[LogItem] = []
    api, web, db = (tmp_path / f"{name}.log" for name in ("api", "web", "db"))
    for path in (api, web, db):
        path.write_bytes(b"".join(b"%s old %d\n" % (path.stem.encode(), i) for i in range(5)))
    tailer = LogTailer(delivered.extend, interval=0.01)
    tailer.start()
    try:
        assert tailer.follow_only([("api", str(api)), ("web", str(web))], backlog=2) == [
            ("api", str(api)),
            ("web", str(web)),
        ]
        wait_until(lambda: len(delivered) == 4, what="the last two lines of each file")
        append(api, b"api new 1\n")
        wait_until(lambda: "api new 1" in texts(list(delivered)), what="a new line")

        added = tailer.follow_only([("backend", str(api)), ("db", str(db))], backlog=2)
        assert added == [("db", str(db))]
        assert sorted(tailer.followed()) == [("backend", str(api)), ("db", str(db))]
        append(api, b"api new 2\n")
        append(web, b"web new 1\n")
        append(db, b"db new 1\n")
        wait_until(lambda: {"api new 2", "db new 1"} <= set(texts(list(delivered))), what="lines after the reload")
        tailer.follow_only([("backend", str(api)), ("db", str(db))])  # the same set again changes nothing
        append(api, b"api new 3\n")
        wait_until(lambda: "api new 3" in texts(list(delivered)), what="the last line")
    finally:
        tailer.stop()
    by_file = {p.name: texts([i for i in delivered if i.path == str(p)]) for p in (api, web, db)}
    assert by_file == {
        "api.log": ["api old 3", "api old 4", "api new 1", "api new 2", "api new 3"],
        "web.log": ["web old 3", "web old 4"],  # nothing after it was dropped
        "db.log": ["db old 3", "db old 4", "db new 1"],
    }
    assert [item.source for item in delivered if isinstance(item, LogLine) and item.text.startswith("api new")] == [
        "api", "backend", "backend"
    ]  # fmt: skip


def test_tailer_stop_is_bounded_even_with_a_stuck_subscriber(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    entered, release = threading.Event(), threading.Event()

    def stuck(items: list[LogItem]) -> None:
        entered.set()
        release.wait(30)

    tailer = LogTailer(stuck, interval=0.01)
    tailer.add(path, "api")
    tailer.start()
    append(path, b"line\n")
    try:
        assert entered.wait(10)
        started = time.monotonic()
        tailer.stop(timeout=0.2)
        assert time.monotonic() - started < 2.0
    finally:
        release.set()


# -- last_lines -----------------------------------------------------------------------


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("block", [7, 4096, 65536])
def test_last_lines_of_a_file_bigger_than_a_block(tmp_path: Path, block: int, trailing_newline: bool) -> None:
    path = tmp_path / "app.log"
    lines = [f"line {i} " + "x" * (i % 50) for i in range(5000)]  # ~170 KB
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""))
    assert path.stat().st_size > 2 * block
    assert last_lines(path, 1, block=block) == lines[-1:]
    assert last_lines(path, 3, block=block) == lines[-3:]
    assert last_lines(path, 1234, block=block) == lines[-1234:]
    assert last_lines(path, 5000, block=block) == lines
    assert last_lines(path, 9999, block=block) == lines
    assert last_lines(path, 0, block=block) == []


@pytest.mark.parametrize(
    ("data", "n", "expected"),
    [
        (b"", 3, []),
        (b"\n", 3, [""]),
        (b"a", 3, ["a"]),
        (b"a\n\nb\n", 2, ["", "b"]),
        (b"a\n\nb", 3, ["a", "", "b"]),
        (b"a\r\nb\r\n", 5, ["a", "b"]),
        (b"ok\n\xff\n", 1, ["\ufffd"]),
        (b"x" * 50_000 + b"\nshort\n", 2, ["x" * 16384 + "… [line truncated, 50000 bytes]", "short"]),
    ],
)
def test_last_lines_edges(tmp_path: Path, data: bytes, n: int, expected: list[str]) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(data)
    assert last_lines(path, n, block=1) == expected
    assert last_lines(path, n) == expected


def test_last_lines_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        last_lines(tmp_path / "nope.log", 10)


# -- a real writer process ------------------------------------------------------------

WRITER = r"""
import os, queue, sys, threading

path, pace = sys.argv[1], float(sys.argv[2])
commands = queue.Queue()
threading.Thread(target=lambda: [commands.put(line.strip()) for line in sys.stdin], daemon=True).start()
flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
fd, count, paused = os.open(path, flags, 0o644), 0, False
while True:
    try:  # the timeout paces the writer and lets commands in between lines
        command = commands.get(timeout=30) if paused else commands.get(timeout=pace) if pace else commands.get_nowait()
    except queue.Empty:
        line = b"line %07d %s\n" % (count, b"." * (count % 40))
        cut = count % len(line)
        os.write(fd, line[:cut])  # two writes: readers often see an unfinished line
        os.write(fd, line[cut:])
        count += 1
        continue
    if command == "reopen":  # what a HUP handler does after logrotate
        os.close(fd)
        fd = os.open(path, flags, 0o644)
    paused = {"pause": True, "resume": False}.get(command, paused)
    print(command, count, flush=True)
    if command == "stop":
        break
"""


class Writer:
    """A separate process appending numbered lines to ``path`` until told otherwise."""

    def __init__(self, path: Path, pace: float = 0.0002) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(pace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def reply(self, word: str, timeout: float = 10) -> int | None:
        """How many lines the writer had written when it obeyed ``word``; None if it has not yet."""
        try:
            said, count = self.replies.get(timeout=timeout).split()
        except queue.Empty:
            return None
        assert said == word
        return int(count)

    def command(self, word: str) -> int:
        """Send a command; returns how many lines the writer had written when it obeyed."""
        self.send(word)
        said, count = self.replies.get(timeout=10).split()
        assert said == word
        return int(count)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def test_a_real_writer_across_rotation_truncation_and_deletion(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    delivered: list[LogItem] = []
    tailer = LogTailer(delivered.extend, interval=0.005, rotate_wait=60.0)
    tailer.add(path, "api")
    tailer.start()
    writer = Writer(path)

    def numbers() -> list[int]:
        return [int(item.text.split()[1]) for item in list(delivered) if isinstance(item, LogLine)]

    def kinds() -> list[NoticeKind]:
        return [item.kind for item in list(delivered) if isinstance(item, LogNotice)]

    def wait_for_lines(count: int, what: str) -> None:
        wait_until(lambda: len(numbers()) >= count, timeout=20, what=what)

    try:
        wait_for_lines(200, "the first lines")

        # logrotate's default: rename, create; the writer keeps writing to the old file until it reopens
        path.rename(tmp_path / "app.log.1")
        path.write_bytes(b"")
        wait_until(lambda: {ROTATED, MOVED} & set(kinds()), what="the rotation notice")
        wait_for_lines(len(numbers()) + 100, "late lines from the rotated file")
        reopened_at = writer.command("reopen")
        wait_for_lines(reopened_at + 100, "lines from the new file")

        # copytruncate. What is written between the copy and the truncation is lost to every reader
        # (logrotate documents the race), so the writer pauses around it.
        paused_at = writer.command("pause")
        wait_until(lambda: len(numbers()) == paused_at, what="the follower to catch up")
        shutil.copyfile(path, tmp_path / "app.log.2")
        with path.open("r+b") as fh:
            fh.truncate(0)
        wait_until(lambda: TRUNCATED in kinds(), what="the truncation notice")
        writer.command("resume")
        wait_for_lines(paused_at + 100, "lines after the truncation")

        # deleted while the writer holds it open, and created again later when the writer reopens
        paused_at = writer.command("pause")
        wait_until(lambda: len(numbers()) == paused_at, what="the follower to catch up")
        path.unlink()
        wait_until(lambda: DELETED in kinds(), what="the deletion notice")
        writer.command("reopen")
        writer.command("resume")
        wait_for_lines(paused_at + 100, "lines in the recreated file")

        total = writer.command("stop")
        wait_for_lines(total, "every line")
    finally:
        writer.kill()
        tailer.stop()

    assert numbers() == list(range(total))  # every line exactly once, in order
    assert [item.seq for item in delivered if isinstance(item, LogLine)] == list(range(total))
    # a poll between the rename and the create sees the name missing for a moment: "moved", then "appeared"
    assert kinds() in ([ROTATED, TRUNCATED, DELETED, APPEARED], [MOVED, APPEARED, TRUNCATED, DELETED, APPEARED])


def test_rotations_while_a_fast_writer_switches_files(tmp_path: Path) -> None:
    """The writer switches to the new file at a moment of its own while the follower polls flat out:
    its last lines in the old file must still come before its first lines in the new one."""
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    got: list[int] = []
    with FileFollower(path, "api", rotate_wait=60.0) as follower:

        def poll(until: int = 0) -> bool:
            got.extend(int(item.text.split()[1]) for item in follower.poll() if isinstance(item, LogLine))
            return len(got) >= until

        writer = Writer(path, pace=0)
        try:
            for n in range(100):
                path.rename(tmp_path / f"app.log.{n}")
                path.write_bytes(b"")
                writer.send("reopen")
                deadline = time.monotonic() + 10
                while (reopened_at := writer.reply("reopen", timeout=0)) is None:  # polling flat out meanwhile
                    assert time.monotonic() < deadline, "the writer did not reopen"
                    poll()
                wait_until(lambda: poll(until=reopened_at + 50), what="lines after the switch")
            total = writer.command("stop")
            wait_until(lambda: poll(until=total), what="every line")
        finally:
            writer.kill()
    assert got == list(range(total))


def test_old_lines_that_outrun_the_polls_budget_still_come_before_the_new_files(tmp_path: Path) -> None:
    """The writer adds its last lines to the old file while a poll reads the new one, more than
    the poll may still read: the new file's lines wait for them (a loaded machine, a fast writer)."""
    path, old = tmp_path / "app.log", tmp_path / "app.log.1"
    path.write_bytes(b"")
    with FileFollower(path, "api", max_poll_bytes=100, read_chunk=100, rotate_wait=60.0) as follower:
        assert follower.poll() == []
        path.rename(old)
        path.write_bytes(b"".join(f"new {i}\n".encode() for i in range(5)))
        real_read = follower._read
        late = [b"".join(f"old {i}\n".encode() for i in range(30))]  # 210 bytes: more than a poll reads

        def read(stream, out, budget):  # type: ignore[no-untyped-def]
            if stream is follower._current and late:
                append(old, late.pop())  # written as the new file is read
            return real_read(stream, out, budget)

        follower._read = read  # type: ignore[method-assign]
        got: list[str] = []
        wait_until(lambda: got.extend(texts(follower.poll())) or len(got) >= 35, what="every line")
    assert got == [f"old {i}" for i in range(30)] + [f"new {i}" for i in range(5)]


# -- last lines, then follow ------------------------------------------------------------


def test_a_backlog_and_what_follows_it_come_from_one_read_position(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("".join(f"line {i}\n" for i in range(10)))
    with FileFollower(path, "app", backlog=3) as follower:
        append(path, b"line 10\n")  # written after the last lines were found, before they are read
        assert texts(follower.poll()) == ["line 7", "line 8", "line 9", "line 10"]  # nothing lost, nothing twice
        append(path, b"line 11\n")
        assert texts(follower.poll()) == ["line 11"]


def test_a_backlog_larger_than_the_file_or_of_endless_lines(tmp_path: Path) -> None:
    short = tmp_path / "short.log"
    short.write_text("one\ntwo")  # the last line is still being written
    with FileFollower(short, "app", backlog=50) as follower:
        assert texts(follower.poll()) == ["one"]
        append(short, b"\n")
        assert texts(follower.poll()) == ["two"]
    long = tmp_path / "long.log"
    long.write_bytes(b"x" * 100_000 + b"\nshort\n")
    with FileFollower(long, "app", backlog=2, max_line=1000) as follower:
        assert texts(follower.poll()) == ["short"]  # the 100 kB line is not read back to its start
