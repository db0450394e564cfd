"""The log view, fed by a real LogTailer following real files through LogFeed, offscreen.

Files are written by the test (or, for the burst, by a child process) in tmp_path; the
tailer reads them on its own thread and the view shows them on the GUI thread. Every wait is
on a condition (qtbot.waitUntil / waitSignal), never on time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QTextCursor
from PySide6.QtWidgets import QAbstractSlider, QApplication

from trayapp.logs.format import Level, clock_text, marker_text
from trayapp.logs.store import LogStore
from trayapp.logs.tail import LogLine, LogNotice, LogTailer, NoticeKind
from trayapp.ui.logview import LogFeed, LogView, LogWindow

WAIT_MS = 10_000


@pytest.fixture(autouse=True)
def no_widget_dies_while_a_tailer_runs(qapp) -> Iterator[None]:
    """Each test's widgets die between tests, never while another test's tailer thread runs.

    PySide6 6.12.0 released the GIL halfway through destroying a widget's wrapper, and a garbage
    collection on another Python thread at that moment crashed the process (about one run in
    five); trayapp pins 6.11, where it was never seen, and this keeps it so either way. pytest-qt
    destroys closed widgets with deleteLater, at the next event loop: in the next test, with its
    tailer running. So they are destroyed here, before this test starts one and after its
    tailers have stopped (this fixture is set up first and torn down last)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@dataclass
