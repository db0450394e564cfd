"""Desktop notifications through the desktop's notification server, with jeepney (no Qt).

The server is whoever owns ``org.freedesktop.Notifications`` on the session bus (GNOME Shell,
Plasma, dunst, mako, xfce4-notifyd, …), at ``/org/freedesktop/Notifications``. From the Desktop
Notifications Specification (1.2):

- ``Notify(app_name s, replaces_id u, app_icon s, summary s, body s, actions as, hints a{sv},
  expire_timeout i) -> id u``. A non-zero ``replaces_id`` replaces that notification in place.
  ``actions`` alternates keys and labels; the key ``default`` is a click on the popup itself.
  Hints used here: ``urgency`` (byte: 0 low, 1 normal, 2 critical; critical ones do not expire),
  ``desktop-entry`` (the .desktop file's name, so the server can group and find the app) and
  ``image-path`` (a ``file://`` URI). ``expire_timeout`` -1 leaves the time to the server.
- ``GetCapabilities() -> as``: ``actions`` (the server shows actions; without it they may be
  ignored), ``body-markup`` (the body is read as a subset of markup, so ``&``, ``<`` and ``>`` in
  plain text must be escaped, or a health body such as ``expected <number>`` would lose words).
- Signals ``ActionInvoked(id u, action_key s)`` and ``NotificationClosed(id u, reason u)``
  (1 expired, 2 dismissed by the user, 3 closed by a call, 4 other).

Everything runs on one daemon thread; :meth:`DesktopNotifications.show` only queues, so the
caller (the GUI thread) never waits on the bus. Each call waits at most ``call_timeout``
seconds. A note that cannot be shown (no session bus, no server, an error, no answer in time)
goes back through ``on_unshown`` so the shell can show it its own way.
"""

from __future__ import annotations

import html
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.threading import DBusRouter, open_dbus_connection
from jeepney.wrappers import DBusErrorResponse, unwrap_msg

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
SERVER = DBusAddress(PATH, bus_name=BUS_NAME, interface=INTERFACE)
DEFAULT_ACTION = "default"


class Urgency(IntEnum):
    LOW = 0
    NORMAL = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Note:
    """One notification. ``summary`` and ``body`` are plain text, never markup.

    ``actions``: (key, label) pairs; the key ``"default"`` is a click on the popup.
    ``key``: a later note with the same key replaces this one instead of stacking beside it.
    ``image``: an image file to show (absolute path), e.g. the state's icon.
    ``context``: whatever the sender wants back with an action (e.g. the service's name).
    """

    summary: str
    body: str
    urgency: Urgency = Urgency.NORMAL
    actions: tuple[tuple[str, str], ...] = ()
    key: str | None = None
    image: str | None = None
    context: str | None = None


class Notifications(Protocol):
    """Where notifications go. ``show`` never blocks; callbacks may come on any thread."""

    def start(self) -> None: ...

    def show(self, note: Note) -> None: ...

    def stop(self, timeout: float = 1.0) -> None: ...


class NoNotifications:
    """The do-nothing fallback (no notification server on this platform): every note comes back unshown."""

    def __init__(self, on_unshown: Callable[[Note], None]) -> None:
        self._on_unshown = on_unshown

    def start(self) -> None:
        pass

    def show(self, note: Note) -> None:
        self._on_unshown(note)

    def stop(self, timeout: float = 1.0) -> None:
        pass


def session_bus_address(environ: dict[str, str] | None = None) -> str | None:
    """``$DBUS_SESSION_BUS_ADDRESS``, else systemd's per-user bus ``$XDG_RUNTIME_DIR/bus`` if it exists."""
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime, "bus").exists():
        return f"unix:path={Path(runtime, 'bus')}"
    return None


def plain_body(text: str, markup: bool) -> str:
    """The body as the server should get it: plain text stays plain also where it reads markup."""
    return html.escape(text, quote=False) if markup else text


def _signal_rule(member: str, *, with_sender: bool) -> MatchRule:
    """A signal of the server. The bus matches ``sender`` against the name's owner; a local filter
    sees only the owner's unique name, so it leaves the sender out."""
    return MatchRule(
        type="signal", sender=BUS_NAME if with_sender else None, interface=INTERFACE, member=member, path=PATH
    )


def _owner_changed_rule() -> MatchRule:
    rule = MatchRule(
        type="signal",
        sender="org.freedesktop.DBus",
        interface="org.freedesktop.DBus",
        member="NameOwnerChanged",
        path="/org/freedesktop/DBus",
    )
    rule.add_arg_condition(0, BUS_NAME)
    return rule


class _Router(DBusRouter):
    """jeepney's router, whose receiver thread, when the bus goes away (the session ends, the
    dbus-daemon dies), says so through ``on_lost`` instead of dying with a traceback."""

    def __init__(self, conn: Any, on_lost: Callable[[], None]) -> None:
        self._on_lost = on_lost  # before the receiver thread starts
        super().__init__(conn)

    def _receiver(self) -> None:
        try:
            super()._receiver()
        except (OSError, EOFError, ValueError) as exc:
            log.info("notifications: the session bus went away (%s); popups are the tray's own", exc)
        self._on_lost()


