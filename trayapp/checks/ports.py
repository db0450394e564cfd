"""Who listens on a port: listening TCP sockets (IPv4 and IPv6) and the processes that own them.

What can be seen depends on the platform and on who asks:

* Linux: the kernel's table of listening sockets (sock_diag, else ``/proc/net/tcp*``), each
  socket's inode mapped to the processes that have it open. Without root, sockets of other
  users' processes are still listed but their owner cannot be mapped; they come back as
  ``Listener(pid=None, visible=False)``.
* Windows (and Linux without ``/proc``): one system-wide ``psutil.net_connections(kind="tcp")``
  call, with the same ``pid=None`` for what cannot be mapped.
* macOS (or wherever the system-wide call raises AccessDenied): every process we may inspect
  is asked for its own sockets. Processes that deny access are skipped, so a port held by
  another user's process is simply not seen (it looks free); nothing can be done about that
  short of running as root.

Every process that holds a listening socket is a holder: a pre-fork server's workers share
the parent's socket, and stay holders when the parent is gone and they are orphaned to pid 1.
On Linux each listening socket's inode is mapped to *every* process that has it open
(psutil's system-wide call keeps only the first of them): first the processes that held it
at the last full scan and their descendants, then, if they no longer account for it, every
process (see :func:`_proc_net`; ``fresh=True`` always reads every process). Elsewhere the
holder named by psutil and its relatives are asked for their own sockets (see
:func:`_add_sharers`).

Besides the usual details each owner carries what says whose it is: the ``TRAYAPP_SERVICE``
mark trayapp puts in the environment of every managed child (inherited by its descendants
even when they leave its process group), and the watcher or process manager above it that
would start it again (:func:`watcher_of`). A socket of another user's process is named when
it is Docker's port publisher (``docker-proxy``, whose command line says the port).

A process that exits between listing its socket and reading its details is kept as a
listener with its pid, ``visible=True`` and every other owner field ``None``:
:func:`describe_owner` then calls it "a process that has just exited (pid N)".
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import psutil

from trayapp.config.redact import redact_command
from trayapp.model import Listener, Watcher
from trayapp.text import humanize_age, shorten_home

log = logging.getLogger(__name__)

#: bound on the processes asked, per listening socket, whether they share it
MAX_SHARER_CHECKS = 64
#: the environment variable that marks a managed service's processes (``<config digest>:<name>``)
SERVICE_ENV = "TRAYAPP_SERVICE"
#: how many ancestors up a watcher is looked for (npm -> sh -> nodemon -> node is three)
WATCHER_DEPTH = 5
LINUX = sys.platform.startswith("linux")

__all__ = [
    "SERVICE_ENV",
    "ListeningSocket",
    "describe_owner",
    "is_docker_proxy",
    "listeners",
    "holds_socket",
    "listening_sockets",
    "listens_on",
    "refresh_status",
    "restarts_when",
    "watcher_of",
]


@dataclass(frozen=True)
class ListeningSocket:
    """One listening socket, owner not looked up (``pid`` None: another user's, unmappable).

    ``inode`` identifies the socket (Linux): every process sharing it has the same one, and a
    socket opened anew on the same port has another."""

    address: str
    port: int
    pid: int | None
    inode: int | None = None
    #: the uid the kernel records for the socket (Linux): who opened it, even when no holder is seen
    uid: int | None = None


# --------------------------------------------------------------------------- listing


def listeners(ports: Iterable[int] | None = None, *, fresh: bool = False) -> list[Listener]:
    """Listening TCP sockets on ``ports`` (``None``: all) with their owners.

    Sorted by port, then address; one entry per (pid, address, port). Never raises for
    platform or permission problems: what cannot be seen is left out or marked invisible.

    On Linux a socket seen before is looked for first in the processes that held it then
    (see :func:`_proc_net`): every process named holds the socket now, but one that came to
    hold it otherwise than by a fork of a holder may be missed for up to ``HOLDER_RESCAN_S``.
    ``fresh`` reads every process's open files instead, for an answer that must name every
    holder (what to stop to free a port).
    """
    wanted = None if ports is None else frozenset(int(p) for p in ports)
    if wanted is not None and not wanted:
        return []
    sockets, procs = _collect(wanted, fresh)
    owners: dict[int, Listener] = {}  # per pid, the owner's fields; address and port filled per socket
    result: list[Listener] = []
    proxies: dict[int, list[Listener]] | None = None
    for sock in sockets:
        if sock.pid is None:
            if proxies is None:
                proxies = _docker_proxies()
            hidden = Listener(
                address=sock.address, port=sock.port, pid=None, visible=False, socket=sock.inode, socket_uid=sock.uid
            )
            result.append(_as_proxy(hidden, proxies.get(sock.port, [])))
            continue
        owner = owners.get(sock.pid)
        if owner is None:
            owner = owners[sock.pid] = _read_owner(sock.pid, procs.get(sock.pid))
        result.append(replace(owner, address=sock.address, port=sock.port, socket=sock.inode))
    return result


def listening_sockets(ports: Iterable[int] | None = None, *, fresh: bool = False) -> list[ListeningSocket]:
    """The listening sockets on ``ports`` (``None``: all), without owner details: cheaper to poll."""
    wanted = None if ports is None else frozenset(int(p) for p in ports)
    return _collect(wanted, fresh)[0]


def _collect(
    wanted: frozenset[int] | None, fresh: bool = False
) -> tuple[list[ListeningSocket], dict[int, psutil.Process]]:
    """Deduplicated, sorted listening sockets, plus the ``psutil.Process`` objects met on the
    way, so their details need not be looked up twice."""
    procs: dict[int, psutil.Process] = {}
    raw: list[ListeningSocket] | None = None
    if LINUX:
        try:
            raw = _proc_net(wanted, fresh)
        except (OSError, ValueError) as exc:  # no /proc (a sandbox), an unexpected format: psutil's ways
            log.debug("reading /proc/net failed (%r); asking psutil", exc)
    if raw is None:
        raw = _psutil_sockets(wanted, procs)
    unique = {(s.pid, s.address, s.port): s for s in raw}
    ordered = sorted(unique.values(), key=lambda s: (s.port, s.address, -1 if s.pid is None else s.pid))
    return ordered, procs


def _psutil_sockets(wanted: frozenset[int] | None, procs: dict[int, psutil.Process]) -> list[ListeningSocket]:
    try:
        raw = _system_wide(wanted)
    except (psutil.Error, OSError, RuntimeError) as exc:  # RuntimeError: psutil's /proc/net parser
        # macOS without root raises AccessDenied here; anything else odd (a restricted
        # /proc, a sandbox) gets the same slower but permission-proof fallback.
        log.debug("system-wide net_connections failed (%r); asking each process", exc)
        try:
            return _per_process(wanted, procs)
        except Exception:  # never let a platform quirk crash a check
            log.exception("listing listening sockets failed")
            return []
    return _add_sharers(raw, procs)


# --------------------------------------------------------------------------- Linux: the socket table

_TCP_LISTEN = b"0A"
#: how long the holders a full scan found for a socket are trusted while each still has it
#: open: a process that came to hold it otherwise than as a forked descendant of a holder (the
#: socket passed over a Unix socket, a holder's grandchild orphaned by its parent) is named
#: after at most this long
HOLDER_RESCAN_S = 30.0
_counts = threading.local()


def full_scans() -> int:
    """How many full walks of every ``/proc/PID/fd`` lookups in the calling thread have made
    (for tests and bench/: other threads' lookups do not count)."""
    return getattr(_counts, "scans", 0)


@dataclass(frozen=True)
class _Held:
    """Who held a socket at a full scan: (pid, start time in clock ticks since boot) each;
    empty when no process we may look into did (another user's socket)."""

    holders: tuple[tuple[int, int], ...]
    scanned: float  # time.monotonic()


_held: dict[int, _Held] = {}  # socket inode -> its holders at the last full scan
_held_lock = threading.Lock()


def _proc_net(wanted: frozenset[int] | None, fresh: bool = False) -> list[ListeningSocket]:
    """Listening TCP sockets from the kernel's table, one entry per process holding each (every
    process with the socket's inode among its open files; none we may look into: then one
    entry with ``pid`` None).

    The processes are looked for where they were last time: the holders a full scan found for
    the same socket, if each still runs (same start time: no reused pid) and still has it open,
    together with any descendant of theirs that has it too (a worker forked since). Otherwise,
    and with ``fresh``, every process's open files are read (:func:`_holders_of`)."""
    sockets = _listening_table(wanted)
    if not sockets:
        return []
    holders = None if fresh else _still_held(sockets)
    if holders is None:
        holders = _scan(sockets)
        if any(not holders.get(inode) for inode in sockets):
            # A socket nobody was seen holding is another user's, or one whose process exited
            # while the files were read: that one has left the table by now (its descriptors
            # are closed before its process is gone), and is not passed off as another user's.
            still = _listening_table(wanted)
            sockets = {inode: where for inode, where in sockets.items() if holders.get(inode) or inode in still}
    found = []
    for inode, (address, port, uid) in sockets.items():
        pids = holders.get(inode)
        if not pids:
            found.append(ListeningSocket(address, port, None, inode, uid))
        else:
            found += [ListeningSocket(address, port, pid, inode, uid) for pid in sorted(pids)]
    return found


def _scan(sockets: dict[int, tuple[str, int, int]]) -> dict[int, set[int]]:
    """The holders of ``sockets`` from a walk of every ``/proc/PID/fd``, remembered for
    :func:`_still_held`. A socket with no holder we could see is remembered as such only when
    it is another user's and we are not root: one of ours whose holder was missed (it exited
    or passed the socket on during the walk) is looked for afresh next time."""
    _counts.scans = full_scans() + 1
    holders = _holders_of(set(sockets))
    now = time.monotonic()
    me = os.geteuid()
    remembered = {}
    for inode, (_address, _port, uid) in sockets.items():
        pids = holders.get(inode, set())
        if not pids and (me == 0 or uid == me):
            continue
        starts = [(pid, _start_time(pid)) for pid in sorted(pids)]
        if all(start is not None for _, start in starts):
            remembered[inode] = _Held(tuple((pid, start) for pid, start in starts if start is not None), now)
    with _held_lock:
        for inode in [i for i, held in _held.items() if now - held.scanned >= HOLDER_RESCAN_S]:
            del _held[inode]
        _held.update(remembered)
    return holders


def _still_held(sockets: dict[int, tuple[str, int, int]]) -> dict[int, set[int]] | None:
    """inode -> pids holding it, from the holders remembered for each socket and their
    descendants; None when a full scan is needed: a socket not seen before (a new one, even
    on the same port), or scanned more than ``HOLDER_RESCAN_S`` ago, a holder gone or its pid
    reused (another start time), a holder that no longer has the socket open, a descendant
    that has it but was not known, or more descendants than ``MAX_SHARER_CHECKS``.

    Costs one read of ``/proc/PID/stat``, ``/proc/PID/fd`` and the ``children`` of each
    thread per holder, whatever the number of processes on the machine."""
    now = time.monotonic()
    with _held_lock:
        known = {inode: _held.get(inode) for inode in sockets}
    open_sockets: dict[int, frozenset[int]] = {}  # pid -> the socket inodes it has open
    result = {}
    for inode, held in known.items():
        if held is None or now - held.scanned >= HOLDER_RESCAN_S:
            return None
        pids = set()
        for pid, start in held.holders:
            if _start_time(pid) != start or inode not in _sockets_of(pid, open_sockets):
                return None
            pids.add(pid)
        if pids and not _no_new_sharer(pids, inode, open_sockets):
            return None
        result[inode] = pids
    return result


def _no_new_sharer(pids: set[int], inode: int, open_sockets: dict[int, frozenset[int]]) -> bool:
    """Whether no descendant of ``pids`` but themselves has socket ``inode`` open (a child forked
    after the socket was opened inherits it: a pre-fork server's new worker). False too when
    the process tree cannot be read or is larger than ``MAX_SHARER_CHECKS``."""
    seen = set(pids)
    queue = list(pids)
    budget = MAX_SHARER_CHECKS
    while queue:
        kids = _children(queue.pop())
        if kids is None:
            return False
        for kid in kids:
            if kid in seen:
                continue
            budget -= 1
            if budget < 0 or inode in _sockets_of(kid, open_sockets):
                return False
            seen.add(kid)
            queue.append(kid)
    return True


def _children(pid: int) -> list[int] | None:
    """The pids of ``pid``'s children, from ``/proc/PID/task/TID/children`` of each of its threads
    (Linux 4.2+, ``CONFIG_PROC_CHILDREN``); None when they cannot be read (or ``pid`` is gone)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    kids: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                kids += [int(kid) for kid in fh.read().split()]
        except FileNotFoundError:
            if os.path.isdir(f"/proc/{pid}/task/{tid}"):
                return None  # a kernel without the children files
            # else the thread has just exited (its children, if any, went to another thread)
        except OSError:
            return None
    return kids


def _sockets_of(pid: int, memo: dict[int, frozenset[int]]) -> frozenset[int]:
    """The inodes of the sockets ``pid`` has open (none if its files cannot be read), read once per lookup."""
    if pid not in memo:
        memo[pid] = _socket_inodes(pid) or frozenset()
    return memo[pid]


def _socket_inodes(pid: int | str) -> frozenset[int] | None:
    """The inodes of the sockets ``pid`` has open, from its ``/proc/PID/fd`` links
    (``socket:[INODE]``, proc(5)); None when its files cannot be read (another user's, or gone)."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None
    inodes = set()
    for fd in fds:
        try:
            link = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return frozenset(inodes)


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of ``pid`` from ``/proc/PID/stat``; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()  # the name, in parentheses, may hold anything
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _start_time(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def holds_socket(pid: int, inode: int) -> bool | None:
    """Whether process ``pid`` still has the socket ``inode`` open (Linux: one look at its
    ``/proc/PID/fd``, a fraction of a millisecond, where listing every socket of the machine
    costs milliseconds); None where that cannot be known so cheaply."""
    if not LINUX:
        return None
    target = f"socket:[{inode}]"
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def _listening_table(wanted: frozenset[int] | None) -> dict[int, tuple[str, int, int]]:
    """inode -> (address, port, owner's uid) of every listening TCP socket on ``wanted`` ports
    (None: all), IPv4 and IPv6: from the kernel's sock_diag netlink interface (what ``ss`` asks),
    else from ``/proc/net/tcp`` and ``tcp6``.

    Both list the same sockets, but reading ``/proc/net/tcp*`` walks the kernel's whole table
    of established connections even when it is empty (4 ms a file on a machine with 262,144
    hash buckets), where a sock_diag request for listeners walks only the listening ones."""
    try:
        return _diag_table(wanted)
    except OSError as exc:  # no netlink here (a sandbox, a seccomp filter): the files
        log.debug("sock_diag failed (%r); reading /proc/net", exc)
        return _proc_net_table(wanted)


# sock_diag, from linux/netlink.h, linux/sock_diag.h and linux/inet_diag.h
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCPF_LISTEN = 1 << 10
_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
#: inet_diag_req_v2: family, protocol, extensions, pad, states, then an empty inet_diag_sockid
_DIAG_REQUEST = struct.Struct("=BBBBI48x")
_DIAG_MSG_SIZE = 72  # inet_diag_msg
_DIAG_TIMEOUT_S = 2.0


def _diag_table(wanted: frozenset[int] | None) -> dict[int, tuple[str, int, int]]:
    """The listening TCP sockets by sock_diag: one dump request per address family, answered
    at once by the kernel (bounded by ``_DIAG_TIMEOUT_S`` all the same). Raises OSError when
    netlink is refused or answers with an error."""
    table: dict[int, tuple[str, int, int]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(_DIAG_TIMEOUT_S)
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            body = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, _TCPF_LISTEN)
            nl.send(_NLMSG.pack(_NLMSG.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, seq, 0) + body)
            _diag_answers(nl, seq, family, wanted, table)
    return table


def _diag_answers(
    nl: socket.socket, seq: int, family: int, wanted: frozenset[int] | None, table: dict[int, tuple[str, int, int]]
) -> bool:
    """Read one dump's answers into ``table``; False when the family is not supported (no IPv6)."""
    size = 4 if family == socket.AF_INET else 16
    while True:
        data = nl.recv(1 << 16)
        if not data:
            raise OSError("sock_diag: empty answer")
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length, kind, _flags, answer_seq, _port_id = _NLMSG.unpack_from(data, offset)
            if length < _NLMSG.size:
                raise OSError("sock_diag: malformed answer")
            body = offset + _NLMSG.size
            offset += (length + 3) & ~3
            if answer_seq != seq:
                continue
            if kind == _NLMSG_DONE:
                return True
            if kind == _NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", data, body)
                if family == socket.AF_INET6 and -error == errno.ENOENT:
                    return False
                raise OSError(-error, f"sock_diag: {os.strerror(-error)}")
            if kind != _SOCK_DIAG_BY_FAMILY or length < _NLMSG.size + _DIAG_MSG_SIZE:
                continue
            if data[body + 1] != 10:  # TCP_LISTEN
                continue
            (port,) = struct.unpack_from(">H", data, body + 4)
            if wanted is not None and port not in wanted:
                continue
            uid, inode = struct.unpack_from("=II", data, body + 64)
            if inode:
                address = socket.inet_ntop(family, data[body + 8 : body + 8 + size])
                table[inode] = (address, port, uid)


def _proc_net_table(wanted: frozenset[int] | None) -> dict[int, tuple[str, int, int]]:
    """Like :func:`_diag_table`, from ``/proc/net/tcp`` and ``tcp6``."""
    table: dict[int, tuple[str, int, int]] = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open(f"/proc/net/{name}", "rb") as fh:  # bytes: no codec to look up (after a setuid, say)
                next(fh, None)  # the header
                for line in fh:
                    fields = line.split()
                    if len(fields) < 10 or fields[3] != _TCP_LISTEN:
                        continue
                    hex_address, _, hex_port = fields[1].partition(b":")
                    port = int(hex_port, 16)
                    if wanted is not None and port not in wanted:
                        continue
                    inode = int(fields[9])
                    if inode:
                        table[inode] = (_address(hex_address, family), port, int(fields[7]))
        except FileNotFoundError:
            if name == "tcp6":
                continue  # IPv6 disabled
            raise
    return table


def _address(hex_address: bytes, family: int) -> str:
    """An address as the kernel prints it in /proc/net/tcp*: 32-bit words in host byte order."""
    words = [int(hex_address[i : i + 8], 16) for i in range(0, len(hex_address), 8)]
    return socket.inet_ntop(family, struct.pack(f"={len(words)}I", *words))


def _holders_of(inodes: set[int]) -> dict[int, set[int]]:
    """inode -> pids of the processes that have that socket open (those whose files we may read)."""
    holders: dict[int, set[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        for inode in (_socket_inodes(entry.name) or frozenset()) & inodes:
            holders.setdefault(inode, set()).add(int(entry.name))
    return holders


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
    fields["tag"] = service_tag(proc)
    fields["watcher"] = _remembered_watcher(proc)
    return replace(bare, **fields)


def service_tag(proc: psutil.Process) -> str | None:
    """The ``TRAYAPP_SERVICE`` mark in ``proc``'s environment: "" when it has none, None when
    the environment cannot be read (another user's process, or gone)."""
    try:
        return proc.environ().get(SERVICE_ENV, "")
    except (psutil.Error, OSError):
        return None


def refresh_status(found: Sequence[Listener]) -> list[Listener] | None:
    """``found`` with each owner's status read again (cheap: no socket scan); None when one of
    them has exited or its pid now names another process, so the caller must list afresh."""
    fresh = []
    statuses: dict[int, str] = {}
    for listener in found:
        if listener.pid is None or not listener.visible:
            fresh.append(listener)
            continue
        if listener.pid not in statuses:
            try:
                proc = psutil.Process(listener.pid)
                if listener.started is not None and abs(proc.create_time() - listener.started) > 1.0:
                    return None
                statuses[listener.pid] = proc.status()
            except psutil.Error:
                return None
            if statuses[listener.pid] == psutil.STATUS_ZOMBIE:
                return None
        fresh.append(replace(listener, status=statuses[listener.pid]))
    return fresh


# --------------------------------------------------------------------------- what is behind a process


#: (what people call it, test on a process's name and command line)
def _is_nodemon(name: str, args: list[str]) -> bool:
    return name == "nodemon" or any(_base(a) in ("nodemon", "nodemon.js") or a.endswith("/nodemon/bin/nodemon.js")
                                    for a in args[:3])  # fmt: skip


def _is_node_watch(name: str, args: list[str]) -> bool:
    return _base(args[0]).startswith("node") and any(a == "--watch" or a.startswith("--watch") for a in args[1:])


def _is_tsx_watch(name: str, args: list[str]) -> bool:
    tsx = [i for i, a in enumerate(args[:3]) if _base(a) == "tsx" or "/tsx/dist/cli" in a]
    return bool(tsx) and "watch" in args[tsx[0] + 1 : tsx[0] + 3]


def _is_ts_node_dev(name: str, args: list[str]) -> bool:
    return name in ("ts-node-dev", "tsnd") or any(_base(a) in ("ts-node-dev", "tsnd") or "/ts-node-dev/" in a
                                                   for a in args[:3])  # fmt: skip


def _is_pm2(name: str, args: list[str]) -> bool:
    title = " ".join(args[:4]) or name
    return title.startswith("PM2 v") and "God Daemon" in title


def _is_concurrently(name: str, args: list[str]) -> bool:
    return name == "concurrently" or any(_base(a) == "concurrently" or "/concurrently/" in a for a in args[:3])


_WATCHERS = (
    ("nodemon", _is_nodemon),
    ("node --watch", _is_node_watch),
    ("tsx watch", _is_tsx_watch),
    ("ts-node-dev", _is_ts_node_dev),
    ("PM2", _is_pm2),
    ("concurrently", _is_concurrently),
)


def _base(arg: str) -> str:
    return os.path.basename(arg.replace("\\", "/"))


def watcher_kind(name: str | None, cmdline: Sequence[str] | None) -> str | None:
    """Which known watcher or process manager a process is ("nodemon", "PM2", …), or None."""
    args = list(cmdline or ())
    if not args and not name:
        return None
    args = args or [name or ""]
    for kind, test in _WATCHERS:
        if test(name or "", args):
            return kind
    return None


def restarts_when(kind: str | None) -> str:
    """When a watcher of this kind starts its process again: ``on the next file save``, ``at once``."""
    if kind == "PM2":
        return "at once"
    if kind == "concurrently":
        return "if it was told to restart it"
    return "on the next file save"


def watcher_of(proc: psutil.Process) -> Watcher | None:
    """The nearest ancestor of ``proc`` (up to :data:`WATCHER_DEPTH` up) that is a known file
    watcher or process manager, which starts the process again when it exits: nodemon,
    ``node --watch``, tsx watch, ts-node-dev, PM2's God daemon, concurrently. None if there is none
    (or ``proc`` is itself the watcher: a ``node --watch`` holds no socket itself, its child does)."""
    return _watcher_walk(proc)[0]


def _watcher_walk(proc: psutil.Process) -> tuple[Watcher | None, tuple[int, ...]]:
    """:func:`watcher_of`, and the pids it looked at from ``proc`` up, each the parent of the one
    before (empty when the walk failed: nothing to remember)."""
    chain = [proc.pid]
    try:
        current = proc.parent()
        for _ in range(WATCHER_DEPTH):
            if current is None:
                return None, ()
            chain.append(current.pid)
            if current.pid in (0, 1):
                return None, tuple(chain)
            with current.oneshot():
                try:
                    name, cmdline = current.name(), current.cmdline()
                except psutil.AccessDenied:
                    return None, tuple(chain)
                kind = watcher_kind(name, cmdline)
                if kind is not None:
                    return Watcher(current.pid, kind, current.create_time()), tuple(chain)
            current = current.parent()
    except (psutil.Error, OSError):
        return None, ()
    return None, tuple(chain)


#: pid -> (its start time in clock ticks, the pids walked up from it, the watcher found)
_watchers: dict[int, tuple[int, tuple[int, ...], Watcher | None]] = {}
_WATCHERS_KEPT = 256


def _remembered_watcher(proc: psutil.Process) -> Watcher | None:
    """:func:`watcher_of`, remembered per process (Linux) while the ancestry it walked stands.

    Each pid walked is checked to still be the parent of the one below it (one read of
    ``/proc/PID/stat`` each, where the walk asks psutil for names and command lines): a
    process whose parent exits is adopted by another at once, before that pid can be reused, so
    unchanged links mean the same ancestors. (An ancestor that replaces its own program with
    ``exec`` keeps its pid and is not noticed.)"""
    if not LINUX:
        return watcher_of(proc)
    start = _start_time(proc.pid)
    known = _watchers.get(proc.pid)
    if known is not None and start is not None and known[0] == start:
        if all((stat := _stat(child)) is not None and stat[0] == parent for child, parent in pairwise(known[1])):
            return known[2]
    watcher, chain = _watcher_walk(proc)
    if chain and start is not None and _start_time(proc.pid) == start:
        with _held_lock:
            if len(_watchers) >= _WATCHERS_KEPT:
                _watchers.clear()
            _watchers[proc.pid] = (start, chain, watcher)
    return watcher


# --------------------------------------------------------------------------- Docker's port publisher


def is_docker_proxy(listener: Listener) -> bool:
    """Whether the listener is Docker's port publisher (``docker-proxy``)."""
    name = listener.name or (os.path.basename(listener.cmdline[0]) if listener.cmdline else "")
    return name == "docker-proxy"


def docker_target(listener: Listener) -> str | None:
    """``172.17.0.2:80``, the container address a docker-proxy forwards to (from its command line)."""
    args = list(listener.cmdline or ())
    ip = _arg_after(args, "-container-ip")
    port = _arg_after(args, "-container-port")
    if ip and port:
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return None


def _arg_after(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args[:-1]):
        if arg in (flag, "-" + flag):
            return args[index + 1]
    return None


def _docker_proxies() -> dict[int, list[Listener]]:
    """Docker's port publishers by host port, read from the process list (a root process's
    name and command line are readable by every user, its sockets are not)."""
    found: dict[int, list[Listener]] = {}
    try:
        procs = list(psutil.process_iter(["name", "cmdline", "create_time", "username", "ppid"]))
    except (psutil.Error, OSError):
        return found
    for proc in procs:
        info = proc.info
        if info.get("name") != "docker-proxy":
            continue
        args = list(info.get("cmdline") or ())
        port_text = _arg_after(args, "-host-port")
        if port_text is None or not port_text.isdigit():
            continue
        found.setdefault(int(port_text), []).append(
            Listener(
                address="",
                port=int(port_text),
                pid=proc.pid,
                name="docker-proxy",
                cmdline=redact_command(args),
                user=info.get("username"),
                started=info.get("create_time"),
                ppid=info.get("ppid"),
                visible=False,
            )  # fmt: skip
        )
    return found


def _as_proxy(hidden: Listener, proxies: list[Listener]) -> Listener:
    """A socket we cannot map to a process, named after the docker-proxy publishing its port
    when there is exactly one (its address is the socket's; it stays not ours to stop)."""
    exact = [p for p in proxies if _arg_after(list(p.cmdline or ()), "-host-ip") == hidden.address]
    chosen = exact if exact else proxies
    if len(chosen) != 1:
        return hidden
    return replace(chosen[0], address=hidden.address, port=hidden.port, socket=hidden.socket)


# --------------------------------------------------------------------------- describing


def unseen_owner(listener: Listener) -> str:
    """Who holds a socket whose process is not seen. The kernel records the uid that opened it:
    when it is ours (or we are root, who may read every process of this PID namespace), the
    holder is not another user's but outside the processes we can see: another container or
    sandbox sharing this network namespace (``ss -ltnp`` shows no process either)."""
    uid = listener.socket_uid
    if outside_view(listener):
        return "a process outside trayapp's view (another container or sandbox)"
    if uid is not None:
        return f"a process of another user ({_user_name(uid)})"
    return "a process of another user"


def outside_view(listener: Listener) -> bool:
    """A socket held by no process we can see though we could read its holder's files: the
    socket's uid is ours, or we are root. Its holder lives in another PID namespace."""
    uid = listener.socket_uid
    return listener.pid is None and uid is not None and (uid == os.geteuid() or os.geteuid() == 0)


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def describe_owner(listener: Listener, now: float | None = None) -> str:
    """A short phrase naming the owner, e.g. ``node (pid 4242, started 3 h ago in ~/old-checkout)``."""
    name = _display_name(listener.name, listener.cmdline)
    pid = listener.pid
    if not listener.visible:
        if pid is None:
            return unseen_owner(listener)
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
