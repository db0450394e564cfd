"""How a test server with threads notices a signal: a socket its main loop selects on.

Stdlib only, imported by the kit's servers when run as scripts (``python tests/kit/backend.py``).

A signal sent to a process goes to any one of its threads; Python runs the handler only on
the main thread, between bytecodes, so a main thread blocked in ``accept()`` misses a signal
that a connection thread took. That happens whenever the signal comes while the process is
stopped (SIGSTOP, Ctrl-Z): after SIGCONT the first thread to run takes it (issue #8). With
:func:`signal.set_wakeup_fd`, CPython's C handler writes the signal number to a socket in
whichever thread runs it, so the main loop wakes up. No signal is blocked: a blocked mask
would be inherited by every process the server starts.

Which kit servers use it: ``backend.py`` (a thread per connection, and a SIGTERM handler
with ``--linger``). ``watcher.py`` has handlers but no threads, so its one thread takes every
signal; ``crasher.py`` and the fake logind have neither.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterable
from types import FrameType


def wakeup_socket(signals: Iterable[signal.Signals]) -> socket.socket:
    """Make ``signals`` write their number to the returned (non-blocking) socket instead of acting.

    Call on the main thread, before starting threads. Read the socket when select() says so;
    each byte is one signal's number.
    """
    read, write = socket.socketpair()
    read.setblocking(False)
    write.setblocking(False)  # the C handler must never block
    signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
    for sig in signals:
        signal.signal(sig, _noted)  # a Python handler is what installs CPython's C handler
    _keep.append(write)
    return read


_keep: list[socket.socket] = []  # the write ends stay open for the life of the process


def _noted(signum: int, frame: FrameType | None) -> None:
    """Nothing to do here: the number is already in the wakeup socket."""
