"""The PyInstaller one-folder bundle, built from packaging/trayapp.spec when its sources changed.

The build costs minutes, so it is cached under ``$XDG_CACHE_HOME/trayapp-tests/bundle/KEY``
(``~/.cache`` by default), KEY the sha256 of every file that goes into it (trayapp/, resources/,
the spec, its entry script, pyproject.toml) plus the versions of Python and PyInstaller. A suite
run with unchanged sources reuses the bundle; two suites at once build it once (a file lock),
and a build lands under its key only when complete (built aside, then renamed).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.kit.cli import REPO

PYINSTALLER = Path(sys.executable).parent / "pyinstaller"
SPEC = REPO / "packaging" / "trayapp.spec"
KEEP = 3  # bundles kept in the cache (other keys are removed after a build)
#: a bundle a suite took less than this long ago is kept too: a suite beside this one, with other
#: sources, removed it under this one's running tests ("No module named 'shiboken6.Shiboken'")
IN_USE_S = 3600.0


def _inputs() -> list[Path]:
    files = [p for p in (REPO / "trayapp").rglob("*") if p.is_file() and p.suffix in (".py", ".mjs")]
    files += [p for p in (REPO / "resources").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [SPEC, REPO / "packaging" / "bundle_entry.py", REPO / "pyproject.toml"]
    return sorted(files)


def bundle_key() -> str:
    digest = hashlib.sha256()
    version = subprocess.run([str(PYINSTALLER), "--version"], capture_output=True, text=True, timeout=60).stdout
    digest.update(f"{sys.version} {platform.machine()} pyinstaller {version.strip()}\n".encode())
    for path in _inputs():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "trayapp-tests" / "bundle"


def built_bundle() -> tuple[Path, float | None]:
    """The bundle's executable, and the seconds its build took here (None: it came from the cache)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = bundle_key()
    executable = cache / key / "trayapp" / "trayapp"
    if executable.is_file():
        os.utime(cache / key)  # in use: another suite's build does not prune it for IN_USE_S
        return executable, None
    with (cache / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another suite may be building the same key
        if executable.is_file():
            os.utime(cache / key)
            return executable, None
        aside = cache / f"{key}.building"
        shutil.rmtree(aside, ignore_errors=True)
        started = time.monotonic()
        result = subprocess.run(
            [str(PYINSTALLER), "--noconfirm", "--log-level", "WARN", "--distpath", str(aside),
             "--workpath", str(cache / "work"), str(SPEC)],
            cwd=cache, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        took = time.monotonic() - started
        if result.returncode != 0:
            raise AssertionError(f"PyInstaller failed ({result.returncode}):\n{result.stderr[-4000:]}")
        aside.rename(cache / key)
        (cache / key / "build-seconds").write_text(f"{took:.1f}\n")
        _prune(cache, key)
    return executable, took


def _prune(cache: Path, current: str) -> None:
    builds = sorted((p for p in cache.iterdir() if p.is_dir() and p.name not in ("work",) and "." not in p.name),
                    key=lambda p: p.stat().st_mtime, reverse=True)  # fmt: skip
    for old in builds[KEEP:]:
        if old.name != current and time.time() - old.stat().st_mtime > IN_USE_S:
            shutil.rmtree(old, ignore_errors=True)
