"""Who listens on a port: listening TCP sockets (IPv4 and IPv6) and the processes that own them.

What can be seen depends on the platform and on who asks:

* Linux and Windows: one system-wide ``psutil.net_connections(kind="tcp")`` call. On Linux,
  without root, sockets of other users' processes are still listed (from ``/proc/net/tcp*``)
  but their owner cannot be mapped, so psutil gives ``pid=None``; they come back as
  ``Listener(pid=None, visible=False)``.
* macOS (or wherever the system-wide call raises AccessDenied): every process we may inspect
  is asked for its own sockets. Processes that deny access are skipped, so a port held by
  another user's process is simply not seen (it looks free); nothing can be done about that
  short of running as root.

The system-wide call names one pid per socket, even when a forked worker shares it with
its parent; the holder's relatives are therefore asked for their own sockets too (see
:func:`_add_sharers`), so every pid that would keep the port open is listed.

A process that exits between listing its socket and reading its details is kept as a
listener with its pid, ``visible=True`` and every other owner field ``None``:
:func:`describe_owner` then calls it "a process that has just exited (pid N)".
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import psutil

from trayapp.config.redact import redact_command
from trayapp.model import Listener
from trayapp.text import humanize_age, shorten_home

log = logging.getLogger(__name__)

#: bound on the processes asked, per listening socket, whether they share it
MAX_SHARER_CHECKS = 64

__all__ = [
    "ListeningSocket",
    "describe_owner",
    "listeners",
    "listening_sockets",
    "listens_on",
]


@dataclass(frozen=True)
class ListeningSocket:
    """One listening socket, owner not looked up (``pid`` None: another user's, unmappable)."""

    address: str
    port: int
    pid: int | None


# --------------------------------------------------------------------------- listing


def listeners(ports: Iterable[int] | None = None) -> list[Listener]:
    """Listening TCP sockets on ``ports`` (``None``: all) with their owners.

    Sorted by port, then address; one entry per (pid, address, port). Never raises for
    platform or permission problems: what cannot be seen is left out or marked invisible.
    """
    wanted = None if ports is None else frozenset(int(p) for p in ports)
    if wanted is not None and not wanted:
        return []
    sockets, procs = _collect(wanted)
    owners: dict[int, Listener] = {}  # per pid, the owner's fields; address and port filled per socket
    result: list[Listener] = []
    for sock in sockets:
        if sock.pid is None:
            result.append(Listener(address=sock.address, port=sock.port, pid=None, visible=False))
            continue
        owner = owners.get(sock.pid)
        if owner is None:
            owner = owners[sock.pid] = _read_owner(sock.pid, procs.get(sock.pid))
        result.append(replace(owner, address=sock.address, port=sock.port))
    return result


def listening_sockets(ports: Iterable[int] | None = None) -> list[ListeningSocket]:
    """The listening sockets on ``ports`` (``None``: all), without owner details: cheaper to poll."""
    wanted = None if ports is None else frozenset(int(p) for p in ports)
    return _collect(wanted)[0]


def _collect(wanted: frozenset[int] | None) -> tuple[list[ListeningSocket], dict[int, psutil.Process]]:
    """Deduplicated, sorted listening sockets, plus the ``psutil.Process`` objects met on the
    way, so their details need not be looked up twice."""
    procs: dict[int, psutil.Process] = {}
    try:
        raw = _system_wide(wanted)
    except (psutil.Error, OSError, RuntimeError) as exc:  # RuntimeError: psutil's /proc/net parser
        # macOS without root raises AccessDenied here; anything else odd (a restricted
        # /proc, a sandbox) gets the same slower but permission-proof fallback.
        log.debug("system-wide net_connections failed (%r); asking each process", exc)
        try:
            raw = _per_process(wanted, procs)
        except Exception:  # never let a platform quirk crash a check
            log.exception("listing listening sockets failed")
            raw = []
    else:
        raw = _add_sharers(raw, procs)
    unique = {(s.pid, s.address, s.port): s for s in raw}
    ordered = sorted(unique.values(), key=lambda s: (s.port, s.address, -1 if s.pid is None else s.pid))
    return ordered, procs


def _system_wide(wanted: frozenset[int] | None) -> list[ListeningSocket]:
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        sock = _listening(conn, wanted, conn.pid)
        if sock is not None:
            found.append(sock)
    return found


def _add_sharers(found: list[ListeningSocket], procs: dict[int, psutil.Process]) -> list[ListeningSocket]:
    """Add the other processes that hold the same listening socket.

    The system-wide call names one pid per socket even when several processes share it
    (psutil's Linux code takes the first of the pids that hold the inode; a pre-fork server
    or a ``fork()`` after ``listen()`` shares it between parent and workers). Killing only
    that one would leave the port held, so the holder's ancestors are asked (while they
    hold it too) and then the topmost holder's descendants, each for its own sockets. At
    most ``MAX_SHARER_CHECKS`` processes are asked per socket, to stay cheap under a
    process with a huge tree (pid 1 holding a socket-activated port, say).
    """
    listening: dict[int, frozenset[tuple[str, int]]] = {}

    def holds(proc: psutil.Process, key: tuple[str, int]) -> bool:
        if proc.pid not in listening:
            try:
                conns = proc.net_connections(kind="tcp")
            except (psutil.Error, OSError):
                conns = []
            listening[proc.pid] = frozenset(
                (str(c.laddr[0]), int(c.laddr[1])) for c in conns if c.status == psutil.CONN_LISTEN and c.laddr
            )
        return key in listening[proc.pid]

    result = list(found)
    seen = {(s.pid, s.address, s.port) for s in found}
    for sock in found:
        if sock.pid is None:
            continue
        key = (sock.address, sock.port)
        try:
            top = procs.get(sock.pid) or psutil.Process(sock.pid)
            procs.setdefault(top.pid, top)
            holders = [top]
            budget = MAX_SHARER_CHECKS
            while budget > 0:
                parent = top.parent()
                if parent is None or parent.pid == top.pid:
                    break
                budget -= 1
                if not holds(parent, key):
                    break
                holders.append(parent)
                top = parent
            for proc in top.children(recursive=True)[:budget]:
                if proc.pid != sock.pid and holds(proc, key):
                    holders.append(proc)
        except (psutil.Error, OSError) as exc:
            log.debug("looking for processes sharing %s:%s with pid %s failed: %r", *key, sock.pid, exc)
            continue
        for proc in holders:
            if (proc.pid, sock.address, sock.port) not in seen:
                seen.add((proc.pid, sock.address, sock.port))
                procs.setdefault(proc.pid, proc)
                result.append(ListeningSocket(address=sock.address, port=sock.port, pid=proc.pid))
    return result


def _per_process(wanted: frozenset[int] | None, procs: dict[int, psutil.Process]) -> list[ListeningSocket]:
    found = []
    for proc in psutil.process_iter():
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue  # another user's process, or gone: its sockets stay unseen
        except OSError as exc:
            log.debug("net_connections of pid %s failed: %r", proc.pid, exc)
            continue
        for conn in conns:
            sock = _listening(conn, wanted, proc.pid)
            if sock is not None:
                found.append(sock)
                procs[proc.pid] = proc
    return found


def _listening(conn: object, wanted: frozenset[int] | None, pid: int | None) -> ListeningSocket | None:
    if getattr(conn, "status", None) != psutil.CONN_LISTEN:
        return None
    laddr = getattr(conn, "laddr", None)
    if not laddr:
        return None
    address, port = laddr[0], int(laddr[1])
    if wanted is not None and port not in wanted:
        return None
    return ListeningSocket(address=str(address), port=port, pid=pid)


def _read_owner(pid: int, proc: psutil.Process | None) -> Listener:
    """Everything we may read about ``pid``, as a Listener without its socket (address and
    port left empty); fields we may not read stay None."""
    bare = Listener(address="", port=0, pid=pid)
    try:
        if proc is None:
            proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return bare  # exited between listing and lookup
    except psutil.AccessDenied:
        return replace(bare, visible=False)
    fields: dict[str, Any] = {}
    with proc.oneshot():
        readers = (
            ("started", proc.create_time),
            ("name", proc.name),
            ("cmdline", lambda: redact_command(proc.cmdline())),  # another process's: never shown with its secrets
            ("ppid", proc.ppid),
            ("user", proc.username),
            ("cwd", proc.cwd),
            ("status", proc.status),
        )
        for field_name, read in readers:
            try:
                value = read()
            except psutil.AccessDenied:
                fields["visible"] = False
                continue
            except psutil.NoSuchProcess:  # includes ZombieProcess
                # Gone between listing and lookup. What was read so far may come from
                # psutil's caches, so keep none of it: pid only, as documented above.
                return bare
            except OSError as exc:
                log.debug("reading %s of pid %s failed: %r", field_name, pid, exc)
                continue
            if value not in ("", ()):
                fields[field_name] = value
    return replace(bare, **fields)


# --------------------------------------------------------------------------- describing


def describe_owner(listener: Listener, now: float | None = None) -> str:
    """A short phrase naming the owner, e.g. ``node (pid 4242, started 3 h ago in ~/old-checkout)``."""
    name = _display_name(listener.name, listener.cmdline)
    pid = listener.pid
    if not listener.visible:
        if pid is None:
            return "a process of another user"
        if name is None:
            return f"a process of another user (pid {pid})"
        whose = f"user {listener.user}" if listener.user else "a process of another user"
        return f"{name} (pid {pid}, {whose})"
    if pid is None:
        return name or "an unknown process"
    if name is None and listener.started is None and listener.cwd is None:
        return f"a process that has just exited (pid {pid})"
    details = [f"pid {pid}"]
    tail = []
    if listener.started is not None:
        now = time.time() if now is None else now
        tail.append(f"started {humanize_age(now - listener.started)} ago")
    if listener.cwd:
        tail.append(f"in {shorten_home(listener.cwd)}")
    if tail:
        details.append(" ".join(tail))
    return f"{name or 'a process'} ({', '.join(details)})"


def _display_name(name: str | None, cmdline: tuple[str, ...] | None) -> str | None:
    if name:
        return name
    if cmdline and cmdline[0]:
        return os.path.basename(cmdline[0].replace("\\", "/")) or cmdline[0]
    return None


# --------------------------------------------------------------------------- addresses


def listens_on(listener_address: str, target_address: str) -> bool:
    """Whether a socket bound to ``listener_address`` accepts connections to ``target_address``.

    ``0.0.0.0`` takes any IPv4 address; ``::`` takes any IPv6 address and also IPv4 (the
    Linux dual-stack default; a socket with IPV6_V6ONLY, the Windows default, does not, and
    that flag cannot be seen from outside). IPv4-mapped addresses (``::ffff:127.0.0.1``)
    count as their IPv4 address. Otherwise the addresses must be equal.
    """
    listen = _parse(listener_address)
    target = _parse(target_address)
    if listen is None or target is None:
        return _strip(listener_address).lower() == _strip(target_address).lower()
    if listen.is_unspecified:
        if listen.version == 6:
            return True
        return target.version == 4
    return listen == target


def _strip(address: str) -> str:
    address = address.strip()
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    return address


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(_strip(address))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
