"""A private D-Bus and a fake systemd-logind on it, for the sleep/wake tests.

The bus is a real ``dbus-daemon`` with a minimal allow-everything config, listening on a socket
in a fresh temporary directory; nothing here touches the environment, so the code under test
gets the address passed explicitly (or through a child process's environment).

The fake logind runs as a child process (this file is its program), written with jeepney. It
owns ``org.freedesktop.login1``, implements ``Manager.Inhibit`` like logind does (the caller
gets the write end of a pipe; the fake keeps the read end and reports ``RELEASED`` on EOF, when
the caller has closed its lock) and emits ``PrepareForSleep(true|false)`` when told on stdin.
It reports on stdout, one line per fact: ``READY``, ``INHIBIT <id> <what> <mode> <who>``,
``RELEASED <id>``, ``SIGNAL true|false``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LOGIND_SCRIPT = Path(__file__)
BUS_NAME = "org.freedesktop.login1"
PATH = "/org/freedesktop/login1"
INTERFACE = "org.freedesktop.login1.Manager"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="method_return"/>
    <allow send_type="signal"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="signal"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


class KitError(RuntimeError):
    """The bus or the fake did not come up, or did not answer in time."""


# -- the bus -------------------------------------------------------------------------


@dataclass
class PrivateBus:
    """A running ``dbus-daemon`` of our own."""

    address: str
    proc: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_private_bus(timeout: float = 10.0) -> PrivateBus:
    """Start ``dbus-daemon --nofork --print-address`` on a fresh socket directory and read its address."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise KitError("dbus-daemon is not installed (Debian package dbus-daemon; scripts/test installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="trayapp-bus-"))  # short: unix socket paths are limited to ~108 bytes
    config = workdir / "bus.conf"
    config.write_text(_BUS_CONFIG.format(dir=workdir), encoding="utf-8")
    proc = subprocess.Popen(
        [daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bus = PrivateBus("", proc, workdir)
    try:
        bus.address = _read_line(proc, timeout, "dbus-daemon's address")
    except KitError:
        bus.stop()
        raise
    return bus


def _read_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KitError(f"no {what} within {timeout} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise KitError(f"exited with {proc.wait()} before printing {what}")
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode().strip()


# -- the fake logind, parent side ------------------------------------------------------------


@dataclass
class ChildLines:
    """Handle on a kit child that reports on stdout, one line per event; ``LABEL`` names it in errors."""

    LABEL = "kit child"

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append(raw.strip())
                self._cond.notify_all()
        with self._cond:
            self.lines.append("EXIT")
            self._cond.notify_all()

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Wait until ``count`` lines start with ``prefix``; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [line for line in self.lines if line.startswith(prefix)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or "EXIT" in self.lines:
                    raise KitError(f"{self.LABEL}: wanted {count} x {prefix!r}, got {self.lines!r}")
                self._cond.wait(remaining)

    def _lines(self, prefix: str) -> list[str]:
        with self._cond:
            return [line for line in self.lines if line.startswith(prefix)]

    def _command(self, line: str) -> None:
        """One line to the child's stdin (its command language)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self._command("quit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


@dataclass
class FakeLogind(ChildLines):
    """Handle on the fake logind child: tell it to sleep/wake; see the locks it handed out."""

    LABEL = "fake logind"

    def sleep(self) -> None:
        """Emit ``PrepareForSleep(true)`` (returns once it is on the bus)."""
        count = len(self._lines("SIGNAL true")) + 1
        self._command("sleep")
        self.wait_for("SIGNAL true", count)

    def wake(self) -> None:
        """Emit ``PrepareForSleep(false)`` (returns once it is on the bus)."""
        count = len(self._lines("SIGNAL false")) + 1
        self._command("wake")
        self.wait_for("SIGNAL false", count)

    def taken(self) -> list[int]:
        """Ids of the delay locks handed out, in order."""
        return [int(line.split()[1]) for line in self._lines("INHIBIT ")]

    def released(self) -> list[int]:
        """Ids of the locks whose holder closed them."""
        return [int(line.split()[1]) for line in self._lines("RELEASED ")]

    def held(self) -> list[int]:
        released = set(self.released())
        return [i for i in self.taken() if i not in released]


def start_fake_logind(address: str, timeout: float = 10.0) -> FakeLogind:
    """Start the fake on the bus at ``address`` and wait until it owns ``org.freedesktop.login1``."""
    proc = subprocess.Popen(
        [sys.executable, str(LOGIND_SCRIPT), address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    fake = FakeLogind(proc)
    threading.Thread(target=fake._read, name="fake-logind-reader", daemon=True).start()
    try:
        fake.wait_for("READY", timeout=timeout)
    except KitError:
        fake.stop()
        raise
    return fake


# -- the fake logind, child side ---------------------------------------------------------------


def _serve(address: str) -> None:  # pragma: no cover - runs in the child process
    from jeepney import DBusAddress, MessageType, new_error, new_method_return, new_signal
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import Proxy, open_dbus_connection

    def say(line: str) -> None:
        print(line, flush=True)

    conn = open_dbus_connection(bus=address, enable_fds=True)
    reply = Proxy(message_bus, conn, timeout=5).RequestName(BUS_NAME, 4)  # DO_NOT_QUEUE
    if reply != (1,):  # PRIMARY_OWNER
        say(f"NAME {reply!r}")
        return
    emitter = DBusAddress(PATH, interface=INTERFACE)
    held: dict[int, int] = {}  # read end fd -> lock id
    next_id = 1
    commands = b""
    say("READY")
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([conn.sock, stdin, *held], [], [])
        if conn.sock in ready:
            while True:
                try:
                    msg = conn.receive(timeout=0)
                except TimeoutError:
                    break
                h = msg.header
                if h.message_type is not MessageType.method_call:
                    continue
                member = h.fields.get(3)  # HeaderFields.member
                if member == "Inhibit":
                    what, who, _why, mode = msg.body
                    read_end, write_end = os.pipe()
                    conn.send(new_method_return(msg, "h", (write_end,)))
                    os.close(write_end)  # the caller now holds the only write end
                    held[read_end] = next_id
                    say(f"INHIBIT {next_id} {what} {mode} {who}")
                    next_id += 1
                else:
                    conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (str(member),)))
        for fd in [fd for fd in ready if fd in held]:
            if os.read(fd, 64) == b"":
                say(f"RELEASED {held.pop(fd)}")
                os.close(fd)
        if stdin in ready:
            chunk = os.read(stdin, 4096)  # not sys.stdin: its buffer would hide lines from select()
            if not chunk:
                return
            commands += chunk
            while b"\n" in commands:
                raw, commands = commands.split(b"\n", 1)
                line = raw.decode().strip()
                if line == "quit":
                    return
                if line in ("sleep", "wake"):
                    going = line == "sleep"
                    conn.send(new_signal(emitter, "PrepareForSleep", "b", (going,)))
                    say(f"SIGNAL {'true' if going else 'false'}")


if __name__ == "__main__":  # pragma: no cover
    _serve(sys.argv[1])
