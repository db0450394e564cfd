"""Waiting on the main thread for a stop signal, whichever thread the kernel hands it to.

A process-directed signal goes to any one thread that does not block it. Python runs its
handlers only on the main thread and only between bytecodes, so when a worker thread takes
the signal the handler is merely flagged, and a main thread waiting in a blocking call
(``threading.Event.wait()``, ``accept()``) never gets to run it. This happens every time a
SIGTERM arrives while the process is stopped (Ctrl-Z then ``kill %1``, SIGSTOP, a debugger):
after SIGCONT the first thread to run takes it (issue #8: ``trayapp watch`` ignored the
SIGTERM in 10 of 15 such runs). On Windows, Ctrl-C is always handled on a thread of its own.

:class:`StopSignals` waits through :func:`signal.set_wakeup_fd`: CPython's C-level handler,
in whichever thread runs it, writes the signal number to a socket the main thread waits on.
Nothing is blocked with ``pthread_sigmask``: a blocked signal mask is inherited by threads and
across fork and exec by every child process (``subprocess`` does not reset it), so a managed
service started by such a process would ignore the SIGTERM that ``trayapp stop`` sends.
"""

from __future__ import annotations

import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

#: the signals that ask a foreground command to finish (``kill``, systemd, Ctrl-C)
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class StopSignals:
    """Context manager: while inside, ``signals`` no longer stop the process; :meth:`wait` reports them.

    Enter and wait on the main thread (Python allows signal handlers only there). Leaving
    restores the previous handlers and wakeup fd. A signal that came before :meth:`wait` is
    not lost: it waits in the socket.
    """

    def __init__(self, signals: Sequence[signal.Signals] = STOP_SIGNALS) -> None:
        self._signals = tuple(signals)
        self._read: socket.socket | None = None
        self._write: socket.socket | None = None
        self._old_fd = -1
        self._old_handlers: dict[signal.Signals, _Handler] = {}

    def __enter__(self) -> StopSignals:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)  # the C handler must never block
        self._old_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        for sig in self._signals:
            # A Python-level handler is what makes CPython install its C handler, which writes
            # to the wakeup fd; the handler itself has nothing left to do.
            self._old_handlers[sig] = signal.signal(sig, _ignore)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()
        signal.set_wakeup_fd(self._old_fd)
        for sock in (self._read, self._write):
            if sock is not None:
                sock.close()
        self._read = self._write = None

    def fileno(self) -> int:
        """The socket that becomes readable when a signal came (for a caller's own select loop)."""
        if self._read is None:
            raise RuntimeError("StopSignals is not entered")
        return self._read.fileno()

    def wait(self, timeout: float | None = None) -> signal.Signals | None:
        """Block until one of the signals comes; return it, or None after ``timeout`` seconds.

        Signals that are not ours (the wakeup fd carries every signal with a Python handler,
        SIGCHLD or SIGWINCH for instance) are read and passed over.
        """
        if self._read is None:
            raise RuntimeError("StopSignals is not entered")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._read], [], [], remaining)
            if not ready:
                return None
            try:
                data = self._read.recv(64)
            except (BlockingIOError, InterruptedError):
                continue
            for number in data:
                if number in self._signals:
                    return signal.Signals(number)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup fd has already told :meth:`StopSignals.wait`."""
