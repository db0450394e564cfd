"""Shared phrasing: ages, durations, paths and command lines as people read them.

One home for how trayapp writes these, so a table, a sentence and a popup say "3 min" the
same way.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable


def humanize_age(seconds: float) -> str:
    """``12 s``, ``5 min``, ``3 h``, ``2 d`` (rounded down; negative ages count as 0)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def shorten_home(path: str, home: str | None = None) -> str:
    """``path`` with the current user's home directory written as ``~``."""
    home = os.path.expanduser("~") if home is None else home
    home = home.rstrip("/\\")
    if not home or home == "~":
        return path
    if path == home:
        return "~"
    for sep in {os.sep, "/"}:
        if path.startswith(home + sep):
            return "~" + path[len(home) :]
    return path


def format_cmdline(cmdline: Iterable[str] | None) -> str:
    """A command line quoted for display (shell-style) on one line; never to be executed.

    Control characters (a newline in a ``python -c`` script) are shown escaped, so a
    command line cannot break a table row or fake another line.
    """
    if not cmdline:
        return ""
    return shlex.join(str(arg) for arg in cmdline).translate(_ESCAPES)


_ESCAPES = {c: f"\\x{c:02x}" for c in range(32)} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r", 127: "\\x7f"}


def humanize_duration(seconds: float) -> str:
    """``8 s``, ``42 s``, ``3 min``, ``1 h 5 min`` (rounded to the nearest unit)."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = round(whole / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def join_and(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (duplicates dropped, order kept)."""
    unique = list(dict.fromkeys(items))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]


def command(text: str) -> str:
    """A command the user may type, set off as such in a sentence: ```trayapp kill 5000```."""
    return f"`{text}`"


def resume_hint(pids: Iterable[int]) -> str:
    """How to continue stopped processes: ``kill -CONT 12 13, or fg in its terminal``."""
    return f"kill -CONT {' '.join(str(p) for p in pids)}, or fg in its terminal"


def format_latency(ms: float) -> str:
    """A check's latency for people: ``"3 ms"``, ``"2.1 s"`` from 1,000 ms on."""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
