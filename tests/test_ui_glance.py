"""The window read at a glance (issue 11, items 5 and 6): summary header, headlines, Copy, and a
layout that stays put. The real app against real servers."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from tests.kit.servers import BACKEND_SCRIPT, free_port
from tests.kit.services import service_toml
from trayapp.config.load import Config, parse_config
from trayapp.model import CheckResult, Kind, Reason, State
from trayapp.monitor.history import Timeline
from trayapp.ui.models import ServicesModel, latency_text, summary_text

WAIT_MS = 10_000


def make_config(*services: str) -> Config:
    return parse_config("\n".join(services), "test.toml")


def test_summary_header_names_what_is_down_and_since_when(qtbot, tray_app, backend) -> None:
    api = backend("healthy")
    port = free_port()
    app = tray_app(
        make_config(
            service_toml("backend", "http", url=api.url(), interval=0.2),
            service_toml("vite", "tcp", host="127.0.0.1", port=port, interval=0.2),
        )
    )
    summary = app.window.summary
    qtbot.waitUntil(lambda: app.views["vite"].changed_at is not None, timeout=WAIT_MS)
    since = time.strftime("%H:%M", time.localtime(app.views["vite"].changed_at))
    qtbot.waitUntil(lambda: summary.text() == f"2 services · vite down since {since}", timeout=WAIT_MS)
    app.set_paused(True)
    qtbot.waitUntil(lambda: summary.text() == "2 services · monitoring paused", timeout=WAIT_MS)


def _timeline(
    name: str, state: State, changed_at: float | None = None, checked: bool = True, blocked_by: str | None = None
) -> Timeline:
    view = Timeline(make_config(service_toml(name, "tcp", host="127.0.0.1", port=1)).services[0])
    if checked:
        reason = Reason.OK if state is State.UP else Reason.STOPPED if state is State.STOPPED else Reason.REFUSED
        result = CheckResult(name, Kind.TCP, "127.0.0.1:1", state, reason, "", 1.0, 0.0, port=1, blocked_by=blocked_by)
        view.add_check(result, state)
    view.changed_at = changed_at
    return view


def test_summary_text_in_every_case() -> None:
    at = time.mktime((2026, 11, 30, 12, 3, 0, 0, 0, -1))
    up, db = _timeline("backend", State.UP), _timeline("db", State.DOWN, at)
    assert summary_text([up, db]) == "2 services · db down since 12:03"
    assert summary_text([up]) == "1 service · all up"
    assert summary_text([up, _timeline("web", State.STOPPED)]) == "2 services · all up but web (stopped)"
    both_stopped = [_timeline("api", State.STOPPED), _timeline("auth", State.STOPPED)]
    assert summary_text(both_stopped) == "2 services · all stopped"  # not "all up but ..." when none is up
    assert summary_text([_timeline("a", State.UNKNOWN, checked=False)]) == "1 service · checking…"
    worse = [_timeline("x", State.DEGRADED, at), db, *(_timeline(f"s{i}", State.DOWN) for i in range(3))]
    assert summary_text(worse) == "5 services · db down since 12:03 · s0 down · s1 down · and 2 more"
    assert summary_text([]) == "no services configured"


def test_summary_names_a_blocked_service_with_its_root_not_as_a_second_outage() -> None:
    at = time.mktime((2026, 11, 30, 12, 3, 0, 0, 0, -1))
    db = _timeline("db", State.DOWN, at)
    backend = _timeline("backend", State.DEGRADED, at, blocked_by="db")
    frontend = _timeline("frontend", State.DOWN, at, blocked_by="db")
    assert summary_text([frontend, backend, db]) == "3 services · db down since 12:03 (frontend and backend affected)"
    # blocked by a service that is not in trouble (stopped by the user): named on its own
    stopped = _timeline("db", State.STOPPED)
    assert summary_text([backend, stopped]) == "2 services · backend degraded since 12:03"


def test_latency_is_shown_only_for_an_answer() -> None:
    def result(state: State, reason: Reason, status: int | None = None) -> CheckResult:
        return CheckResult("api", Kind.HTTP, "u", state, reason, "", 0.4, 0.0, http_status=status)

    assert latency_text(result(State.UP, Reason.OK)) == "0 ms"
    assert latency_text(result(State.DOWN, Reason.HTTP_STATUS, 500)) == "0 ms"  # it answered, with an error
    assert latency_text(result(State.DOWN, Reason.REFUSED)) == ""  # nothing answered: no latency to show
    assert latency_text(None) == ""


def test_copy_button_puts_the_full_sentence_on_the_clipboard(qtbot, tray_app) -> None:
    port = free_port()
    app = tray_app(make_config(service_toml("vite", "tcp", host="127.0.0.1", port=port, interval=0.2)))
    qtbot.waitUntil(lambda: app.views["vite"].state is State.DOWN, timeout=WAIT_MS)
    app.open_window("vite")
    tab = app.window.services_tab
    assert tab.copy_button.isEnabled()
    QApplication.clipboard().clear()
    tab.copy_button.click()
    copied = QApplication.clipboard().text()
    assert copied.startswith(f"vite (tcp) — down: nothing listens on port {port}")
    assert f"Nothing listens on port {port} (127.0.0.1): vite is not running" in copied


def test_selection_pause_and_a_failed_check_never_move_the_layout(qtbot, tray_app, backend, tmp_path: Path) -> None:
    api = backend("healthy")
    argv = [sys.executable, str(BACKEND_SCRIPT), "--mode", "healthy", "--port", str(free_port())]
    managed = service_toml("worker", "tcp", host="127.0.0.1", port=free_port(), interval=0.2)
    managed += f"start = {json.dumps(argv)}\n"
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.2, down_after=100), managed))
    qtbot.waitUntil(lambda: all(v.last is not None for v in app.views.values()), timeout=WAIT_MS)
    app.open_window("backend")
    tab = app.window.services_tab
    qtbot.waitExposed(app.window)
    header = tab.table.horizontalHeader()

    def layout() -> tuple:
        QApplication.processEvents()
        widths = tuple(header.sectionSize(c) for c in range(header.count()))
        return widths, tab.detail.geometry(), tab.copy_button.geometry(), app.window.tabs.geometry()

    before = layout()
    assert not tab.process_box.isVisible()
    tab.select("worker")  # managed: its Process box shows, in space kept for it
    qtbot.waitUntil(lambda: tab.process_box.isVisible(), timeout=WAIT_MS)
    assert layout() == before
    api.set_mode("status_500")  # the State column's words grow: "up · last check failed"
    model = app.services_model
    qtbot.waitUntil(
        lambda: model.data(model.index(0, ServicesModel.STATE)) == "up · last check failed", timeout=WAIT_MS
    )
    assert layout() == before
    app.set_paused(True)
    qtbot.waitUntil(lambda: model.data(model.index(0, ServicesModel.STATE)) == "paused", timeout=WAIT_MS)
    assert layout() == before
