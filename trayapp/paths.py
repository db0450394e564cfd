"""Where trayapp keeps its per-user files (platformdirs, so each OS gets its usual places)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import platformdirs

from trayapp.identity import home_folder

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
    """Captured output of managed services: a folder per config (:func:`captured_output`).
    Files directly in it (``NAME.log``) are the old layout, adopted once (trayapp.supervise.records)."""
    return log_dir() / "services"


def captured_output(home: str, name: str, directory: Path | None = None) -> Path:
    """The file the stdout and stderr of service ``name`` of the config at ``home`` (see
    :mod:`trayapp.identity`) go to: ``<services>/<config-folder>-<digest>/NAME.log``."""
    return (directory or service_log_dir()) / home_folder(home) / f"{name}.log"


def children_dir() -> Path:
    """Records of the managed children that are running, for adoption by a later trayapp: a
    folder per config like :func:`captured_output` (``NAME.json`` directly in it: the old layout)."""
    return Path(platformdirs.user_state_dir(APP, appauthor=False)) / "children"


def config_records(home: str, directory: Path | None = None) -> Path:
    """The folder of the child records of the config at ``home``."""
    return (directory or children_dir()) / home_folder(home)


def ui_settings_file() -> Path:
    """The tray's own preferences (the monochrome icon), an INI file in the user's config folder."""
    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "ui.ini"


def preferences_file() -> Path:
    """The user's app preferences (popups, do not disturb): ``preferences.toml`` in the user's config
    folder (~/.config/trayapp on Linux); see :mod:`trayapp.desktop.preferences`."""
    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "preferences.toml"
