"""Start at login: one small interface, one implementation per platform, and a do-nothing fallback.

- Linux and other XDG desktops: ``$XDG_CONFIG_HOME/autostart/trayapp.desktop`` (the XDG Autostart
  specification; GNOME, KDE, Xfce and LXQt read it at login).
- macOS: a LaunchAgent, ``~/Library/LaunchAgents/io.github.trayapp.plist`` with ``RunAtLoad``
  (launchd.plist(5)); written with :mod:`plistlib`.
- Windows: a value named ``trayapp`` under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``
  (:mod:`winreg`), which Explorer runs at sign-in.
- Anything else: :class:`NoAutostart`, which says it cannot and changes nothing.

Each implementation's file or registry contents come from a pure builder (:func:`xdg_entry`,
:func:`launch_agent_plist`, :func:`run_key_value`), so the ones that cannot run here are tested
through those. Nothing here imports Qt; the tray menu and the settings call :func:`autostart`.
Errors: ``enable``/``disable`` raise :class:`AutostartError` with a sentence (the file or key
and the OS's reason); ``is_enabled`` never raises (an unreadable entry counts as off).
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from trayapp.desktop.entry import desktop_entry, launch_command

#: the LaunchAgent's label (reverse-DNS, as launchd wants) and the Run key's value name
LABEL = "io.github.trayapp"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "trayapp"


class AutostartError(Exception):
    """Start at login could not be changed; the message says where and why."""


class Autostart(Protocol):
    """Start trayapp when the user logs in."""

    #: where the setting lives, for people ("~/.config/autostart/trayapp.desktop")
    where: str
    #: False for the fallback: the platform has no way we know of
    supported: bool

    def is_enabled(self) -> bool: ...

    def enable(self) -> None: ...

    def disable(self) -> None: ...


# -- builders (pure) ----------------------------------------------------------------------


def xdg_entry(command: Sequence[str]) -> str:
    """The autostart entry: the application's desktop entry with autostart keys
    (``X-GNOME-Autostart-enabled``; ``Hidden=false``, since ``Hidden=true`` means "deleted")."""
    return desktop_entry(command, autostart=True)


def launch_agent_plist(command: Sequence[str]) -> bytes:
    """The LaunchAgent: run ``command`` at login, once (no KeepAlive: quitting the tray means quit)."""
    agent: dict[str, Any] = {
        "Label": LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
    }
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=True)


def run_key_value(command: Sequence[str]) -> str:
    """The Run key's value: one Windows command line (MSVCRT quoting, as CreateProcess parses it)."""
    return subprocess.list2cmdline(list(command))


# -- implementations ----------------------------------------------------------------------


class _FileAutostart:
    """On when ``path`` exists; enabling writes ``content`` there (atomically), disabling removes it."""

    supported = True

    def __init__(self, path: Path, content: bytes) -> None:
        self.path = path
        self.content = content
        home = str(Path.home())
        text = str(path)
        self.where = "~" + text[len(home) :] if text.startswith(home + os.sep) else text

    def is_enabled(self) -> bool:
        return self.path.is_file()

    def enable(self) -> None:
        try:
            write_atomic(self.path, self.content)
        except OSError as exc:
            raise AutostartError(f"cannot write {self.where}: {exc.strerror or exc}") from None

    def disable(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise AutostartError(f"cannot remove {self.where}: {exc.strerror or exc}") from None


class XdgAutostart(_FileAutostart):
    def __init__(self, command: Sequence[str], config_home: Path | None = None) -> None:
        base = config_home or xdg_config_home()
        super().__init__(base / "autostart" / "trayapp.desktop", xdg_entry(command).encode())


class LaunchAgent(_FileAutostart):
    def __init__(self, command: Sequence[str], home: Path | None = None) -> None:
        base = home or Path.home()
        super().__init__(base / "Library" / "LaunchAgents" / f"{LABEL}.plist", launch_agent_plist(command))


class WindowsRunKey:
    """The HKCU Run key's ``trayapp`` value. ``registry`` is :mod:`winreg` (any object with its API)."""

    supported = True
    where = "HKEY_CURRENT_USER\\" + RUN_KEY + " (trayapp)"

    def __init__(self, command: Sequence[str], registry: Any = None) -> None:
        if registry is None:
            import winreg as registry  # type: ignore[import-not-found,no-redef]  # Windows only
        self._reg = registry
        self.value = run_key_value(command)

    def is_enabled(self) -> bool:
        try:
            with self._reg.OpenKey(self._reg.HKEY_CURRENT_USER, RUN_KEY) as key:
                self._reg.QueryValueEx(key, RUN_VALUE)
            return True
        except OSError:
            return False

    def enable(self) -> None:
        try:
            with self._reg.CreateKey(self._reg.HKEY_CURRENT_USER, RUN_KEY) as key:
                self._reg.SetValueEx(key, RUN_VALUE, 0, self._reg.REG_SZ, self.value)
        except OSError as exc:
            raise AutostartError(f"cannot set {self.where}: {exc.strerror or exc}") from None

    def disable(self) -> None:
        try:
            with self._reg.OpenKey(self._reg.HKEY_CURRENT_USER, RUN_KEY, 0, self._reg.KEY_SET_VALUE) as key:
                self._reg.DeleteValue(key, RUN_VALUE)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AutostartError(f"cannot remove {self.where}: {exc.strerror or exc}") from None


class NoAutostart:
    """A platform without a way we know of: off, and turning it on says so."""

    supported = False
    where = "nowhere (this platform has no start-at-login trayapp knows)"

    def is_enabled(self) -> bool:
        return False

    def enable(self) -> None:
        raise AutostartError(f"start at login is not available on {sys.platform}")

    def disable(self) -> None:
        return None


def autostart(command: Sequence[str] | None = None, platform: str | None = None) -> Autostart:
    """Start at login on this platform, starting ``command`` (default: how this trayapp was launched)."""
    platform = platform or sys.platform
    argv = list(command) if command is not None else launch_command()
    if platform == "darwin":
        return LaunchAgent(argv)
    if platform == "win32":
        try:
            return WindowsRunKey(argv)
        except ImportError:
            return NoAutostart()
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return XdgAutostart(argv)
    return NoAutostart()


def xdg_config_home() -> Path:
    """``$XDG_CONFIG_HOME`` if set and absolute, else ``~/.config`` (XDG Base Directory spec)."""
    value = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".config"


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file and a rename (no half-written entry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
