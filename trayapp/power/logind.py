"""Linux sleep/wake from systemd-logind over D-Bus, with jeepney (pure Python, no Qt).

logind emits ``PrepareForSleep(true)`` on ``org.freedesktop.login1.Manager`` before suspending
and ``PrepareForSleep(false)`` after resuming. A *delay* inhibitor lock (``Inhibit("sleep", who,
why, "delay")`` returns a file descriptor) makes logind wait, at most ``InhibitDelayMaxSec``
(5 s by default), until we have paused; closing the descriptor releases it. A fresh lock is
taken after each resume (systemd.io/INHIBITOR_LOCKS).

The system bus is ``$DBUS_SYSTEM_BUS_ADDRESS`` or the default socket; tests pass the address
of a private ``dbus-daemon`` explicitly. Without a bus (containers, other init systems) the
source says it is unavailable and the clock fallback covers sleep/wake alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.threading import DBusConnection, ReceiveStopped, open_dbus_connection
from jeepney.wrappers import DBusErrorResponse, unwrap_msg

if TYPE_CHECKING:
    from trayapp.power.events import PowerMonitor

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.login1"
PATH = "/org/freedesktop/login1"
INTERFACE = "org.freedesktop.login1.Manager"
SIGNAL = "PrepareForSleep"

LOGIND = DBusAddress(PATH, bus_name=BUS_NAME, interface=INTERFACE)


def prepare_for_sleep_rule(*, with_sender: bool) -> MatchRule:
    """The signal we listen to. The bus matches ``sender`` against the name's owner; a local
    filter sees only the owner's unique name, so it leaves the sender out."""
    return MatchRule(
        type="signal", sender=BUS_NAME if with_sender else None, interface=INTERFACE, member=SIGNAL, path=PATH
    )


def decode_prepare_for_sleep(msg: Message) -> bool | None:
    """True (going to sleep) / False (resumed) for a ``PrepareForSleep`` signal, None for anything else."""
    if msg.header.message_type is not MessageType.signal or not prepare_for_sleep_rule(with_sender=False).matches(msg):
        return None
    body = msg.body
    if len(body) != 1 or not isinstance(body[0], bool):
        return None
    return body[0]


class LogindSleepSource:
    """Reports logind's ``PrepareForSleep`` to a :class:`~trayapp.power.events.PowerMonitor`.

    Runs one daemon thread that reads the bus. On ``true`` it reports ``suspending`` (whose
    listeners pause the monitor before returning) and then releases its delay lock, so the
    machine may go down; on ``false`` it reports ``resumed`` and takes a new lock.
    """

    name = "logind"

    def __init__(
        self,
        address: str | None = None,
        *,
        who: str = "trayapp",
        why: str = "pause checks before sleep",
        call_timeout: float = 2.0,
    ) -> None:
        self.address = address  # None: $DBUS_SYSTEM_BUS_ADDRESS or the default system bus
        self.who = who
        self.why = why
        self.call_timeout = call_timeout
        self._conn: DBusConnection | None = None
        self._lock_fd: Any = None  # jeepney FileDescriptor of the delay lock we hold
        self._pending: deque[Message] = deque()  # signals read while waiting for a reply
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._power: PowerMonitor | None = None

    # -- PowerSource ----------------------------------------------------------------------

    def start(self, power: PowerMonitor) -> bool:
        """Connect, subscribe and take the first lock (bounded); False when there is no usable bus."""
        where = self.address or "the system bus"
        try:
            conn = open_dbus_connection(bus=self.address or "SYSTEM", enable_fds=True)
        except (OSError, RuntimeError, TimeoutError, KeyError, ValueError) as exc:
            log.info("logind: cannot connect to %s (%s); sleep/wake comes from the clocks only", where, exc)
            return False
        self._conn = conn
        self._power = power
        try:
            self._call(message_bus.AddMatch(prepare_for_sleep_rule(with_sender=True)))
        except (DBusErrorResponse, OSError, TimeoutError) as exc:
            log.info("logind: cannot subscribe to %s on %s (%s)", SIGNAL, where, exc)
            self._close_connection()
            return False
        self._take_lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="trayapp-logind", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 1.0) -> None:
        self._stopping = True
        if self._conn is not None:
            self._conn.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close_connection()
        self._release_lock()

    @property
    def holds_lock(self) -> bool:
        """True while we hold a delay inhibitor lock."""
        return self._lock_fd is not None

    # -- the reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None and self._power is not None
        try:
            while not self._stopping:
                msg = self._pending.popleft() if self._pending else conn.receive()
                sleeping = decode_prepare_for_sleep(msg)
                if sleeping is True:
                    self._power.report_suspending(self.name)  # listeners have paused when this returns
                    self._release_lock()
                elif sleeping is False:
                    self._power.report_resumed(self.name)
                    self._take_lock()
        except ReceiveStopped:
            pass
        except (OSError, RuntimeError) as exc:
            if not self._stopping:
                log.warning("logind: lost the system bus (%s); sleep/wake comes from the clocks only", exc)

    # -- the delay lock --------------------------------------------------------------------------

    def _take_lock(self) -> None:
        if self._lock_fd is not None:
            return
        msg = new_method_call(LOGIND, "Inhibit", "ssss", ("sleep", self.who, self.why, "delay"))
        try:
            (fd,) = self._call(msg)
        except (DBusErrorResponse, OSError, TimeoutError, ValueError) as exc:
            log.info("logind: no delay lock (%s); checks are paused when the sleep signal arrives", exc)
            return
        self._lock_fd = fd
        log.debug("logind: took a delay inhibitor lock")

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            fd.close()
            log.debug("logind: released the delay inhibitor lock")

    # -- plumbing ----------------------------------------------------------------------------------

    def _call(self, msg: Message) -> tuple[Any, ...]:
        """Send a method call and wait (bounded) for its reply; signals read meanwhile are kept."""
        conn = self._conn
        assert conn is not None
        serial = next(conn.outgoing_serial)
        conn.send(msg, serial=serial)
        deadline = time.monotonic() + self.call_timeout
        while True:
            reply = conn.receive(timeout=max(0.0, deadline - time.monotonic()))
            if reply.header.fields.get(HeaderFields.reply_serial) == serial:
                return tuple(unwrap_msg(reply))
            self._pending.append(reply)

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
