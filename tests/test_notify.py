"""Desktop notifications through a real notification server on a real private D-Bus (no Qt)."""

from __future__ import annotations

import os
import queue
import signal
from collections.abc import Iterator

import pytest

from tests.kit.notifyd import start_notification_server
from tests.kit.wait import wait_until
from trayapp.desktop.notify import DesktopNotifications, NoNotifications, Note, Urgency, session_bus_address

DOWN = Note(
    "backend is down",
    "backend answers 500: Error: expected <number> & got <img src=x>",
    Urgency.CRITICAL,
    actions=(("default", "Open"), ("restart", "Restart"), ("log", "Show log")),
    key="backend",
    image="/nonexistent/down.svg",
    context="backend",
)
BACK = Note("backend is back after 3 s", "backend answers 200 OK in 2 ms.", Urgency.NORMAL, key="backend")


class Client:
    """A DesktopNotifications whose callbacks land in queues."""

    def __init__(self, address: str | None, **kwargs: object) -> None:
        self.actions: queue.Queue[tuple[Note, str]] = queue.Queue()
        self.unshown: queue.Queue[Note] = queue.Queue()
        self.shown: queue.Queue[tuple[Note, int]] = queue.Queue()
        self.notes = DesktopNotifications(
            lambda note, key: self.actions.put((note, key)),
            self.unshown.put,
            address=address,
            on_shown=lambda note, i: self.shown.put((note, i)),
            **kwargs,  # type: ignore[arg-type]
        )
        self.notes.start()


@pytest.fixture
def client() -> Iterator:
    made: list[Client] = []

    def make(address: str | None, **kwargs: object) -> Client:
        c = Client(address, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.notes.stop(timeout=3)


def test_a_note_reaches_the_server_with_app_icon_urgency_actions_and_plain_text(server, bus, client) -> None:
    c = client(bus.address, app_icon="/opt/trayapp/trayapp.svg")
    c.notes.show(DOWN)
    [call] = server.wait_shown(1)
    assert call["app_name"] == "trayapp"
    assert call["app_icon"] == "file:///opt/trayapp/trayapp.svg"
    assert call["summary"] == "backend is down"
    # dunst's capabilities include body-markup: the body's own <, > and & must show as those characters
    assert call["body"] == "backend answers 500: Error: expected &lt;number&gt; &amp; got &lt;img src=x&gt;"
    assert call["actions"] == ["default", "Open", "restart", "Restart", "log", "Show log"]
    assert call["hints"] == {"urgency": 2, "desktop-entry": "trayapp", "image-path": "file:///nonexistent/down.svg"}
    assert call["replaces_id"] == 0 and call["expire_timeout"] == -1
    assert c.shown.get(timeout=5) == (DOWN, call["id"])


def test_a_server_without_markup_gets_the_body_as_it_is_and_no_actions_without_the_capability(bus, client) -> None:
    server = start_notification_server(bus.address, capabilities=("body",))
    try:
        c = client(bus.address)
        c.notes.show(DOWN)
        [call] = server.wait_shown(1)
        assert call["body"] == DOWN.body
        assert call["actions"] == []
        assert c.notes.capabilities == frozenset({"body"})
    finally:
        server.stop()


def test_a_follow_up_for_the_same_service_replaces_the_earlier_note(server, bus, client) -> None:
    c = client(bus.address)
    c.notes.show(DOWN)
    c.notes.show(Note("db is down", "Nothing listens on port 27017", Urgency.CRITICAL, key="db"))
    c.notes.show(BACK)
    down, db, back = server.wait_shown(3)
    assert down["replaces_id"] == 0 and db["replaces_id"] == 0 and db["id"] != down["id"]
    assert back["replaces_id"] == down["id"] and back["id"] == down["id"]  # in place of "backend is down"
    assert back["hints"]["urgency"] == 1


def test_after_the_user_closed_a_note_the_next_one_is_new(server, bus, client) -> None:
    c = client(bus.address)
    c.notes.show(DOWN)
    [down] = server.wait_shown(1)
    server.invoke(down["id"], "log")  # the server closes a note after an action, as dunst does
    assert c.actions.get(timeout=5) == (DOWN, "log")
    # NotificationClosed follows ActionInvoked: once the client has read it, it forgets the id
    wait_until(lambda: "backend" not in c.notes._ids, timeout=5, what="the closed note to be forgotten")
    c.notes.show(BACK)
    _, back = server.wait_shown(2)
    assert back["replaces_id"] == 0


def test_an_action_the_user_picks_comes_back_with_its_note(server, bus, client) -> None:
    c = client(bus.address)
    c.notes.show(DOWN)
    [call] = server.wait_shown(1)
    server.invoke(call["id"], "restart")
    note, action = c.actions.get(timeout=5)
    assert (note.context, action) == ("backend", "restart")


def test_an_action_on_someone_elses_notification_is_ignored(server, bus, client) -> None:
    c = client(bus.address)
    c.notes.show(BACK)
    [call] = server.wait_shown(1)
    server.invoke(call["id"] + 100, "restart")  # an id this client was never given
    server.invoke(call["id"], "default")
    assert c.actions.get(timeout=5) == (BACK, "default")
    assert c.actions.empty()


def test_without_a_server_on_the_bus_each_note_comes_back_for_the_trays_own_popup(bus, client) -> None:
    c = client(bus.address)
    c.notes.show(DOWN)
    assert c.unshown.get(timeout=5) == DOWN


def test_a_server_that_appears_later_is_used_from_then_on(bus, client) -> None:
    c = client(bus.address)
    c.notes.show(DOWN)
    assert c.unshown.get(timeout=5) == DOWN
    server = start_notification_server(bus.address)
    try:
        c.notes.show(BACK)
        [call] = server.wait_shown(1)
        assert call["summary"] == BACK.summary
    finally:
        server.stop()


def test_without_a_session_bus_notes_come_back_at_once(tmp_path, client) -> None:
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    c = client(f"unix:path={tmp_path / 'no-bus-here'}")
    c.notes.show(DOWN)
    assert c.unshown.get(timeout=5) == DOWN
    wait_until(lambda: not c.notes._thread.is_alive(), timeout=5, what="the thread to end")
    c.notes.show(BACK)  # after the thread ended: handed back in the caller's thread
    assert c.unshown.get_nowait() == BACK


def test_a_hung_server_never_holds_up_show_and_its_notes_come_back(server, bus, client) -> None:
    c = client(bus.address, call_timeout=0.5)
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            c.notes.show(DOWN)  # returns at once: the caller never waits on the bus
        assert [c.unshown.get(timeout=10) for _ in range(3)] == [DOWN] * 3
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def test_when_the_session_bus_goes_away_later_notes_come_back_for_the_trays_popup(bus, server, client) -> None:
    c = client(bus.address)
    c.notes.show(DOWN)
    server.wait_shown(1)
    server.stop()
    bus.stop()  # the session ends under a running tray
    wait_until(lambda: not c.notes._thread.is_alive(), timeout=5, what="the notifications thread to end")
    c.notes.show(BACK)
    assert c.unshown.get(timeout=5) == BACK


def test_the_do_nothing_fallback_hands_every_note_back() -> None:
    back: list[Note] = []
    fallback = NoNotifications(back.append)
    fallback.start()
    fallback.show(DOWN)
    fallback.stop()
    assert back == [DOWN]
