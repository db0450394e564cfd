"""Port owners found where they were last time (Linux): real listeners in child processes.

A repeated lookup of a port looks first at the processes that held its socket at the last
full scan of every process's open files; these tests check that the answer stays the full,
true one: a new socket on the same port, a holder that let go, a reused pid, a worker forked
since, a watcher that went away. Speed is measured in bench/port_owners.py, not here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tests.kit.servers import free_port
from tests.kit.wait import LineReader
from trayapp.checks import ports
from trayapp.checks.ports import full_scans, listeners

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the remembered holders are Linux's")

WATCHER = Path(__file__).resolve().parent / "kit" / "watcher.py"

#: listens on HOST:PORT (0: any free port), says ``LISTENING PORT``, then obeys its stdin:
#: ``fork`` (a child sharing the socket that sleeps until killed; says ``CHILD PID``), ``close``
#: (lets go of its copy of the socket; says ``CLOSED``); exits when its stdin ends
HOLDER = """
import os, signal, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen()
print("LISTENING", s.getsockname()[1], flush=True)
for line in sys.stdin:
    if line.strip() == "fork":
        child = os.fork()
        if child == 0:
            while True:
                signal.pause()
        print("CHILD", child, flush=True)
    elif line.strip() == "close":
        s.close()
        print("CLOSED", flush=True)