class Rig:
    """A store, a feed, a shown view and a running tailer, wired as the app wires them."""

    store: LogStore
    feed: LogFeed
    view: LogView
    tailer: LogTailer
    files: dict[str, Path] = field(default_factory=dict)

    def follow(self, path: Path, source: str) -> Path:
        path.touch()
        self.store.add_source(source, str(path))
        self.tailer.add(path, source)
        self.files[source] = path
        return path

    def write(self, source: str, *lines: str) -> None:
        with self.files[source].open("a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))


@pytest.fixture
def rig(qtbot, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(capacity: int = 50_000, sources: tuple[str, ...] = ("api",)) -> Rig:
        store = LogStore(capacity)
        feed = LogFeed(store)
        view = LogView(store)
        feed.entries_added.connect(view.on_entries)
        qtbot.addWidget(view)
        view.resize(900, 500)
        view.show()
        tailer = LogTailer(feed.on_batch, interval=0.01)
        rig = Rig(store, feed, view, tailer)
        for source in sources:
            rig.follow(tmp_path / f"{source}.log", source)
        tailer.start()
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.tailer.stop()


def lines_of(view: LogView) -> list[str]:
    """The shown lines, one per entry (a stack kept inside one entry stays in its line)."""
    document = view.text.document()
    if view.line_count() == 0:
        return []
    return [document.findBlockByNumber(i).text() for i in range(document.blockCount())]


def wait_for_line(qtbot, view: LogView, text: str) -> None:
    qtbot.waitUntil(lambda: any(text in line for line in lines_of(view)), timeout=WAIT_MS)


# -- the store ------------------------------------------------------------------------------


def test_store_is_a_numbered_ring_buffer_that_views_filter() -> None:
    store = LogStore(capacity=5, wall=lambda: 100.0)
    lines: list[LogLine | LogNotice] = [
        LogLine("api", "/logs/api.log", "INFO up", 1.0, 0),
        LogLine("web", "/logs/web.log", "DEBUG hmr", 1.0, 0),
        LogLine("api", "/logs/api.log", "Error: connect ECONNREFUSED 127.0.0.1:27017", 1.0, 1),
        LogNotice("web", "/logs/web.log", NoticeKind.ROTATED, "log rotated; reading the new file from the start", 1.0),
    ]
    added = store.add_batch(lines)
    assert [e.seq for e in added] == [0, 1, 2, 3]
    marker = store.add_marker("── api: up → down ──", "api")
    assert marker == 4 and store.get(marker) == store.entries()[-1]
    assert (store.entries()[-1].kind, store.entries()[-1].t) == ("marker", 100.0)
    assert [e.seq for e in store.entries({"api"}, Level.ERROR)] == [2, 4]  # markers pass any level
    assert [e.seq for e in store.entries({"web"})] == [1, 3]
    assert [e.seq for e in store.entries(None, Level.INFO)] == [0, 2, 3, 4]
    assert [e.seq for e in store.entries(since_seq=2)] == [3, 4]
    assert store.sources() == ["api", "web"] and store.path_of("web") == "/logs/web.log"

    store.add_batch([LogLine("api", "/logs/api.log", f"line {i}", 2.0, i) for i in range(3)])
    assert (store.first_seq, store.last_seq, len(store)) == (3, 7, 5)  # the oldest fell out
    assert store.get(2) is None and store.get(7) == store.entries()[-1]
    assert store.entries()[-1].text == "line 2"
    store.skip(10)  # lines the feed had to drop still count
    store.add_batch([LogLine("api", "/logs/api.log", "after the gap", 3.0, 9)])
    assert store.last_seq == 18 and store.get(18) == store.entries()[-1]
    assert store.entries()[-1].text == "after the gap"
    assert [e.seq for e in store.entries(since_seq=6)] == [7, 18]
    assert store.entries(limit=2)[0].seq == 7


# -- what is shown --------------------------------------------------------------------------


def test_lines_written_to_a_followed_file_appear_in_order_as_plain_text(qtbot, rig) -> None:
    r = rig()
    r.write("api", "first line", "<b>not bold</b> <img src=x>", "\x1b[31mError:\x1b[0m red in a terminal", "last line")
    wait_for_line(qtbot, r.view, "last line")
    assert lines_of(r.view) == [
        "first line",
        "<b>not bold</b> <img src=x>",
        "Error: red in a terminal",
        "last line",
    ]
    assert "<b>not bold</b>" in r.view.visible_text()
    assert r.view.status.text() == "4 lines · following"


def test_json_logger_lines_are_shown_as_time_level_message(qtbot, rig) -> None:
    r = rig()
    pino_ms = 1_700_000_000_123
    r.write(
        "api",
        f'{{"level":30,"time":{pino_ms},"pid":4242,"hostname":"box","msg":"server listening on 5000"}}',
        '{"level":"warn","message":"slow query","timestamp":"2024-03-01T10:20:30.456Z","ms":1234}',
        '{"name":"api","hostname":"box","pid":1,"level":50,"msg":"db down","time":"2024-03-01T10:20:31.000Z","v":0,'
        '"err":{"type":"MongoNetworkError","message":"connect ECONNREFUSED 127.0.0.1:27017",'
        '"stack":"MongoNetworkError: connect ECONNREFUSED 127.0.0.1:27017\\n    at connect (pool.js:1:2)"}}',
    )
    wait_for_line(qtbot, r.view, "db down")
    pino, winston, bunyan = lines_of(r.view)
    assert pino == f"{clock_text(pino_ms / 1000)}  INFO   server listening on 5000"
    assert winston.endswith("  WARN   slow query  ms=1234")
    assert bunyan.split("  ", 1)[1].startswith(
        'ERROR  db down  err.type=MongoNetworkError  err.message="connect ECONNREFUSED 127.0.0.1:27017"'
    )
    # the stack stays with its entry, on lines of its own when shown or copied
    assert bunyan.endswith("\u2028    at connect (pool.js:1:2)")
    assert '27017"\n    at connect (pool.js:1:2)' in r.view.visible_text()
    assert "pid" not in pino and "hostname" not in bunyan


def test_notices_about_the_file_are_shown(qtbot, rig) -> None:
    r = rig()
    r.write("api", "before truncation")
    wait_for_line(qtbot, r.view, "before truncation")
    r.files["api"].write_text("")  # copytruncate
    qtbot.waitUntil(lambda: r.view.line_count() == 2, timeout=WAIT_MS)
    assert lines_of(r.view)[1] == f"⋯ log truncated; reading from the start ({r.files['api']})"


# -- filters ------------------------------------------------------------------------------


def test_level_filter_hides_and_shows_lines(qtbot, rig) -> None:
    r = rig()
    r.write(
        "api",
        "DEBUG cache warmed",
        "INFO listening on 5000",
        "Server started",  # no level: counts as info
        "npm WARN deprecated request@2.88.2",
        "Error: listen EADDRINUSE: address already in use :::5000",
        "    at Server.setupListenHandle [as _listen2] (node:net:1872:16)",
    )
    wait_for_line(qtbot, r.view, "setupListenHandle")
    r.feed.add_marker(marker_text("up → down (refused)", "api"), "api")
    qtbot.waitUntil(lambda: r.view.line_count() == 7, timeout=WAIT_MS)

    r.view.set_min_level(Level.WARN)
    qtbot.waitUntil(lambda: r.view.line_count() == 4, timeout=WAIT_MS)
    assert [line.split()[0] for line in lines_of(r.view)] == ["npm", "Error:", "at", "──"]
    r.view.set_min_level(Level.ERROR)
    qtbot.waitUntil(lambda: r.view.line_count() == 3, timeout=WAIT_MS)
    shown = lines_of(r.view)
    assert shown[0].startswith("Error: listen EADDRINUSE") and shown[1].startswith("    at Server")
    assert shown[2].startswith("── ") and shown[2].endswith("api: up → down (refused) ──")  # markers always show
    r.view.set_min_level(Level.INFO)
    qtbot.waitUntil(lambda: r.view.line_count() == 6, timeout=WAIT_MS)
    assert "DEBUG cache warmed" not in r.view.visible_text() and "Server started" in r.view.visible_text()
    r.view.level_box.setCurrentIndex(0)  # the user picks "All levels"
    qtbot.waitUntil(lambda: r.view.line_count() == 7, timeout=WAIT_MS)
    assert lines_of(r.view)[0] == "DEBUG cache warmed"


def test_source_selector_shows_one_service_and_opens_its_file(qtbot, rig) -> None:
    r = rig(sources=("api", "web"))
    r.write("api", "api says hello")
    wait_for_line(qtbot, r.view, "api says hello")
    r.write("web", "web says hello")
    wait_for_line(qtbot, r.view, "web says hello")
    assert lines_of(r.view) == ["api | api says hello", "web | web says hello"]
    qtbot.waitUntil(lambda: r.view.source_box.count() == 3, timeout=WAIT_MS)
    assert [r.view.source_box.itemText(i) for i in range(3)] == ["All services", "api", "web"]

    r.view.source_box.setCurrentIndex(2)  # the user picks "web"
    qtbot.waitUntil(lambda: lines_of(r.view) == ["web says hello"], timeout=WAIT_MS)
    r.write("api", "more from api")
    r.write("web", "more from web")
    wait_for_line(qtbot, r.view, "more from web")
    assert r.store.entries()[-1].text in {"more from api", "more from web"}
    assert lines_of(r.view) == ["web says hello", "more from web"]

    opened: list[QUrl] = []

    class Editor(QObject):
        @Slot(QUrl)
        def open(self, url: QUrl) -> None:
            opened.append(url)

    editor = Editor()
    QDesktopServices.setUrlHandler("file", editor, "open")  # type: ignore[arg-type]  # the stub says bytes; 6.12 takes str
    try:
        r.view.open_button.click()  # the chosen service's file
        r.view.set_source(None)
        qtbot.waitUntil(lambda: r.view.line_count() == 4, timeout=WAIT_MS)
        line = lines_of(r.view).index("api | more from api")
        r.view.text.setTextCursor(QTextCursor(r.view.text.document().findBlockByNumber(line)))
        r.view.open_button.click()  # all services: the file of the line at the cursor
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [url.toLocalFile() for url in opened] == [str(r.files["web"]), str(r.files["api"])]


# -- search ---------------------------------------------------------------------------------


def test_search_highlights_every_match_and_next_previous_move_to_them(qtbot, rig) -> None:
    r = rig()
    r.write("api", "GET /a 200", "GET /b Timeout after 2000 ms", "GET /c 200", "POST /d timeout", "GET /e timeout")
    wait_for_line(qtbot, r.view, "GET /e")
    view = r.view
    view.search.setText("TIMEOUT")  # the user types; case does not matter
    qtbot.waitUntil(lambda: view.match_label.text() == "3 matches", timeout=WAIT_MS)
    assert view.match_count() == 3
    highlighted = [s.cursor.blockNumber() for s in view.text.extraSelections()]  # type: ignore[attr-defined]
    assert highlighted == [1, 3, 4]

    view.next_button.click()
    assert not view.is_following()  # stays on the match instead of scrolling away
    assert (view.current_line(), view.text.textCursor().selectedText()) == (1, "Timeout")
    view.next_button.click()
    assert view.current_line() == 3
    view.next_button.click()
    assert view.current_line() == 4
    view.next_button.click()
    assert view.current_line() == 1  # wrapped around
    view.previous_button.click()
    assert view.current_line() == 4
    view.previous_button.click()
    assert view.current_line() == 3

    view.set_following(True)
    r.write("api", "GET /f timeout again")
    qtbot.waitUntil(lambda: view.match_count() == 4, timeout=WAIT_MS)  # new lines are searched too
    view.search.clear()
    assert view.text.extraSelections() == [] and view.match_label.text() == ""


def test_typing_a_search_over_50000_lines_waits_for_no_search_and_enter_goes_to_the_first(qtbot, rig) -> None:
    r = rig()
    view = r.view
    r.write("api", *[f"line {i} Error: read ECONNRESET" if i % 100 == 42 else f"line {i} ok" for i in range(50_000)])
    qtbot.waitUntil(lambda: view.line_count() == 50_000, timeout=30_000)
    qtbot.keyClicks(view.search, "econnreset")  # ten keys in one burst
    assert view.search.text() == "econnreset"
    assert (view.match_count(), view.match_label.text()) == (0, "Searching…")  # no key waited for a search
    qtbot.keyClick(view.search, Qt.Key.Key_Return)  # Enter before the search is done: it goes there when it is
    qtbot.waitUntil(lambda: view.match_label.text() == "500 matches", timeout=WAIT_MS)
    assert (view.current_line(), view.text.textCursor().selectedText()) == (42, "ECONNRESET")
    shown = [(s.cursor.blockNumber(), s.cursor.selectedText()) for s in view.text.extraSelections()]  # type: ignore[attr-defined]
    assert shown == [(42, "ECONNRESET")]  # the match on screen is highlighted
    assert not view.is_following()
    view.next_button.click()
    assert view.current_line() == 142


# -- markers, jumping, following --------------------------------------------------------------


def test_jump_to_a_marker_scrolls_to_it_and_highlights_it(qtbot, rig) -> None:
    r = rig(sources=("api", "web"))
    r.write("api", *[f"api line {i}" for i in range(300)])
    wait_for_line(qtbot, r.view, "api line 299")
    seq = r.feed.add_marker(marker_text("up → down (refused)", "api", t=0), "api")
    r.write("api", *[f"api line {i}" for i in range(300, 600)])
    wait_for_line(qtbot, r.view, "api line 599")
    view = r.view
    assert view.is_following()
    assert view.text.verticalScrollBar().value() == view.text.verticalScrollBar().maximum()

    view.source_box.setCurrentIndex(view.source_box.findData("web"))  # a view the marker is not in
    qtbot.waitUntil(lambda: view.line_count() == 0, timeout=WAIT_MS)
    assert view.jump_to(seq)
    assert view.current_source() is None  # the filter opened up to show it
    assert not view.is_following()
    line = view.current_line()
    assert view.seq_at(line) == seq
    assert lines_of(view)[line] == f"── {time.strftime('%H:%M:%S', time.localtime(0))} api: up → down (refused) ──"
    first, rows = view.first_visible_line(), view.text.viewport().height() // view.text.fontMetrics().lineSpacing()
    assert first <= line < first + rows  # on screen
    jumped = [s for s in view.text.extraSelections() if s.cursor.blockNumber() == line]  # type: ignore[attr-defined]
    assert len(jumped) == 1

    small = rig(capacity=100)
    small.write("api", "a line")
    wait_for_line(qtbot, small.view, "a line")
    old = small.feed.add_marker("gone soon")
    small.write("api", *[f"filler {i}" for i in range(150)])
    wait_for_line(qtbot, small.view, "filler 149")
    assert not small.view.jump_to(old)
    assert "no longer in the log" in small.view.status.text()


def test_pause_keeps_the_text_still_and_counts_new_lines(qtbot, rig) -> None:
    r = rig()
    r.write("api", *[f"line {i}" for i in range(400)])
    wait_for_line(qtbot, r.view, "line 399")
    view = r.view
    bar = view.text.verticalScrollBar()
    bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)  # the user scrolls up to read
    assert not view.is_following()
    assert not view.follow_button.isChecked()
    reading = view.first_visible_line()
    position = bar.value()

    r.write("api", *[f"new line {i}" for i in range(100)])
    qtbot.waitUntil(lambda: r.store.last_seq == 499 and r.feed.waiting() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: view.follow_button.text() == "Follow (100 new)", timeout=WAIT_MS)
    assert view.status.text() == "400 lines · paused · 100 new"
    assert view.line_count() == 400  # stored, not shown yet
    assert (view.first_visible_line(), bar.value()) == (reading, position)

    view.follow_button.click()
    qtbot.waitUntil(lambda: view.line_count() == 500, timeout=WAIT_MS)
    assert lines_of(view)[-1] == "new line 99"
    assert bar.value() == bar.maximum()
    assert view.follow_button.text() == "Follow"


def test_resizing_while_following_stays_at_the_newest_line(qtbot, rig) -> None:
    r = rig()
    r.write("api", *[f"line {i}" for i in range(300)])
    wait_for_line(qtbot, r.view, "line 299")
    bar = r.view.text.verticalScrollBar()
    r.view.resize(900, 250)  # smaller: more to scroll
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and r.view.height() == 250, timeout=WAIT_MS)
    assert r.view.is_following()
    r.view.text.setFocus()
    qtbot.keyClick(r.view.text, Qt.Key.Key_PageUp)  # the user pages up by keyboard
    assert not r.view.is_following()