class DesktopNotifications:
    """Shows :class:`Note` objects through the session bus's notification server (one thread).

    ``on_action(note, key)`` when the user picks an action of a note shown here;
    ``on_unshown(note)`` when a note could not be shown; ``on_shown(note, id)`` when it was.
    All three are called on this object's thread.
    """

    def __init__(
        self,
        on_action: Callable[[Note, str], None],
        on_unshown: Callable[[Note], None],
        *,
        address: str | None = None,
        app_name: str = "trayapp",
        app_icon: str | None = None,
        desktop_entry: str = "trayapp",
        call_timeout: float = 2.0,
        on_shown: Callable[[Note, int], None] | None = None,
    ) -> None:
        self.address = address  # None: the session bus (session_bus_address())
        self.app_name = app_name
        self.app_icon = app_icon  # absolute path of the app's icon, or None
        self.desktop_entry = desktop_entry
        self.call_timeout = call_timeout
        self._on_action = on_action
        self._on_unshown = on_unshown
        self._on_shown = on_shown
        # ("show", Note), ("stop", None), ("lost", None) when the bus went away, or a signal Message
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._gone = False  # the thread has ended: notes go straight back unshown
        self._thread: threading.Thread | None = None
        # Worker thread only:
        self._capabilities: frozenset[str] | None = None
        self._ids: dict[str, int] = {}  # note key -> the server's id of the last note shown with it
        self._shown: dict[int, Note] = {}  # server id -> note, while it is open

    # -- public (any thread) -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="trayapp-notifications", daemon=True)
        self._thread.start()

    def show(self, note: Note) -> None:
        """Queue ``note`` (returns at once)."""
        with self._lock:
            if not self._gone:
                self._inbox.put(("show", note))
                return
        self._on_unshown(note)

    def stop(self, timeout: float = 1.0) -> None:
        self._inbox.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def capabilities(self) -> frozenset[str] | None:
        """What the server said it can do, once asked (None before, or without a server)."""
        return self._capabilities

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        address = self.address or session_bus_address()
        if address is None:
            log.info("notifications: no session bus; popups are the tray's own")
            self._end()
            return
        try:
            conn = open_dbus_connection(bus=address, auth_timeout=self.call_timeout)
        except (OSError, RuntimeError, TimeoutError, KeyError, ValueError) as exc:
            log.info("notifications: cannot connect to the bus at %s (%s); popups are the tray's own", address, exc)
            self._end()
            return
        router = _Router(conn, lambda: self._inbox.put(("lost", None)))
        handles = []
        try:
            for member in ("ActionInvoked", "NotificationClosed"):
                self._call(router, message_bus.AddMatch(_signal_rule(member, with_sender=True)))
                handles.append(router.filter(_signal_rule(member, with_sender=False), queue=self._inbox))
            self._call(router, message_bus.AddMatch(_owner_changed_rule()))
            handles.append(router.filter(_owner_changed_rule(), queue=self._inbox))
            while True:
                item = self._inbox.get()
                if isinstance(item, Message):
                    self._on_signal(item)
                    continue
                what, note = item
                if what in ("stop", "lost"):
                    break
                self._notify(router, note)
        except (DBusErrorResponse, OSError, TimeoutError) as exc:
            log.info("notifications: the session bus failed (%s); popups are the tray's own", exc)
        finally:
            for handle in handles:
                handle.close()
            router.close()
            conn.close()
            self._end()

    def _end(self) -> None:
        """No more bus: hand back whatever is still queued, and every later note."""
        with self._lock:
            self._gone = True
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple) and item[0] == "show":
                self._on_unshown(item[1])

    def _call(self, router: DBusRouter, msg: Message) -> tuple[Any, ...]:
        """A method call, waiting at most ``call_timeout``; raises DBusErrorResponse / TimeoutError."""
        return tuple(unwrap_msg(router.send_and_get_reply(msg, timeout=self.call_timeout)))

    def _notify(self, router: DBusRouter, note: Note) -> None:
        try:
            if self._capabilities is None:
                (caps,) = self._call(router, new_method_call(SERVER, "GetCapabilities"))
                self._capabilities = frozenset(caps)
                log.info("notifications: the server can do %s", ", ".join(sorted(caps)) or "nothing optional")
            caps_now = self._capabilities
            replaces = self._ids.get(note.key, 0) if note.key is not None else 0
            actions = [part for pair in note.actions for part in pair] if "actions" in caps_now else []
            hints: dict[str, tuple[str, Any]] = {
                "urgency": ("y", int(note.urgency)),
                "desktop-entry": ("s", self.desktop_entry),
            }
            if note.image:
                hints["image-path"] = ("s", Path(note.image).as_uri())
            icon = Path(self.app_icon).as_uri() if self.app_icon else ""
            body = plain_body(note.body, "body-markup" in caps_now)
            args = (self.app_name, replaces, icon, note.summary, body, actions, hints, -1)
            (server_id,) = self._call(router, new_method_call(SERVER, "Notify", "susssasa{sv}i", args))
        except (DBusErrorResponse, TimeoutError, OSError) as exc:
            log.info("notifications: the server did not take %r (%s); showing it the tray's way", note.summary, exc)
            self._capabilities = None  # ask again next time: the server may have changed
            self._on_unshown(note)
            return
        if replaces and replaces != server_id:
            self._shown.pop(replaces, None)
        self._shown[server_id] = note
        if note.key is not None:
            self._ids[note.key] = server_id
        if self._on_shown is not None:
            self._on_shown(note, server_id)

    def _on_signal(self, msg: Message) -> None:
        if msg.header.message_type is not MessageType.signal:
            return
        member = msg.header.fields.get(HeaderFields.member)
        body = msg.body
        if member == "NameOwnerChanged":
            log.info("notifications: the notification server changed (%r -> %r)", body[1], body[2])
            self._capabilities = None
            self._ids.clear()
            self._shown.clear()
        elif member == "ActionInvoked" and len(body) == 2:
            note = self._shown.get(body[0])
            if note is not None:  # only notes shown here, by their id
                self._on_action(note, str(body[1]))
        elif member == "NotificationClosed" and len(body) == 2:
            note = self._shown.pop(body[0], None)
            if note is not None and note.key is not None and self._ids.get(note.key) == body[0]:
                del self._ids[note.key]
