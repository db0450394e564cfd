"""A notification server of our own on a private bus, for the notification tests.

It owns ``org.freedesktop.Notifications`` on the bus it is given (see :mod:`tests.kit.logind`
for the bus), answers ``GetCapabilities`` with the capabilities it is started with,
``GetServerInformation``, ``Notify`` (every call is recorded) and ``CloseNotification``, and,
when told on stdin, emits ``ActionInvoked`` as a server does when the user picks an action
(then ``NotificationClosed`` with reason 2, as dunst does after an action). It runs as a child
process (this file is its program), written with jeepney, and reports on stdout one line per
fact: ``READY``, ``NOTIFY <json of the call and the id it got>``, ``CLOSED <id> <reason>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.kit.logind import ChildLines, KitError

SCRIPT = Path(__file__)
BUS_NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
#: dunst 1.9's capabilities, the default here
DUNST_CAPABILITIES = ("actions", "body", "body-hyperlinks", "body-markup", "icon-static", "persistence")


@dataclass
class NotificationServer(ChildLines):
    """Handle on the server child: what it was asked to show, and a user's clicks."""

    LABEL = "notification server"

    def shown(self) -> list[dict[str, Any]]:
        """Every Notify call so far, in order: app_name, replaces_id, app_icon, summary, body, actions
        (flat, as sent), hints ({name: value}), expire_timeout, and the ``id`` it was given."""
        with self._cond:
            return [json.loads(line[len("NOTIFY ") :]) for line in self.lines if line.startswith("NOTIFY ")]

    def wait_shown(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        self.wait_for("NOTIFY ", count, timeout)
        return self.shown()

    def invoke(self, note_id: int, action: str) -> None:
        """The user picks ``action`` on notification ``note_id`` (returns once the signal is on the bus)."""
        count = len(self._lines(f"INVOKED {note_id} ")) + 1
        self._command(f"invoke {note_id} {action}")
        self.wait_for(f"INVOKED {note_id} ", count)


def start_notification_server(
    address: str, capabilities: tuple[str, ...] = DUNST_CAPABILITIES, timeout: float = 10.0
) -> NotificationServer:
    """Start the server on the bus at ``address`` and wait until it owns ``org.freedesktop.Notifications``."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), address, ",".join(capabilities)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(SCRIPT.parents[2])},  # this file imports tests.kit as a script too
    )
    server = NotificationServer(proc)
    threading.Thread(target=server._read, name="notifyd-reader", daemon=True).start()
    try:
        server.wait_for("READY", timeout=timeout)
    except KitError:
        server.stop()
        raise
    return server


# -- the server, child side ----------------------------------------------------------------------


def _serve(address: str, capabilities: list[str]) -> None:  # pragma: no cover - runs in the child process
    import select

    from jeepney import DBusAddress, MessageType, new_error, new_method_return, new_signal
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import Proxy, open_dbus_connection

    def say(line: str) -> None:
        print(line, flush=True)

    conn = open_dbus_connection(bus=address)
    if Proxy(message_bus, conn, timeout=5).RequestName(BUS_NAME, 4) != (1,):  # DO_NOT_QUEUE -> PRIMARY_OWNER
        say("NAME taken")
        return
    emitter = DBusAddress(PATH, interface=INTERFACE)
    next_id = 1
    open_ids: set[int] = set()
    commands = b""
    say("READY")
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([conn.sock, stdin], [], [])
        if conn.sock in ready:
            while True:
                try:
                    msg = conn.receive(timeout=0)
                except TimeoutError:
                    break
                if msg.header.message_type is not MessageType.method_call:
                    continue
                member = msg.header.fields.get(3)  # HeaderFields.member
                if member == "GetCapabilities":
                    conn.send(new_method_return(msg, "as", (capabilities,)))
                elif member == "GetServerInformation":
                    conn.send(new_method_return(msg, "ssss", ("kit-notifyd", "trayapp tests", "1", "1.2")))
                elif member == "Notify":
                    app_name, replaces_id, app_icon, summary, body, actions, hints, expire = msg.body
                    note_id = replaces_id if replaces_id in open_ids else next_id
                    if note_id == next_id:
                        next_id += 1
                    open_ids.add(note_id)
                    conn.send(new_method_return(msg, "u", (note_id,)))
                    record = {
                        "id": note_id,
                        "app_name": app_name,
                        "replaces_id": replaces_id,
                        "app_icon": app_icon,
                        "summary": summary,
                        "body": body,
                        "actions": list(actions),
                        "hints": {name: value for name, (_sig, value) in hints.items()},
                        "expire_timeout": expire,
                    }
                    say("NOTIFY " + json.dumps(record))
                elif member == "CloseNotification":
                    (note_id,) = msg.body
                    conn.send(new_method_return(msg))
                    if note_id in open_ids:
                        open_ids.discard(note_id)
                        conn.send(new_signal(emitter, "NotificationClosed", "uu", (note_id, 3)))
                        say(f"CLOSED {note_id} 3")
                else:
                    conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (str(member),)))
        if stdin in ready:
            chunk = os.read(stdin, 4096)  # not sys.stdin: its buffer would hide lines from select()
            if not chunk:
                return
            commands += chunk
            while b"\n" in commands:
                raw, commands = commands.split(b"\n", 1)
                words = raw.decode().split()
                if words == ["quit"]:
                    return
                if len(words) == 3 and words[0] == "invoke":
                    note_id, action = int(words[1]), words[2]
                    conn.send(new_signal(emitter, "ActionInvoked", "us", (note_id, action)))
                    open_ids.discard(note_id)
                    conn.send(new_signal(emitter, "NotificationClosed", "uu", (note_id, 2)))
                    say(f"INVOKED {note_id} {action}")
                    say(f"CLOSED {note_id} 2")


if __name__ == "__main__":  # pragma: no cover
    _serve(sys.argv[1], [c for c in sys.argv[2].split(",") if c])