def test_copy_copies_the_selection_or_everything_shown(qtbot, rig) -> None:
    r = rig()
    r.write("api", "alpha", "beta", "gamma")
    wait_for_line(qtbot, r.view, "gamma")
    assert r.view.copy() == "alpha\nbeta\ngamma"
    assert QApplication.clipboard().text() == "alpha\nbeta\ngamma"
    cursor = QTextCursor(r.view.text.document().findBlockByNumber(1))
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
    r.view.text.setTextCursor(cursor)
    r.view.copy_button.click()
    assert QApplication.clipboard().text() == "beta"


def test_log_window_hides_on_close(qtbot) -> None:
    store = LogStore(100)
    window = LogWindow(store)
    qtbot.addWidget(window)
    window.bring_up()
    assert window.isVisible()
    window.close()
    assert not window.isVisible()


# -- bounded and fast -------------------------------------------------------------------------


def test_memory_is_bounded_by_the_store(qtbot, rig) -> None:
    r = rig(capacity=1000)
    assert r.view.text.maximumBlockCount() == 1000
    r.write("api", *[f"line {i:05d}" for i in range(5000)])
    wait_for_line(qtbot, r.view, "line 04999")
    assert len(r.store) == 1000
    assert r.view.text.document().blockCount() == 1000
    shown = lines_of(r.view)
    assert shown[0] == "line 04000" and shown[-1] == "line 04999"


