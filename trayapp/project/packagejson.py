"""``package.json`` files: which packages a project has and what each one is.

Packages are found at the root, in npm / yarn (``workspaces``) and pnpm
(``pnpm-workspace.yaml``) workspaces, and in the usual sub-folders (``server/ backend/ api/
client/ frontend/ web/ apps/*``). Dependencies classify a package: express, fastify, koa,
@nestjs/core, hapi make a backend; vite a frontend; mongoose or mongodb mean it uses MongoDB.
Its ``scripts`` (``dev``, ``start``, ``server``, ``client``) give the command that starts it.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from trayapp.project.envfiles import relative
from trayapp.project.facts import Fact

log = logging.getLogger(__name__)

USUAL_FOLDERS = ("server", "backend", "api", "client", "frontend", "web")
BACKEND_DEPENDENCIES = ("express", "fastify", "koa", "@nestjs/core", "@hapi/hapi", "hapi")
FRONTEND_DEPENDENCIES = ("vite",)
MONGO_DEPENDENCIES = ("mongoose", "mongodb")
START_SCRIPTS = ("dev", "start", "server", "client")
#: more packages than this are not looked at (a monorepo's hundredth package is not the dev stack)
MAX_PACKAGES = 40
MAX_MANIFEST_BYTES = 1024 * 1024
_SECTIONS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")


@dataclass(frozen=True)
class Package:
    """One folder with a ``package.json``."""

    dir: Path
    rel: str  # folder relative to the project root ("." for the root)
    manifest: str  # "server/package.json"
    name: str | None
    #: dependency name -> where it is listed
    dependencies: dict[str, Fact[str]] = field(default_factory=dict)
    scripts: dict[str, Fact[str]] = field(default_factory=dict)
    engines_node: Fact[str] | None = None
    main: str | None = None
    workspaces: tuple[str, ...] = ()
    problem: str | None = None  # why package.json could not be read

    def has(self, names: tuple[str, ...]) -> Fact[str] | None:
        for name in names:
            if name in self.dependencies:
                return self.dependencies[name]
        return None

    @property
    def backend(self) -> Fact[str] | None:
        return self.has(BACKEND_DEPENDENCIES)

    @property
    def frontend(self) -> Fact[str] | None:
        return self.has(FRONTEND_DEPENDENCIES)

    @property
    def mongo(self) -> Fact[str] | None:
        return self.has(MONGO_DEPENDENCIES)


def read_package(folder: Path, root: Path) -> Package:
    manifest = folder / "package.json"
    rel_dir = relative(folder, root) or "."
    rel_manifest = relative(manifest, root)
    try:
        if manifest.stat().st_size > MAX_MANIFEST_BYTES:
            return Package(folder, rel_dir, rel_manifest, None, problem="is larger than 1 MiB")
        text = manifest.read_text(encoding="utf-8-sig")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        return Package(folder, rel_dir, rel_manifest, None, problem=f"cannot be read ({exc})")
    except json.JSONDecodeError as exc:
        return Package(folder, rel_dir, rel_manifest, None, problem=f"is not valid JSON (line {exc.lineno}: {exc.msg})")
    if not isinstance(data, dict):
        return Package(folder, rel_dir, rel_manifest, None, problem="is not a JSON object")
    lines = _KeyLines(text)
    dependencies: dict[str, Fact[str]] = {}
    for section in _SECTIONS:
        entries = data.get(section)
        if isinstance(entries, dict):
            for dep, version in entries.items():
                if isinstance(dep, str) and dep not in dependencies:
                    said = f'"{dep}": "{version}"' if isinstance(version, str) else f'"{dep}"'
                    dependencies[dep] = Fact(str(version), rel_manifest, lines.find(section, dep), said)
    scripts: dict[str, Fact[str]] = {}
    raw_scripts = data.get("scripts")
    if isinstance(raw_scripts, dict):
        for script, command in raw_scripts.items():
            if isinstance(script, str) and isinstance(command, str):
                line = lines.find("scripts", script)
                scripts[script] = Fact(command, rel_manifest, line, f'"{script}": "{command}"')
    engines = data.get("engines")
    engines_node = None
    if isinstance(engines, dict) and isinstance(engines.get("node"), str):
        engines_node = Fact(
            engines["node"], rel_manifest, lines.find("engines", "node"), f'"node": "{engines["node"]}"'
        )
    workspaces = data.get("workspaces")
    if isinstance(workspaces, dict):  # yarn's {"packages": [...]}
        workspaces = workspaces.get("packages")
    globs = tuple(w for w in workspaces if isinstance(w, str)) if isinstance(workspaces, list) else ()
    main = data.get("main") if isinstance(data.get("main"), str) else None
    name = data.get("name") if isinstance(data.get("name"), str) else None
    return Package(folder, rel_dir, rel_manifest, name, dependencies, scripts, engines_node, main, globs)


class _KeyLines:
    """Line numbers of keys in JSON text: ``find("scripts", "dev")`` is the line of ``"dev":``
    after the line of ``"scripts":`` (good enough for package.json's flat sections)."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def find(self, section: str, key: str) -> int:
        start = self._index(f'"{section}"', 0)
        if start is None:
            return 0
        found = self._index(f'"{key}"', start)
        return found + 1 if found is not None else start + 1

    def _index(self, needle: str, start: int) -> int | None:
        pattern = re.compile(re.escape(needle) + r"\s*:")
        for index in range(start, len(self._lines)):
            if pattern.search(self._lines[index]):
                return index
        return None


def find_packages(root: Path) -> list[Package]:
    """The project's packages: the root's, its workspaces', and the usual sub-folders'."""
    folders: list[Path] = []

    def add(folder: Path) -> None:
        if folder not in folders and (folder / "package.json").is_file() and "node_modules" not in folder.parts:
            folders.append(folder)

    add(root)
    globs: list[str] = []
    if (root / "package.json").is_file():
        globs += list(read_package(root, root).workspaces)
    globs += _pnpm_workspaces(root)
    for pattern in globs:
        if pattern.startswith("!") or ".." in Path(pattern).parts:
            continue
        for match in sorted(root.glob(pattern.rstrip("/"))):
            if match.is_dir():
                add(match)
            if len(folders) >= MAX_PACKAGES:
                break
    for name in USUAL_FOLDERS:
        add(root / name)
    apps = root / "apps"
    if apps.is_dir():
        for child in sorted(apps.iterdir()):
            add(child)
    return [read_package(folder, root) for folder in folders[:MAX_PACKAGES]]


def _pnpm_workspaces(root: Path) -> list[str]:
    path = root / "pnpm-workspace.yaml"
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.debug("cannot read %s: %r", path, exc)
        return []
    packages = data.get("packages") if isinstance(data, dict) else None
    return [p for p in packages if isinstance(p, str)] if isinstance(packages, list) else []


def is_project(folder: Path) -> bool:
    """A JavaScript project: a package.json here or in one of the usual sub-folders."""
    if (folder / "package.json").is_file():
        return True
    if any((folder / name / "package.json").is_file() for name in USUAL_FOLDERS):
        return True
    apps = folder / "apps"
    return apps.is_dir() and any((child / "package.json").is_file() for child in _children(apps))


def _children(folder: Path) -> list[Path]:
    try:
        return [child for child in folder.iterdir() if child.is_dir()]
    except OSError:
        return []


def find_root(start: Path, max_up: int = 8) -> Path | None:
    """The root of the JavaScript project ``start`` is in, or None.

    The nearest folder (``start`` or above) that is a project; then up while that folder is
    one of the usual sub-folders of a parent that is a project too (``app/server`` belongs to
    ``app``), an ``apps/*`` package, or a workspace of a folder above it.
    """
    start = start.resolve()
    candidate = next((f for f in [start, *start.parents][: max_up + 1] if is_project(f)), None)
    if candidate is None:
        return None
    for _ in range(max_up):
        parent = candidate.parent
        owner = next((a for a in list(candidate.parents)[:3] if _in_workspaces(a, candidate)), None)
        if owner is not None:
            candidate = owner
        elif candidate.name in USUAL_FOLDERS and is_project(parent):
            candidate = parent
        elif parent.name == "apps" and is_project(parent.parent):
            candidate = parent.parent
        else:
            break
    return candidate


def _in_workspaces(parent: Path, child: Path) -> bool:
    globs = list(read_package(parent, parent).workspaces) if (parent / "package.json").is_file() else []
    globs += _pnpm_workspaces(parent)
    for pattern in globs:
        if pattern.startswith("!") or ".." in Path(pattern).parts:
            continue
        if any(match.resolve() == child for match in parent.glob(pattern.rstrip("/"))):
            return True
    return False


#: Vite's CLI options that take a value (``packages/vite/src/node/cli.ts``: ``--config <file>``;
#: ``--host [host]``, ``--open [path]``, ``--debug [feat]``, ``--clearScreen [boolean]`` take the
#: next word when it does not start with -, as cac's argument parser does)
_VITE_VALUE = {"-c", "--config", "--base", "-l", "--logLevel", "-m", "--mode", "-f", "--filter", "--port"}
_VITE_VALUE |= {"--configLoader", "--outDir", "--assetsDir", "--sourcemap", "--minify", "--emptyOutDir"}
_VITE_OPTIONAL = {"--host", "--open", "-d", "--debug", "--clearScreen"}
#: Vite's commands that are not its dev server (``vite``, ``vite serve``, ``vite dev``)
_VITE_NOT_DEV = {"build", "preview", "optimize"}
_SHELL_BREAK = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class ViteCli:
    """How a script runs Vite's dev server: ``vite [root] [-c FILE]`` (paths as written)."""

    config: str | None
    root: str | None


def vite_cli(command: str) -> ViteCli | None:
    """What a script's command tells about Vite's dev server, or None when it does not run it (no
    ``vite`` in it, or ``vite build`` / ``vite preview`` / ``vite optimize``). Reads ``--config
    FILE``, ``-c FILE``, ``--config=FILE`` and the root (``vite client``, ``vite serve client``),
    as Vite's CLI (cac) does; ``cross-env X=1 vite`` and ``npx vite`` count, the part after a
    shell ``&&`` or ``|`` does not belong to it."""
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        words = command.split()
    start = next((i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] in ("vite", "vite.js")), None)
    if start is None:
        return None
    config: str | None = None
    positional: list[str] = []
    args = words[start + 1 :]
    args = args[: next((i for i, w in enumerate(args) if w in _SHELL_BREAK), len(args))]
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if not word.startswith("-"):
            positional.append(word)
            continue
        name, eq, value = word.partition("=")
        following = args[index] if index < len(args) else None
        takes = name in _VITE_VALUE or (name in _VITE_OPTIONAL and following is not None and following[:1] != "-")
        if name in ("-c", "--config"):
            config = value if eq else following
        if takes and not eq:
            index += 1
    if positional and positional[0] in _VITE_NOT_DEV:
        return None
    if positional and positional[0] in ("serve", "dev"):
        positional = positional[1:]
    return ViteCli(config or None, positional[0] if positional else None)


