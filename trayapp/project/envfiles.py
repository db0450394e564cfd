"""``.env`` files: their values with ``file:line`` (python-dotenv's parser), and what is odd in them.

The files are read in the precedence the dotenv tools use (Vite's ``loadEnv``, Next.js,
dotenv-flow): ``.env``, ``.env.local``, ``.env.development``, ``.env.development.local``, a
later file winning over an earlier one. Values are plain text and never leave this module
unredacted through :func:`shown`.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream

from trayapp.config.redact import MASK, redact_uri
from trayapp.project.facts import Fact

log = logging.getLogger(__name__)

#: in precedence order, lowest first
ENV_FILES = (".env", ".env.local", ".env.development", ".env.development.local")
#: the variables a backend's MongoDB connection string is commonly read from, most specific first
URI_KEYS = ("MONGODB_URI", "MONGO_URI", "MONGO_URL", "DATABASE_URL", "DB_URI")
MAX_ENV_BYTES = 256 * 1024
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_?KEY|_KEY$|CREDENTIAL", re.IGNORECASE)


def shown(key: str, value: str | None) -> str:
    """``KEY=value`` as it may be shown: URIs without user info, secret-named keys masked."""
    if value is None:
        return key
    if "://" in value:
        return f"{key}={redact_uri(value)}"
    if _SECRET_NAME.search(key) and value:
        return f"{key}={MASK}"
    return f"{key}={value}"


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str | None  # None: a bare ``KEY`` line (no ``=``)
    file: str  # relative to the project root
    line: int
    #: the value as written (between ``=`` and the line end), for the doctor's look at quoting
    raw: str

    def fact(self) -> Fact[str]:
        return Fact(self.value or "", self.file, self.line, shown(self.key, self.value))


@dataclass(frozen=True)
class EnvFile:
    path: Path
    rel: str
    entries: tuple[EnvEntry, ...] = ()
    bom: bool = False
    crlf: bool = False
    #: (line, text) of lines that are neither ``KEY=value``, a comment nor blank
    bad_lines: tuple[tuple[int, str], ...] = ()
    #: why it could not be read, if it could not
    problem: str | None = None


def read_env_file(path: Path, root: Path) -> EnvFile:
    rel = relative(path, root)
    try:
        if path.stat().st_size > MAX_ENV_BYTES:
            return EnvFile(path, rel, problem=f"is larger than {MAX_ENV_BYTES // 1024} KiB")
        data = path.read_bytes()
    except OSError as exc:
        return EnvFile(path, rel, problem=f"cannot be read ({exc.strerror or exc})")
    bom = data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig", errors="replace")
    entries: list[EnvEntry] = []
    bad: list[tuple[int, str]] = []
    for binding in parse_stream(io.StringIO(text.replace("\r\n", "\n"))):
        original = binding.original.string
        # The parser folds blank lines before a binding into it: count them to find its own line.
        skipped = len(original) - len(original.lstrip("\n"))
        line = binding.original.line + skipped
        own = original.lstrip("\n").rstrip("\n")
        if binding.error:
            bad.append((line, own.splitlines()[0] if own else own))
        elif binding.key is not None:
            if binding.value is None and "=" not in own:
                bad.append((line, own))
                continue
            raw = own.split("=", 1)[1] if "=" in own else ""
            entries.append(EnvEntry(binding.key, binding.value, rel, line, raw))
    return EnvFile(path, rel, tuple(entries), bom=bom, crlf=b"\r\n" in data, bad_lines=tuple(bad))


def env_files(folder: Path, root: Path) -> list[EnvFile]:
    """The dotenv files of ``folder`` that exist, lowest precedence first."""
    return [read_env_file(folder / name, root) for name in ENV_FILES if (folder / name).is_file()]


def merged(files: list[EnvFile]) -> dict[str, EnvEntry]:
    """KEY -> the entry that wins (the last one, in files given lowest precedence first)."""
    winners: dict[str, EnvEntry] = {}
    for env in files:
        for entry in env.entries:
            if entry.value is not None:
                winners[entry.key] = entry
    return winners


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
