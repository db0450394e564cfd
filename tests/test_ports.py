"""Who listens on a port: real listeners in child processes, real psutil."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.kit.servers import BACKEND_SCRIPT, Backend, free_port
from tests.kit.users import run_as_nobody
from tests.kit.wait import wait_until
from trayapp.checks import ports
from trayapp.checks.ports import describe_owner, listeners, listens_on
from trayapp.model import Listener
from trayapp.text import format_cmdline, humanize_age, shorten_home

REPO_ROOT = Path(__file__).resolve().parents[1]

BackendFactory = Callable[..., Backend]


def _me() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def short_lived() -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """``short_lived()``: a python listening on 127.0.0.1 that exits when its stdin closes."""
    started: list[subprocess.Popen[str]] = []
    code = (
        "import socket, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "sys.stdin.read()\n"
    )

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


# --------------------------------------------------------------------------- real listeners


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_owner_details_of_a_real_listener(backend: BackendFactory, host: str) -> None:
    server = backend(host=host)
    found = listeners([server.port])
    assert [(lst.address, lst.port, lst.pid) for lst in found] == [(host, server.port, server.pid)]
    owner = found[0]
    real = psutil.Process(server.pid)
    assert owner.visible is True
    assert owner.name == real.name()
    assert owner.cmdline is not None and owner.cmdline[0] == sys.executable
    assert str(BACKEND_SCRIPT) in owner.cmdline and "--host" in owner.cmdline
    assert owner.cwd == os.getcwd()  # the backend inherited ours
    assert owner.user == _me()
    assert owner.started is not None and abs(owner.started - real.create_time()) < 0.05
    assert owner.ppid == os.getpid()


def test_every_listener_includes_ours_sorted_and_unique(backend: BackendFactory) -> None:
    v4 = backend()
    v6 = backend(host="::1")
    everything = listeners(None)
    keys = [(lst.port, lst.address, lst.pid) for lst in everything]
    assert (v4.port, "127.0.0.1", v4.pid) in keys
    assert (v6.port, "::1", v6.pid) in keys
    assert keys == sorted(keys, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2]))
    assert len(set(keys)) == len(keys)


def test_forked_child_sharing_the_socket_is_listed_once_per_pid(backend: BackendFactory) -> None:
    server = backend(fork_child=True)
    assert server.child_pid is not None
    found = listeners([server.port])
    assert sorted(lst.pid for lst in found if lst.pid is not None) == sorted([server.pid, server.child_pid])
    child = next(lst for lst in found if lst.pid == server.child_pid)
    assert child.ppid == server.pid and child.visible


def test_ports_filter_leaves_other_ports_out(backend: BackendFactory) -> None:
    a = backend()
    b = backend()
    assert {lst.port for lst in listeners([a.port])} == {a.port}
    assert {lst.port for lst in listeners([a.port, b.port])} == {a.port, b.port}
    assert listeners([]) == []
    assert listeners([free_port()]) == []


def test_per_process_fallback_sees_the_same_owner(backend: BackendFactory) -> None:
    """The macOS path (each process asked for its own sockets) finds the same listener."""
    server = backend()
    found = ports._per_process(frozenset({server.port}), {})
    assert [(s.address, s.port, s.pid) for s in found] == [("127.0.0.1", server.port, server.pid)]


def test_describe_owner_of_a_real_listener(backend: BackendFactory) -> None:
    server = backend()
    (owner,) = listeners([server.port])
    assert owner.started is not None
    text = describe_owner(owner, now=owner.started + 3 * 3600 + 59)
    assert text == f"{owner.name} (pid {server.pid}, started 3 h ago in {shorten_home(os.getcwd())})"


# --------------------------------------------------------------------------- vanishing processes


def test_process_gone_before_lookup_keeps_the_socket_without_details(
    short_lived: Callable[[], subprocess.Popen[str]],
) -> None:
    proc = short_lived()
    assert proc.stdout is not None and proc.stdin is not None
    port = int(proc.stdout.readline())
    handle = psutil.Process(proc.pid)  # looked up while it lived, as a listing would
    proc.stdin.close()
    proc.wait(timeout=10)
    owner = ports._read_owner(proc.pid, handle)
    assert (owner.name, owner.cmdline, owner.cwd, owner.started, owner.visible) == (None, None, None, None, True)
    lst = Listener(address="127.0.0.1", port=port, pid=proc.pid)
    assert describe_owner(lst) == f"a process that has just exited (pid {proc.pid})"
    assert listeners([port]) == []


def test_listing_while_listeners_exit_names_every_live_owner_and_no_wrong_one(
    short_lived: Callable[[], subprocess.Popen[str]],
) -> None:
    procs = [short_lived() for _ in range(4)]
    ports_of = {}
    for proc in procs:
        assert proc.stdout is not None
        ports_of[proc.pid] = int(proc.stdout.readline())
    pid_on = {port: pid for pid, port in ports_of.items()}
    errors: list[BaseException] = []
    # One record per listing: how many listeners had been told to exit when it began and when it
    # ended, how many had been reaped before it began, and what it saw on their ports.
    rounds: list[tuple[int, int, int, dict[int, tuple[int | None, str]]]] = []
    told = reaped = 0
    stop = threading.Event()

    def keep_listing() -> None:
        while not stop.is_set():
            began, gone = told, reaped
            try:
                seen = {x.port: (x.pid, describe_owner(x)) for x in listeners(ports_of.values())}
                for x in listeners(None):  # the all-sockets scan races the exits too
                    describe_owner(x)
            except BaseException as exc:  # noqa: BLE001 - the test reports whatever escaped
                errors.append(exc)
                return
            rounds.append((began, told, gone, seen))

    worker = threading.Thread(target=keep_listing)
    worker.start()
    try:
        for proc in procs:
            assert proc.stdin is not None
            told += 1  # counted first: a listing that ends after this may have raced the exit
            proc.stdin.close()  # it exits now, while a listing may be reading its sockets
            n = told
            wait_until(lambda: any(r[0] >= n for r in rounds) or errors, what="a listing begun after an exit")  # noqa: B023
            proc.wait(timeout=10)
            reaped += 1
        wait_until(lambda: any(r[2] == len(procs) for r in rounds) or errors, what="a listing after the last exit")
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []
    for _began, after, gone, seen in rounds:
        for port, (pid, description) in seen.items():
            assert pid == pid_on[port], f"port {port} named pid {pid}, not its owner {pid_on[port]}"
            assert description.startswith(("python", "a process that has just exited")), description
        for proc in procs[after:]:  # not told to exit until the listing was over: always there, named
            pid, description = seen[ports_of[proc.pid]]
            assert description.startswith("python") and f"pid {proc.pid}" in description, description
        for proc in procs[:gone]:  # reaped before the listing began: never listed
            assert ports_of[proc.pid] not in seen
    assert rounds[-1][3] == {} and listeners(ports_of.values()) == []


# --------------------------------------------------------------------------- other users


def test_root_listener_seen_by_another_user_is_invisible(backend: BackendFactory) -> None:
    server = backend()
    seen = run_as_nobody(
        "from trayapp.checks.ports import listeners, describe_owner, _per_process\n"
        f"found = listeners([{server.port}])\n"
        f"fallback = _per_process(frozenset({{{server.port}}}), {{}})\n"
        "print(json.dumps({'found': [dict(l.to_json(), visible=l.visible) for l in found],\n"
        "                  'text': [describe_owner(l) for l in found], 'fallback': len(fallback)}))\n"
    )
    found = seen["found"]
    assert isinstance(found, list) and len(found) == 1
    assert found[0]["port"] == server.port and found[0]["address"] == "127.0.0.1"
    assert found[0]["pid"] is None and found[0]["visible"] is False
    assert found[0]["name"] is None and found[0]["cmdline"] is None
    assert seen["text"] == ["a process of another user (root)"]  # the kernel records who opened it
    # Asking each process (the macOS path) cannot see another user's sockets at all.
    assert seen["fallback"] == 0
    assert server.proc.poll() is None


def test_describe_owner_of_invisible_owners() -> None:
    assert describe_owner(Listener("0.0.0.0", 5000, None, visible=False)) == "a process of another user"
    assert describe_owner(Listener("0.0.0.0", 5000, 4242, visible=False)) == "a process of another user (pid 4242)"
    named = Listener("0.0.0.0", 5000, 4242, name="postgres", user="postgres", visible=False)
    assert describe_owner(named) == "postgres (pid 4242, user postgres)"


# --------------------------------------------------------------------------- text helpers


def test_describe_owner_sentence_parts() -> None:
    home = os.path.expanduser("~")
    lst = Listener(
        "127.0.0.1",
        5000,
        4242,
        name="node",
        cmdline=("node", "server.js"),
        cwd=os.path.join(home, "old-checkout"),
        started=1_000_000.0,
    )
    assert describe_owner(lst, now=1_000_000.0 + 3 * 3600 + 10) == "node (pid 4242, started 3 h ago in ~/old-checkout)"
    nameless = Listener("127.0.0.1", 5000, 7, cmdline=("/usr/local/bin/vite", "--port", "5173"), started=100.0)
    assert describe_owner(nameless, now=112.5) == "vite (pid 7, started 12 s ago)"
    no_start = Listener("127.0.0.1", 5000, 7, name="deno", cwd="/srv/app")
    assert describe_owner(no_start) == "deno (pid 7, in /srv/app)"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3, "0 s"), (0, "0 s"), (12.9, "12 s"), (59, "59 s"), (60, "1 min"), (5 * 60 + 30, "5 min"),
     (3 * 3600 + 5, "3 h"), (23 * 3600, "23 h"), (2 * 86400 + 100, "2 d")],
)  # fmt: skip
def test_humanize_age(seconds: float, text: str) -> None:
    assert humanize_age(seconds) == text


def test_shorten_home() -> None:
    assert shorten_home("/home/ann/code/app", home="/home/ann") == "~/code/app"
    assert shorten_home("/home/ann", home="/home/ann/") == "~"
    assert shorten_home("/home/anna/app", home="/home/ann") == "/home/anna/app"
    assert shorten_home("/srv", home="/") == "/srv"


def test_format_cmdline_quotes_for_display() -> None:
    assert format_cmdline(("python", "my app.py", "--x=$HOME;rm -rf /")) == "python 'my app.py' '--x=$HOME;rm -rf /'"
    assert format_cmdline(None) == ""
    assert format_cmdline(()) == ""


@pytest.mark.parametrize(
    ("listener", "target", "expected"),
    [
        ("0.0.0.0", "127.0.0.1", True),
        ("0.0.0.0", "192.168.1.5", True),
        ("0.0.0.0", "::1", False),
        ("0.0.0.0", "::ffff:127.0.0.1", True),
        ("::", "::1", True),
        ("::", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "::1", False),
        ("::1", "127.0.0.1", False),
        ("127.0.0.1", "127.0.0.2", False),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "::ffff:127.0.0.1", True),
        ("::1", "[::1]", True),
        ("::1", "::1", True),
        ("localhost", "LOCALHOST", True),
        ("127.0.0.1", "localhost", False),
    ],
)
def test_listens_on(listener: str, target: str, expected: bool) -> None:
    assert listens_on(listener, target) is expected


def test_listens_on_agrees_with_a_real_connection() -> None:
    """A socket bound to 0.0.0.0 answers on 127.0.0.1; one bound to 127.0.0.1 does not answer on ::1."""
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen()
        port = server.getsockname()[1]
        assert listens_on("0.0.0.0", "127.0.0.1")
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not listens_on("127.0.0.1", "::1")
        with pytest.raises(OSError), socket.socket(socket.AF_INET6) as client:
            client.settimeout(5)
            client.connect(("::1", port))


def test_command_line_is_shown_on_one_line_with_control_characters_escaped() -> None:
    from trayapp.text import format_cmdline

    shown = format_cmdline(["python3", "-c", "import x\nprint('\x1b[31mred')"])
    assert "\n" not in shown and "\x1b" not in shown
    assert shown == "python3 -c 'import x\\nprint('\"'\"'\\x1b[31mred'\"'\"')'"