def start_script(package: Package, role: str) -> Fact[str] | None:
    """The script that starts ``package`` as ``role`` ("backend" or "frontend").

    A frontend's is the first of client, dev, start that runs Vite's dev server (not ``vite
    build`` or ``vite preview``); a backend's the first of dev, server, start that does not run
    vite (in a package that is both, ``server``/``client`` first).
    """
    both = package.backend is not None and package.frontend is not None
    if role == "frontend":
        order = ("client", "dev", "start")
        present = [package.scripts[s] for s in order if s in package.scripts]
        fits = [fact for fact in present if vite_cli(fact.value) is not None]
        if fits:
            return fits[0]
        return None if both else next((f for f in present if "vite" not in f.value), None)
    order = ("server", "dev", "start") if both else ("dev", "start", "server")
    return next(
        (package.scripts[s] for s in order if s in package.scripts and "vite" not in package.scripts[s].value),
        None,
    )


def runner(package: Package, root: Path) -> str:
    """The package manager that runs its scripts, from the lockfile beside it or at the root."""
    for folder in (package.dir, root):
        if (folder / "pnpm-lock.yaml").is_file():
            return "pnpm"
        if (folder / "yarn.lock").is_file():
            return "yarn"
        if (folder / "package-lock.json").is_file():
            return "npm"
    return "npm"
