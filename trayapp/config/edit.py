"""Writing settings back to ``trayapp.toml`` without losing the user's comments (tomlkit)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from trayapp.config.load import DEFAULT_TOML, Config, ConfigError, parse_config, user_config_path


def save_service_settings(config: Config, name: str, **values: float) -> Config:
    """Set keys (e.g. ``interval``, ``timeout``) of service ``name`` and write the file.

    A built-in default config is first written to the user's config dir. The result is
    validated before it replaces the file (atomically; through a symlink, the file it leads to),
    so a bad value never lands. Returns the config as re-read from the new text.
    """
    path = config.path or (Path(config.save_path) if config.save_path else user_config_path())
    text = path.read_text(encoding="utf-8") if config.path is not None else (config.text or DEFAULT_TOML)
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(str(path), f"is not valid TOML: {exc}") from None
    services = document.get("service")
    table = next((s for s in services or [] if s.get("name") == name), None)
    if table is None:
        if any(s.name == name and s.source == "discovered" for s in config.services):
            raise ConfigError(
                str(path), "is discovered from a [[project]] folder, so it has no table here to save to", name
            )
        raise ConfigError(str(path), "is not in this file any more", name)
    for key, value in values.items():
        table[key] = round(float(value), 3)
    new_text = tomlkit.dumps(document)
    updated = parse_config(new_text, str(path))  # raises ConfigError, naming the field
    _write_atomically(path, new_text)
    return updated


def config_file_to_open(config: Config) -> Path:
    """The file that holds ``config``, written first from what it was made of when there is none.

    A config read from a file: that file. The built-in default or a discovery: its TOML
    (``config.text``, else the built-in default) is written to ``config.save_path`` (a discovered
    project's ``trayapp.toml``) or the user's config dir, unless a file is there already (never
    overwritten). Raises ``OSError``.
    """
    if config.path is not None:
        return config.path
    path = Path(config.save_path) if config.save_path else user_config_path()
    if not path.exists():
        _write_atomically(path, config.text or DEFAULT_TOML)
    return path


def add_project(config: Config, folder: str | os.PathLike[str]) -> Path:
    """Write a ``[[project]] path = FOLDER`` entry (issue #11: Choose project folder…) and return the file.

    Into the config file in use (tomlkit: the user's comments and layout kept), or, when trayapp
    runs without one (the built-in default, a discovery), into a new file in the user's config
    dir holding only that entry: the project's discovered services replace the default ones. A
    folder already listed is not added twice. Validated before it is written (atomically; through
    a symlink, the file it leads to). Raises ConfigError (a sentence) or OSError.
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(str(root), "is not a folder")
    if config.path is not None:
        path = config.path
        text = path.read_text(encoding="utf-8")
    else:
        path = user_config_path()
        if path.exists():
            text = path.read_text(encoding="utf-8")
        else:
            text = "# written by trayapp's Choose project folder…; its services are discovered at load\n"
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(str(path), f"is not valid TOML: {exc}") from None
    projects = document.get("project")
    if projects is None:
        projects = tomlkit.aot()
        document.append("project", projects)
    listed = {Path(str(p.get("path", ""))).expanduser() for p in projects}
    if root not in {p if p.is_absolute() else (path.parent / p).resolve() for p in listed}:
        entry = tomlkit.table()
        entry["path"] = str(root)
        projects.append(entry)
    new_text = tomlkit.dumps(document)
    parse_config(new_text, str(path))  # raises ConfigError, naming the field
    _write_atomically(path, new_text)
    return path


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file's content in one step: a temporary file in the same folder, synced, then
    ``os.replace`` over it, with the old file's permission bits.

    A symlink (a dotfile manager's: ``~/.config/trayapp/trayapp.toml -> ~/dotfiles/...``) is
    written through: the file it leads to (after every link in the chain) is replaced, in its own
    folder so the rename stays atomic, and the link stays a link. Raises ``OSError``.
    """
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
