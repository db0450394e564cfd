"""How editors save a file, for tests of trayapp noticing a config edited on disk."""

from __future__ import annotations

import os
from pathlib import Path


def save_like_vim(path: Path, text: str) -> None:
    """vim's default (writebackup, no backupcopy): the old file renamed to a backup, a new file
    written, the backup removed."""
    backup = path.with_name(path.name + "~")
    os.replace(path, backup)
    path.write_text(text)
    backup.unlink()


def save_like_vscode(path: Path, text: str) -> None:
    """A temporary file in the same folder, renamed over the old one ("safe write")."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