def test_a_filter_change_over_50000_lines_shows_the_newest_at_once_and_fills_in_the_rest(qtbot, rig) -> None:
    r = rig()
    view = r.view
    r.write("api", *[f"line {i:05d} Error: boom" if i % 100 == 99 else f"line {i:05d} ok" for i in range(50_000)])
    qtbot.waitUntil(lambda: view.line_count() == 50_000, timeout=30_000)
    view.set_min_level(Level.ERROR)
    assert lines_of(view)[-1] == "line 49999 Error: boom"  # the newest are there at once
    qtbot.waitUntil(lambda: view.line_count() == 500, timeout=WAIT_MS)
    assert lines_of(view)[0] == "line 00099 Error: boom"
    view.set_min_level(None)
    document = view.text.document()
    assert document.lastBlock().text() == "line 49999 Error: boom"
    assert view.line_count() < 50_000  # older lines are filled in above, a slice per turn
    qtbot.waitUntil(lambda: view.line_count() == 50_000, timeout=WAIT_MS)
    assert document.firstBlock().text() == "line 00000 ok" and document.lastBlock().text() == "line 49999 Error: boom"
    assert [view.seq_at(i) for i in (0, 1, 25_000, 49_999)] == [0, 1, 25_000, 49_999]
    bar = view.text.verticalScrollBar()
    assert bar.value() == bar.maximum()


