"""The layers: Qt stays inside trayapp/ui, and a lower layer never imports a higher one.

So the CLI, the tests and the tray all drive the same engine, and someone adding a module
sees at once where it may reach.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.kit.cli import REPO

PACKAGE = REPO / "trayapp"
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy")

#: Each layer may import its own and lower layers only (the README's "How it is built").
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "trayapp",
        "trayapp.model",
        "trayapp.clock",
        "trayapp.identity",
        "trayapp.paths",
        "trayapp.text",
        "trayapp.headline",
        "trayapp.stop_signals",
    ),
    ("trayapp.config",),
    ("trayapp.logs",),
    ("trayapp.checks",),
    # Discovery and the doctor: above checks, whose bounded probes, health-body reader and port
    # owners they use; below everything that runs a stack, which loads one through them.
    ("trayapp.project",),
    ("trayapp.monitor",),
    ("trayapp.supervise",),
    ("trayapp.power",),
    # The menu entry, icons, start at login and notifications: the desktop around the app, Qt-free.
    ("trayapp.desktop",),
    ("trayapp.control", "trayapp.cli", "trayapp.__main__"),
    ("trayapp.ui",),
)
#: The one upward edge allowed: the CLI starts the tray (a lazy import inside a function).
ALLOWED_UPWARD = {("trayapp.cli", "trayapp.ui")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best, rank = "", -1
    for index, members in enumerate(LAYERS):
        for member in members:
            if (module == member or module.startswith(member + ".")) and len(member) > len(best):
                best, rank = member, index
    assert rank >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return rank


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path.relative_to(REPO)}: use absolute imports (from {node.module})"
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_nothing_outside_ui_imports_qt() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in _sources()
        if "ui" not in path.relative_to(PACKAGE).parts[:1]
        for name in _imports(path)
        if name.split(".")[0] in QT
    ]
    assert offenders == []


def test_no_layer_imports_a_higher_one() -> None:
    offenders = []
    for path in _sources():
        here = _module_name(path)
        for name in _imports(path):
            if name.split(".")[0] != "trayapp" or _is_module_attribute(name):
                continue
            there = name
            if _layer(there) > _layer(here) and not any(
                here.startswith(a) and there.startswith(b) for a, b in ALLOWED_UPWARD
            ):
                offenders.append(f"{here} -> {there}")
    assert offenders == []


def test_every_module_has_a_layer() -> None:
    for path in _sources():
        _layer(_module_name(path))


def test_importing_every_module_outside_ui_loads_no_qt() -> None:
    modules = [_module_name(p) for p in _sources() if p.relative_to(PACKAGE).parts[0] not in ("ui", "__main__.py")]
    code = (
        f"import sys, importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert {"trayapp.cli", "trayapp.supervise.supervisor", "trayapp.checks.probes"} <= set(modules)


def test_the_layer_check_sees_a_violation() -> None:
    """The rule itself: an engine module reaching up into the supervisor or the UI is caught."""
    assert _layer("trayapp.checks.probes") < _layer("trayapp.supervise.kill")
    assert _layer("trayapp.logs.tail") < _layer("trayapp.ui.app")
    assert _layer("trayapp.text") == 0


def _is_module_attribute(name: str) -> bool:
    """``trayapp.text.humanize_age`` (a name from ``from trayapp.text import ...``), not a module."""
    parts = name.split(".")
    return len(parts) > 1 and not (REPO.joinpath(*parts).with_suffix(".py").exists() or REPO.joinpath(*parts).is_dir())
