"""The desktop entry and the app icons in the user's XDG data folder (``trayapp desktop install``).

Files (Desktop Entry and Icon Theme specifications, freedesktop.org):

- ``$XDG_DATA_HOME/applications/trayapp.desktop`` (``~/.local/share`` when unset), whose
  ``Exec`` is the absolute command that started this trayapp, so the menu entry works without
  ``trayapp`` on PATH (a bundle's executable, or the console script of the virtualenv or pipx).
- ``$XDG_DATA_HOME/icons/hicolor/NxN/apps/trayapp.png`` for each of :data:`PNG_SIZES`, and
  ``…/hicolor/scalable/apps/trayapp.svg``: the icon the entry's ``Icon=trayapp`` names.

The icons are package data (``trayapp.resources``, ``icons/app/``) read with importlib.resources,
so the same code works from a checkout, a wheel, pipx or a PyInstaller bundle. Qt-free.
Errors: :func:`install` and :func:`uninstall` raise OSError from the file system.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

APP_ID = "trayapp"
#: the hicolor sizes shipped as PNG (the sizes menus, docks and task switchers ask for)
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)

#: characters that make an Exec argument need quoting (Desktop Entry spec, "The Exec key")
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_QUOTED_ESCAPE = re.compile(r'(["`$\\])')


def exec_value(command: Sequence[str]) -> str:
    """``command`` as an ``Exec`` value: each argument quoted when it needs it, ``%`` doubled,
    and the string-level backslash escape applied after the quoting (as the spec requires)."""
    parts = []
    for arg in command:
        arg = arg.replace("%", "%%")
        if arg and not _RESERVED.intersection(arg):
            parts.append(arg)
        else:
            parts.append('"' + _QUOTED_ESCAPE.sub(r"\\\1", arg) + '"')
    return " ".join(parts).replace("\\", "\\\\")


def desktop_entry(command: Sequence[str], *, autostart: bool = False) -> str:
    """The desktop entry that starts ``command`` (the tray); with ``autostart``, the keys an
    autostart entry has too. ``packaging/trayapp.desktop`` is this with ``command = ["trayapp"]``."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=trayapp",
        "GenericName=Local stack monitor",
        "Comment=Watches your local web stack and says what is wrong and who is to blame",
        f"Exec={exec_value(command)}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=System;Monitor;",
        "StartupNotify=false",
    ]
    if autostart:
        # The tray waits for the panel's tray to appear, so no delay is needed here.
        lines += ["Hidden=false", "X-GNOME-Autostart-enabled=true"]
    return "\n".join(lines) + "\n"


def launch_command() -> list[str]:
    """How to start this trayapp again from a menu or at login, as an absolute argv.

    A PyInstaller bundle: its executable. Otherwise the ``trayapp`` console script beside
    this interpreter (a virtualenv's or pipx's ``bin``), else ``python -m trayapp``.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).parent / ("trayapp.exe" if sys.platform == "win32" else "trayapp")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "trayapp"]


def command_hint() -> str:
    """The command a message should tell the user to type: ``trayapp`` when that is on PATH and
    is this trayapp, else the absolute command (a ``.venv`` not on PATH, a bundle)."""
    import shlex
    import shutil

    command = launch_command()
    found = shutil.which("trayapp")
    if found is not None and len(command) == 1 and os.path.realpath(found) == os.path.realpath(command[0]):
        return "trayapp"
    return shlex.join(command)


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME`` if set and absolute, else ``~/.local/share`` (XDG Base Directory spec)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


@dataclass(frozen=True)
class Installed:
    """What :func:`install` wrote: absolute paths."""

    entry: Path
    icons: tuple[Path, ...]


def icon_files() -> dict[str, bytes]:
    """The app icon per hicolor folder: ``{"16x16": png, …, "scalable": svg}`` (package data)."""
    folder = files("trayapp.resources") / "icons" / "app"
    found = {f"{n}x{n}": (folder / f"{APP_ID}-{n}.png").read_bytes() for n in PNG_SIZES}
    found["scalable"] = (folder / f"{APP_ID}.svg").read_bytes()
    return found


def _targets(data_home: Path) -> tuple[Path, dict[str, Path]]:
    hicolor = data_home / "icons" / "hicolor"
    icons = {
        size: hicolor / size / "apps" / (f"{APP_ID}.svg" if size == "scalable" else f"{APP_ID}.png")
        for size in [*(f"{n}x{n}" for n in PNG_SIZES), "scalable"]
    }
    return data_home / "applications" / f"{APP_ID}.desktop", icons


def install(command: Sequence[str] | None = None, data_home: Path | None = None) -> Installed:
    """Write the desktop entry (starting ``command``, default :func:`launch_command`) and the icons."""
    from trayapp.desktop.autostart import write_atomic

    entry_path, icon_paths = _targets(data_home or xdg_data_home())
    for size, data in icon_files().items():
        write_atomic(icon_paths[size], data)
    # Icon themes cache their folder listing by the theme folder's time: touch it so a running
    # panel finds the new icon (what gtk-update-icon-cache's users do too).
    os.utime(icon_paths["scalable"].parents[2])
    write_atomic(entry_path, desktop_entry(command or launch_command()).encode())
    return Installed(entry_path, tuple(icon_paths.values()))


def uninstall(data_home: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote (missing files are fine); returns the paths that were there."""
    entry_path, icon_paths = _targets(data_home or xdg_data_home())
    removed = []
    for path in [entry_path, *icon_paths.values()]:
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