def test_a_hidden_view_waits_and_catches_up_when_shown(qtbot, rig) -> None:
    r = rig()
    r.view.hide()
    r.write("api", *[f"line {i}" for i in range(10)])
    qtbot.waitUntil(lambda: r.store.last_seq == 9 and r.feed.waiting() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not r.view._flush_timer.isActive(), timeout=WAIT_MS)
    assert r.view.line_count() == 0  # no text work for a window nobody sees
    r.view.show()
    qtbot.waitUntil(lambda: r.view.line_count() == 10, timeout=WAIT_MS)
    assert lines_of(r.view)[-1] == "line 9"


BURST_WRITER = r"""
import os, sys
path, count = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
batch = []
for i in range(count):
    if i % 500 == 499:
        batch.append(b'{"level":50,"time":1700000000000,"msg":"request %d failed","err":{"type":"Error",'
                     b'"message":"connect ECONNREFUSED 127.0.0.1:27017"}}\n' % i)
    else:
        batch.append(b"line %06d GET /api/items?page=%d 200 12 ms - 512\n" % (i, i % 97))
    if len(batch) == 1000:
        os.write(fd, b"".join(batch))
        batch = []
os.write(fd, b"".join(batch) + b"last line of the burst\n")
os.close(fd)
"""


def test_a_burst_of_200000_lines_arrives_whole_in_order_and_keeps_following(qtbot, rig) -> None:
    # How long the window freezes meanwhile is measured, not asserted: bench.logview --rate 200000 --seconds 1
    r = rig()
    view = r.view
    writer = subprocess.Popen([sys.executable, "-c", BURST_WRITER, str(r.files["api"]), "200000"])
    try:
        qtbot.waitUntil(lambda: r.store.last_seq == 200_000 and r.feed.waiting() == 0, timeout=60_000)
        qtbot.waitUntil(lambda: view.seq_at(view.line_count() - 1) == 200_000, timeout=60_000)
    finally:
        assert writer.wait(timeout=30) == 0
    assert r.store.last_seq + 1 == 200_001  # every line was counted
    document = view.text.document()
    assert document.blockCount() == view.line_count() == 50_000 <= view.text.maximumBlockCount()
    assert document.lastBlock().text() == "last line of the burst"
    assert document.firstBlock().text().startswith("line 150001 GET /api/items")
    assert view.seq_at(0) == 150_001  # the newest 50,000, in order, nothing missing between
    bar = view.text.verticalScrollBar()
    assert bar.value() == bar.maximum()  # still following: the newest line is on screen
