"""Where trayapp keeps its per-user files (platformdirs, so each OS gets its usual places)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import platformdirs

APP = "trayapp"


def runtime_dir() -> Path:
    """Lock file and control socket; created private to the user."""
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: platformdirs falls back to /tmp/runtime-UID, fine
        warnings.simplefilter("ignore")
        path = Path(platformdirs.user_runtime_dir(APP, appauthor=False))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def control_socket() -> str:
    """The local socket a running tray listens on: a path on POSIX, a pipe name on Windows."""
    if sys.platform == "win32":
        import getpass

        return f"trayapp-{getpass.getuser()}"
    return str(runtime_dir() / "trayapp.sock")


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def service_log_dir() -> Path:
    """Captured output of managed services, one file each."""
    return log_dir() / "services"


def captured_output(name: str, directory: Path | None = None) -> Path:
    """The file a managed service's stdout and stderr go to."""
    return (directory or service_log_dir()) / f"{name}.log"


def children_dir() -> Path:
    """Records of the managed children that are running, for adoption by a later trayapp."""
    return Path(platformdirs.user_state_dir(APP, appauthor=False)) / "children"