"""


@dataclass
class Holder:
    proc: subprocess.Popen[bytes]
    port: int
    lines: LineReader
    children: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tell(self, command: str, answer: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command}\n".encode())
        self.proc.stdin.flush()
        line = self.lines.line()
        assert line.startswith(answer), line
        return line

    def fork(self) -> int:
        child = int(self.tell("fork", "CHILD ").split()[1])
        self.children.append(child)
        return child

    def exit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def holder() -> Iterator[Callable[..., Holder]]:
    """``holder(host="127.0.0.1", port=0, argv=None)``: a real listener in its own session (run
    under ``argv`` if given), killed with its process group at teardown."""
    made: list[Holder] = []

    def start(host: str = "127.0.0.1", port: int = 0, argv: list[str] | None = None) -> Holder:
        command = [*(argv or []), sys.executable, "-c", HOLDER, host, str(port)]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        lines = LineReader(proc.stdout)
        line = lines.line()
        while not line.startswith("LISTENING "):  # a watcher's own lines come first
            line = lines.line()
        made.append(Holder(proc, int(line.split()[1]), lines))
        return made[-1]

    yield start
    for one in made:
        try:
            os.killpg(one.pid, signal.SIGKILL)  # forked children too, even after their parent's exit
        except ProcessLookupError:
            pass
        one.proc.wait(timeout=10)
        for stream in (one.proc.stdin, one.proc.stdout):
            if stream is not None:
                stream.close()


def pids(port: int, **kwargs: bool) -> list[int | None]:
    return sorted((x.pid for x in listeners([port], **kwargs)), key=lambda pid: -1 if pid is None else pid)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_repeated_lookup_names_the_holder_without_reading_every_process(holder, host: str) -> None:
    server = holder(host)
    first = listeners([server.port])
    scans = full_scans()
    again = listeners([server.port])
    assert full_scans() == scans  # the holder of last time was asked, not every process
    assert [(x.address, x.port, x.pid) for x in again] == [(host, server.port, server.pid)]
    # the same details: name, command line, start, watcher, socket (its status is read afresh:
    # "sleeping" or, while the scheduler runs it, "running")
    assert [replace(x, status=None) for x in again] == [replace(x, status=None) for x in first]
    assert again[0].name and again[0].started is not None and again[0].socket is not None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "::"])
def test_the_kernels_socket_table_and_proc_net_agree(holder, host: str) -> None:
    """sock_diag (asked first) and /proc/net/tcp or tcp6 (its fallback) list the same listener."""
    server = holder(host)
    wanted = frozenset({server.port})
    from_diag = ports._diag_table(wanted)
    assert list(from_diag.values()) == [(host, server.port, os.geteuid())]
    assert ports._proc_net_table(wanted) == from_diag


def test_a_new_listener_on_the_same_port_is_named_not_the_one_remembered(holder) -> None:
    port = free_port()
    old = holder("127.0.0.1", port)
    assert pids(port) == [old.pid]
    old.exit()
    new = holder("127.0.0.1", port)
    found = listeners([port])
    assert [(x.pid, x.started) for x in found] == [(new.pid, found[0].started)]
    assert found[0].cmdline is not None and str(port) in found[0].cmdline


def test_a_remembered_holder_that_let_go_of_the_socket_is_not_named(holder) -> None:
    server = holder()
    child = server.fork()
    assert pids(server.port) == sorted([server.pid, child])
    scans = full_scans()
    server.tell("close", "CLOSED")  # the parent still runs, without the socket
    assert pids(server.port) == [child]
    assert full_scans() == scans + 1


def test_a_remembered_holder_that_exited_leaves_its_forked_child_named(holder) -> None:
    server = holder()
    child = server.fork()
    assert pids(server.port) == sorted([server.pid, child])
    server.exit()
    (left,) = listeners([server.port])
    assert left.pid == child and left.ppid != server.pid


def test_a_remembered_pid_with_another_start_time_is_not_trusted(holder) -> None:
    """A pid reused by another process: the remembered start time no longer matches."""
    server = holder()
    (found,) = listeners([server.port])
    assert found.socket is not None
    with ports._held_lock:
        held = ports._held[found.socket]
        ports._held[found.socket] = ports._Held(tuple((pid, start - 1) for pid, start in held.holders), held.scanned)
    scans = full_scans()
    assert pids(server.port) == [server.pid]
    assert full_scans() == scans + 1


def test_a_worker_forked_after_the_last_lookup_is_named_too(holder) -> None:
    server = holder()
    assert pids(server.port) == [server.pid]
    child = server.fork()
    assert pids(server.port) == sorted([server.pid, child])
    scans = full_scans()
    assert pids(server.port) == sorted([server.pid, child])
    assert full_scans() == scans


def test_every_holder_is_named_when_all_are_asked_for(holder) -> None:
    server = holder()
    child = server.fork()
    scans = full_scans()
    assert pids(server.port, fresh=True) == sorted([server.pid, child])
    assert pids(server.port, fresh=True) == sorted([server.pid, child])
    assert full_scans() == scans + 2  # every process's files read each time
    (parent_entry,) = [x for x in listeners([server.port]) if x.pid == server.pid]
    (child_entry,) = [x for x in listeners([server.port]) if x.pid == child]
    assert child_entry.ppid == server.pid and parent_entry.socket == child_entry.socket


def test_a_watcher_that_went_away_is_not_named_again(holder, tmp_path: Path) -> None:
    """holder under ``sh`` under a nodemon-like watcher: when the watcher dies, ``sh`` is adopted
    elsewhere while the holder's own parent stays ``sh``; the watcher is not named from memory."""
    link = tmp_path / "bin" / "nodemon"
    link.parent.mkdir()
    link.symlink_to(WATCHER)
    server = holder(argv=[sys.executable, str(link), "--", "sh", "-c", '"$@"; true', "sh"])  # "; true": no exec
    (first,) = listeners([server.port])
    assert first.watcher is not None and first.watcher.pid == server.pid and first.watcher.name == "nodemon"
    (again,) = listeners([server.port])
    assert again.watcher == first.watcher
    os.kill(server.pid, signal.SIGKILL)  # the watcher, not its app
    server.proc.wait(timeout=10)
    (after,) = listeners([server.port])
    assert after.pid == first.pid and after.watcher is None


def test_the_kernel_names_the_sockets_uid_and_an_unseen_holder_of_ours_is_not_called_another_users() -> None:
    """A socket whose holder no process of ours shows (a sandbox's or another container's, seen
    through a shared network namespace: `ss -ltnp` shows no process either) is not "another
    user's" when the kernel records our uid for it, or when we are root."""
    from trayapp.checks.ports import describe_owner, listening_sockets, outside_view
    from trayapp.model import Listener

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        [seen] = listening_sockets([port], fresh=True)
    assert (seen.pid, seen.uid) == (os.getpid(), os.geteuid())

    ours = Listener("0.0.0.0", port, None, visible=False, socket_uid=os.geteuid())
    assert outside_view(ours)
    assert describe_owner(ours) == "a process outside trayapp's view (another container or sandbox)"
    unknown = Listener("0.0.0.0", port, None, visible=False)  # no socket table (not Linux)
    assert not outside_view(unknown) and describe_owner(unknown) == "a process of another user"
