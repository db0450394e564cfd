"""Sample JavaScript projects (tests/projects/NAME) copied where a test may change them.

The samples are written as a developer would, with fixed ports (3001, 5173, ...). A test that
starts real listeners must not use fixed ports, so :func:`copy_project` rewrites each given
port number wherever it stands alone (``PORT=3001``, ``localhost:3001``, ``port: 3001``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
_TEXT = (".js", ".mjs", ".cjs", ".ts", ".mts", ".json", ".yaml", ".yml", ".toml")


def copy_project(name: str, dest: Path, ports: dict[int, int] | None = None) -> Path:
    """Copy sample ``name`` to ``dest/name`` with ``ports`` ({old: new}) rewritten; the copy's path."""
    target = dest / name
    shutil.copytree(PROJECTS / name, target)
    for path in target.rglob("*"):
        if path.is_file() and (path.suffix in _TEXT or path.name.startswith(".env")) and ports:
            text = path.read_text(encoding="utf-8")
            for old, new in ports.items():
                text = re.sub(rf"(?<!\d){old}(?!\d)", str(new), text)
            path.write_text(text, encoding="utf-8")
    return target
