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

Every process that holds a listening socket is a holder: a pre-fork server's workers share
the parent's socket, and stay holders when the parent is gone and they are orphaned to pid 1.
On Linux the listing reads ``/proc/net/tcp*`` and maps each listening socket's inode to
*every* process that has it open (psutil's system-wide call keeps only the first of them);
elsewhere the holder named by psutil and its relatives are asked for their own sockets (see
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

import ipaddress
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    proxies: dict[int, list[Listener]] | None = None
    for sock in sockets:
        if sock.pid is None:
            if proxies is None:
                proxies = _docker_proxies()
            hidden = Listener(address=sock.address, port=sock.port, pid=None, visible=False, socket=sock.inode)
            result.append(_as_proxy(hidden, proxies.get(sock.port, [])))
            continue
        owner = owners.get(sock.pid)
        if owner is None:
            owner = owners[sock.pid] = _read_owner(sock.pid, procs.get(sock.pid))
        result.append(replace(owner, address=sock.address, port=sock.port, socket=sock.inode))
    return result


def listening_sockets(ports: Iterable[int] | None = None) -> list[ListeningSocket]:
    """The listening sockets on ``ports`` (``None``: all), without owner details: cheaper to poll."""
    wanted = None if ports is None else frozenset(int(p) for p in ports)
    return _collect(wanted)[0]


def _collect(wanted: frozenset[int] | None) -> tuple[list[ListeningSocket], dict[int, psutil.Process]]:
    """Deduplicated, sorted listening sockets, plus the ``psutil.Process`` objects met on the
    way, so their details need not be looked up twice."""
    procs: dict[int, psutil.Process] = {}
    raw: list[ListeningSocket] | None = None
    if LINUX:
        try:
            raw = _proc_net(wanted)
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


# --------------------------------------------------------------------------- Linux: /proc/net

_TCP_LISTEN = b"0A"


def _proc_net(wanted: frozenset[int] | None) -> list[ListeningSocket]:
    """Listening TCP sockets from ``/proc/net/tcp`` and ``tcp6``, one entry per process holding
    each (every process with the socket's inode among its open files; none we may not read:
    then one entry with ``pid`` None)."""
    sockets = _listening_table(wanted)
    if not sockets:
        return []
    holders = _holders_of(set(sockets))
    if any(not holders.get(inode) for inode in sockets):
        # A socket nobody was seen holding is another user's, or one whose process exited
        # while the files were read: that one has left the table by now (its descriptors are
        # closed before its process is gone), and is not passed off as another user's.
        still = _listening_table(wanted)
        sockets = {inode: where for inode, where in sockets.items() if holders.get(inode) or inode in still}
    found = []
    for inode, (address, port) in sockets.items():
        pids = holders.get(inode)
        if not pids:
            found.append(ListeningSocket(address, port, None, inode))
        else:
            found += [ListeningSocket(address, port, pid, inode) for pid in sorted(pids)]
    return found


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


def _listening_table(wanted: frozenset[int] | None) -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of every listening TCP socket on ``wanted`` ports (None: all)."""
    table: dict[int, tuple[str, int]] = {}
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
                        table[inode] = (_address(hex_address, family), port)
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
        fd_dir = f"/proc/{entry.name}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # another user's process, or gone
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inode = int(link[8:-1])
                if inode in inodes:
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
    fields["watcher"] = watcher_of(proc)
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
    try:
        current = proc.parent()
        for _ in range(WATCHER_DEPTH):
            if current is None or current.pid in (0, 1):
                return None
            with current.oneshot():
                try:
                    name, cmdline = current.name(), current.cmdline()
                except psutil.AccessDenied:
                    return None
                kind = watcher_kind(name, cmdline)
                if kind is not None:
                    return Watcher(current.pid, kind, current.create_time())
            current = current.parent()
    except (psutil.Error, OSError):
        return None
    return None


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
