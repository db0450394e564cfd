"""Adding, editing, duplicating and removing one ``[[service]]`` table of ``trayapp.toml`` (issue #11,
section 2: the Services tab of the Settings window), keeping everything else byte for byte.

Only the lines of the table being changed are rewritten, by tomlkit (so the comments inside that
table and the style of the keys left alone stay as written); every other line of the file, its
comments and blank lines included, is copied as it was. A table's lines are its ``[[service]]``
header, its keys (and ``[service.x]`` sub-tables), and the block of comment lines written right
above its header (which read as the table's own: removing the table removes them; a comment at
the very top of the file is the file's and stays). After each change the new text is read back
and compared, key by key, with what was meant; a file whose layout defeats this (a multi-line
string that looks like a header) gets a sentence instead of a wrong edit.

Before it is written (atomically, see :func:`trayapp.config.edit._write_atomically`) the whole
new text is validated by :func:`trayapp.config.load.parse_config`, the validator of the file, and
by the caller's ``check`` (the tray adds its ``[[project]]`` services there). A mistake raises
that :class:`ConfigError`; its ``field`` names the key, so a form can show it beside the field.
The file is left as it was.

Which file: the config file in use. With none in use (the built-in default, or a project
discovered in the folder trayapp was started in), the first change writes the file trayapp will
read next time, seeded with what it watches now: the project's ``trayapp.toml`` for a discovered
project (what ``trayapp init`` writes there), else ``trayapp.toml`` in the user's config dir
(:func:`trayapp.config.load.user_config_path`) seeded with the built-in default. A file already
there is used as it is, never overwritten. Services discovered from a ``[[project]]`` folder
have no table to edit: :func:`read_only_reason` says so.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from trayapp.config.edit import _write_atomically
from trayapp.config.load import (
    _COMMON_KEYS,
    _KIND_KEYS,
    DEFAULT_TOML,
    Config,
    ConfigError,
    ServiceConfig,
    parse_config,
    user_config_path,
)
from trayapp.model import Kind

Values = Mapping[str, object]
#: run on the validated config before the file is written (e.g. adding ``[[project]]`` services); may raise ConfigError
Check = Callable[[Config], Config]


@dataclass(frozen=True)
class Field:
    """One key of a ``[[service]]`` table as a form shows it.

    ``shape``: "text" (a string), "number" (int or float), "bool", "kind" (one of the kinds),
    "list" (strings, written comma-separated), "lines" (paths, one a line), "env" (NAME=value
    lines). ``kinds``: the kinds it applies to (empty: every kind). ``hint``: the default or an
    example, as the README gives it.
    """

    key: str
    label: str
    shape: str
    group: str  # "service" | "target" | "check" | "relations" | "process"
    kinds: tuple[Kind, ...] = ()
    hint: str = ""

    def applies_to(self, kind: Kind) -> bool:
        return not self.kinds or kind in self.kinds


#: every key a [[service]] may have (tests/test_service_tables.py holds this to load.py's key sets)
FIELDS: tuple[Field, ...] = (
    Field("name", "Name", "text", "service", hint="unique, e.g. backend"),
    Field("kind", "Kind", "kind", "service"),
    Field("url", "URL", "text", "target", (Kind.HTTP,), "http://127.0.0.1:5000/api/health"),
    Field("tls_ca_file", "TLS CA file", "text", "target", (Kind.HTTP,), "https:// only: a PEM file, e.g. rootCA.pem"),
    Field("tls_verify", "Verify TLS certificate", "bool", "target", (Kind.HTTP,), "https:// only (default on)"),
    Field("host", "Host", "text", "target", (Kind.TCP,), "127.0.0.1"),
    Field("port", "Port", "number", "target", (Kind.TCP,), "e.g. 5173"),
    Field("uri", "URI", "text", "target", (Kind.MONGO,), "mongodb://127.0.0.1:27017"),
    Field("interval", "Interval (s)", "number", "check", hint="2.0"),
    Field("timeout", "Timeout (s)", "number", "check", hint="2.0"),
    Field("down_after", "Down after (checks)", "number", "check", hint="2"),
    Field("slow_ms", "Slow after (ms)", "number", "check", hint="1000"),
    Field("log", "Log files", "lines", "check", hint="one path a line, e.g. logs/app.log"),
    Field("depends_on", "Depends on", "list", "relations", hint="service names, comma-separated"),
    Field("proxy_path", "Proxy path", "text", "relations", (Kind.HTTP, Kind.TCP), "/api/health"),
    Field("proxy_to", "Proxy to", "text", "relations", (Kind.HTTP, Kind.TCP), "the service behind the proxy"),
    Field("stale_after_checks", "Stale after (checks)", "number", "relations", hint="3"),
    Field("start", "Start command", "text", "process", hint="e.g. npm run dev (empty: trayapp does not run it)"),
    Field("shell", "Run through the shell", "bool", "process", hint="default off"),
    Field("cwd", "Working folder", "text", "process", hint="default: the config file's folder"),
    Field("env_file", "Env file", "text", "process", hint="e.g. .env"),
    Field("env", "Environment", "env", "process", hint="NAME=value, one a line"),
    Field("stop_signal", "Stop signal", "text", "process", hint="SIGTERM"),
    Field("stop_timeout", "Stop timeout (s)", "number", "process", hint="10"),
    Field("start_timeout", "Start timeout (s)", "number", "process", hint="30"),
    Field("autorestart", "Restart after a crash", "bool", "process", hint="default off"),
)
FIELD = {f.key: f for f in FIELDS}
#: the keys the validator knows (load.py): the form shows exactly these
KNOWN_KEYS = frozenset(_COMMON_KEYS).union(*_KIND_KEYS.values())


@dataclass(frozen=True)
class ServiceEdit:
    """A change written to ``path``: ``config`` is the validated config of the new file (after
    ``check``), ``name`` the service added, edited or duplicated (None after a removal), ``created``
    whether the file was written for the first time (seeded, see the module docstring)."""

    path: Path
    config: Config
    name: str | None
    created: bool
    what: str  # one sentence for people: "Added backend-2 to /home/u/.config/trayapp/trayapp.toml."


# -- what the form shows ----------------------------------------------------------------------


def text_of(field: Field, value: object) -> str:
    """A written value as the form shows it ("" when the key is not written)."""
    if value is None:
        return ""
    if field.shape == "list":
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if field.shape == "lines":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if field.shape == "env" and isinstance(value, dict):
        return "\n".join(f"{k}={_plain(v)}" for k, v in value.items())
    if field.shape == "text" and isinstance(value, list):  # start = ["node", "server.js"]
        import shlex

        return shlex.join(str(v) for v in value)
    return _plain(value)


def value_of(field: Field, text: str) -> object:
    """What the form's text writes for ``field``: None (the key is left out) for empty text.

    No checking here beyond the shape: text that is not a number stays text, so the validator
    says what is wrong with it (``must be a number of seconds, not 'abc'``).
    """
    text = text.strip()
    if not text:
        return None
    if field.shape == "number":
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
        return text
    if field.shape == "bool":
        return text.lower() in ("true", "1", "yes", "on")
    if field.shape == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if field.shape == "lines":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[0] if len(lines) == 1 else lines
    if field.shape == "env":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not all("=" in line for line in lines):
            return text  # not a table: the validator says what env must be
        return {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in lines)}
    return text


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_only_reason(config: Config, name: str) -> str | None:
    """Why service ``name`` cannot be edited, removed or duplicated here, or None when it can.

    Services discovered from a ``[[project]]`` entry come from that project's files, not from a
    table of the config file.
    """
    service = _service(config, name)
    if service is None or service.source != "discovered" or config.path is None:
        return None
    project = next((p for p in config.projects if name.startswith(f"{p.name}-")), None)  # named <project>-<service>
    folder = project.path if project is not None else service.folder or "a project folder"
    return (
        f"{name} is discovered in {folder}, listed under [[project]] in {config.path}: change it in that "
        "project's files (or run `trayapp init` there and edit its trayapp.toml), or remove the [[project]] "
        "entry from the config file."
    )


def service_values(config: Config, name: str) -> dict[str, object]:
    """The keys of service ``name``'s table as written (plain values; a built-in default or a
    discovered project: as the file would be seeded). Raises ConfigError (read-only, or gone)."""
    path, text, _created = _file_of(config)
    tables = _tables(text, path)
    table = next((t for t in tables if t.name == name), None)
    if table is None:
        raise _missing(config, path, name)
    return dict(table.values)


def unique_name(base: str, taken: Iterable[str]) -> str:
    """``base`` with the first free ``-N`` suffix (N from 2): "backend" -> "backend-2"; "backend-2" -> "backend-3"."""
    names = set(taken)
    stem, _, number = base.rpartition("-")
    start = int(number) + 1 if stem and number.isdigit() else 2
    stem = stem if stem and number.isdigit() else base
    n = start
    while f"{stem}-{n}" in names:
        n += 1
    return f"{stem}-{n}"


# -- the four changes ----------------------------------------------------------------------------


def add_service(config: Config, values: Values, *, check: Check | None = None) -> ServiceEdit:
    """Append a ``[[service]]`` table with ``values`` (None values left out) after the last one."""
    path, text, created = _file_of(config)
    tables = _tables(text, path)
    new = _render(_written(values))
    nl = _newline(text)
    if tables:
        at = tables[-1].keys_end
        before, after = text[:at], text[at:]
        new_text = before + _ending(before, nl) + nl + new.replace("\n", nl) + _gap(after, nl) + after
    else:
        new_text = text + _ending(text, nl) + (nl if text.strip() else "") + new.replace("\n", nl)
    name = str(values.get("name") or "")
    expected = [t.values for t in tables] + [_written(values)]
    return _finish(path, text, new_text, expected, name, created, check, f"Added {name} to {path}.")


def replace_service(config: Config, name: str, values: Values, *, check: Check | None = None) -> ServiceEdit:
    """Set service ``name``'s table to ``values`` (a new name renames it; None leaves a key out).

    Keys whose value is unchanged are not touched (their comments and style stay). A rename also
    renames the service in the other tables' ``depends_on`` and ``proxy_to``, which otherwise
    would name a service that is gone.
    """
    path, text, created = _file_of(config)
    tables = _tables(text, path)
    index = next((i for i, t in enumerate(tables) if t.name == name), None)
    if index is None:
        raise _missing(config, path, name)
    wanted = _written(values)
    new_name = str(wanted.get("name", name))
    pieces: list[tuple[int, int, str]] = [(tables[index].start, tables[index].keys_end, "")]
    expected: list[dict[str, Any]] = []
    for i, table in enumerate(tables):
        if i == index:
            pieces[0] = (table.start, table.keys_end, _edit(text[table.start : table.keys_end], wanted, path))
            expected.append(wanted)
            continue
        renamed = _renamed_refs(table.values, name, new_name) if new_name != name else table.values
        if renamed != table.values:
            changes = {k: renamed[k] for k in ("depends_on", "proxy_to") if renamed.get(k) != table.values.get(k)}
            pieces.append((table.start, table.keys_end, _edit(text[table.start : table.keys_end], changes, path, True)))
        expected.append(renamed)
    new_text = _splice(text, pieces)
    what = f"Saved {new_name} to {path}." if new_name == name else f"Renamed {name} to {new_name} in {path}."
    return _finish(path, text, new_text, expected, new_name, created, check, what)


def duplicate_service(config: Config, name: str, *, check: Check | None = None) -> ServiceEdit:
    """Copy service ``name``'s table right after it, named with the first free ``-N`` (``backend-2``)."""
    path, text, created = _file_of(config)
    tables = _tables(text, path)
    index = next((i for i, t in enumerate(tables) if t.name == name), None)
    if index is None:
        raise _missing(config, path, name)
    table = tables[index]
    taken = {t.name for t in tables} | {s.name for s in config.services}
    copy_name = unique_name(name, taken)
    copied = _edit(text[table.header : table.keys_end], {"name": copy_name}, path, True)
    nl = _newline(text)
    at = table.keys_end
    before, after = text[:at], text[at:]
    new_text = before + _ending(before, nl) + nl + copied + _ending(copied, nl) + _gap(after, nl) + after
    values = dict(table.values, name=copy_name)
    expected = [t.values for t in tables[: index + 1]] + [values] + [t.values for t in tables[index + 1 :]]
    return _finish(path, text, new_text, expected, copy_name, created, check, f"Added {copy_name}, a copy of {name}.")


def remove_service(config: Config, name: str, *, check: Check | None = None) -> ServiceEdit:
    """Remove service ``name``'s table (its lines and the comment block right above it).

    A service another one names in ``depends_on`` or ``proxy_to`` is not removed: the validator's
    sentence says which one needs it.
    """
    path, text, created = _file_of(config)
    tables = _tables(text, path)
    index = next((i for i, t in enumerate(tables) if t.name == name), None)
    if index is None:
        raise _missing(config, path, name)
    table = tables[index]
    end = table.keys_end
    while end < len(text) and text[end:].startswith(("\n", "\r\n")):  # the blank lines after it
        end += 1 if text[end] == "\n" else 2
    if end >= len(text):  # the last table: the blank lines before it go with it
        start = table.lead
        while start > 0 and text[:start].endswith(("\n\n", "\r\n\r\n")):
            start -= 2 if text[:start].endswith("\r\n") else 1
        new_text = text[:start]
    else:
        new_text = text[: table.lead] + text[end:]
    expected = [t.values for i, t in enumerate(tables) if i != index]
    return _finish(path, text, new_text, expected, None, created, check, f"Removed {name} from {path}.")


def preview_service(config: Config, values: Values, name: str | None = None) -> ServiceConfig:
    """The service ``values`` make, validated as if written (replacing ``name``, or added): for a
    Test before Save. Nothing is written. Raises ConfigError."""
    path, text, _created = _file_of(config)
    tables = _tables(text, path)
    wanted = _written(values)
    others = [t.values for t in tables if t.name != name]
    document = tomlkit.document()
    services = tomlkit.aot()
    for raw in [*others, wanted]:
        services.append(_table(raw))
    document.append("service", services)
    try:
        projects = tomllib.loads(text).get("project", [])
    except tomllib.TOMLDecodeError:
        projects = []
    if projects:
        document.append("project", tomlkit.item(projects))
    parsed = parse_config(tomlkit.dumps(document), str(path))
    return parsed.service(str(wanted.get("name", "")))


# -- the file and its tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    name: str
    lead: int  # offset of the comment block right above the header (= header when none)
    header: int  # offset of the [[service]] line
    keys_end: int  # offset just after its last key line (comments and blank lines after it excluded)
    values: dict[str, Any]

    @property
    def start(self) -> int:
        return self.header


_SERVICE_HEADER = re.compile(r"\s*\[\[\s*service\s*\]\]\s*(#.*)?$")
_SUB_HEADER = re.compile(r"\s*\[\[?\s*service\s*\.")  # [service.env]: part of the table above
_ANY_HEADER = re.compile(r"\s*\[")


def _file_of(config: Config) -> tuple[Path, str, bool]:
    """(the file to change, its text now, whether it does not exist yet and the text is the seed)."""
    if config.path is not None:
        path = config.path
    else:
        path = Path(config.save_path) if config.save_path else user_config_path()
    try:
        return path, path.read_bytes().decode("utf-8"), False
    except FileNotFoundError:
        if config.path is not None:
            raise ConfigError(str(path), "no such file (it was moved or removed)") from None
        return path, config.text or DEFAULT_TOML, True
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from None


def _tables(text: str, path: Path) -> list[_Table]:
    """Each ``[[service]]`` table's place in ``text`` and its values (checked against tomllib)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"is not valid TOML, so trayapp will not change it ({exc})") from None
    raw = data.get("service", [])
    if not isinstance(raw, list):
        raise ConfigError(str(path), "'service' must be written as [[service]] tables", field="service")
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    kinds = _line_kinds(lines)
    headers = [i for i, k in enumerate(kinds) if k == "service"]
    if len(headers) != len(raw):
        raise _unsafe(path)
    found: list[_Table] = []
    for number, (h, values) in enumerate(zip(headers, raw, strict=True)):
        end = h + 1
        while end < len(lines) and kinds[end] not in ("service", "header"):
            end += 1
        last = h
        for i in range(h + 1, end):
            if kinds[i] in ("key", "sub"):
                last = i
        lead = h
        while lead > 0 and kinds[lead - 1] == "comment":
            lead -= 1
        if lead == 0 and number == 0:  # the comment at the top of the file is the file's
            lead = h
        found.append(_Table(str(values.get("name", "")), offsets[lead], offsets[h], offsets[last + 1], values))
    for table in found:  # each piece must hold just its own table
        try:
            piece = tomllib.loads(text[table.header : table.keys_end]).get("service")
        except tomllib.TOMLDecodeError:
            raise _unsafe(path) from None
        if piece != [table.values]:
            raise _unsafe(path)
    return found


def _line_kinds(lines: list[str]) -> list[str]:
    """Each line: "service" ([[service]]), "sub" ([service.x]), "header" (any other table),
    "comment", "blank" or "key" (a key line, or a line inside a multi-line string or array)."""
    kinds: list[str] = []
    open_string: str | None = None
    depth = 0  # brackets open in a multi-line array or inline value
    for line in lines:
        if open_string is not None or depth > 0:
            kinds.append("key")
        elif not line.strip():
            kinds.append("blank")
        elif line.lstrip().startswith("#"):
            kinds.append("comment")
        elif _SERVICE_HEADER.match(line):
            kinds.append("service")
        elif _SUB_HEADER.match(line):
            kinds.append("sub")
        elif _ANY_HEADER.match(line):
            kinds.append("header")
        else:
            kinds.append("key")
        open_string, depth = _scan(line, open_string, depth, kinds[-1])
    return kinds


def _scan(line: str, open_string: str | None, depth: int, kind: str) -> tuple[str | None, int]:
    """Whether a multi-line string or bracket stays open after ``line`` (strings and comments skipped)."""
    if kind in ("service", "sub", "header", "comment", "blank") and open_string is None and depth == 0:
        return None, 0
    i = 0
    while i < len(line):
        if open_string is not None:
            close = line.find(open_string, i)
            if close < 0:
                return open_string, depth
            i = close + 3
            open_string = None
            continue
        ch = line[i]
        if line.startswith(('"""', "'''"), i):
            open_string = line[i : i + 3]
            i += 3
        elif ch in "\"'":
            close = i + 1
            while close < len(line) and line[close] != ch:
                close += 2 if ch == '"' and line[close] == "\\" else 1
            i = close + 1
        elif ch == "#":
            break
        else:
            depth += (ch in "[{") - (ch in "]}")
            i += 1
    return open_string, max(depth, 0)


def _unsafe(path: Path) -> ConfigError:
    return ConfigError(
        str(path),
        "is laid out in a way trayapp cannot change safely (a [[service]] line inside a multi-line string?); "
        "edit it in your editor",
    )


def _missing(config: Config, path: Path, name: str) -> ConfigError:
    reason = read_only_reason(config, name)
    if reason is not None:
        return ConfigError(str(path), reason.removeprefix(f"{name} "), name)
    return ConfigError(str(path), "is not in this file any more", name)


def _service(config: Config, name: str) -> ServiceConfig | None:
    return next((s for s in config.services if s.name == name), None)


def _written(values: Values) -> dict[str, Any]:
    """The keys to write: ``name`` and ``kind`` first, then the rest in the form's order; None left out."""
    order = {f.key: i for i, f in enumerate(FIELDS)}
    keys = sorted((k for k, v in values.items() if v is not None), key=lambda k: order.get(k, len(order)))
    return {k: values[k] for k in keys}


def _table(values: Mapping[str, Any]) -> Any:
    table = tomlkit.table()
    for key, value in values.items():
        table[key] = _item(value)
    return table


def _item(value: object) -> Any:
    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        inline.update(value)
        return inline
    return value


def _render(values: Mapping[str, Any]) -> str:
    document = tomlkit.document()
    services = tomlkit.aot()
    services.append(_table(values))
    document.append("service", services)
    return tomlkit.dumps(document)


def _edit(piece: str, wanted: Mapping[str, Any], path: Path, partial: bool = False) -> str:
    """``piece`` (one table's lines) with its keys set to ``wanted`` by tomlkit: unchanged keys are not
    touched; keys not in ``wanted`` are removed unless ``partial``."""
    try:
        document = tomlkit.parse(piece)
    except TOMLKitError:
        raise _unsafe(path) from None
    table = document["service"][0]
    now = table.unwrap()
    for key in list(now):
        if key not in wanted and not partial:
            del table[key]
    for key, value in wanted.items():
        if now.get(key) != value:
            table[key] = _item(value)
    return tomlkit.dumps(document)


def _renamed_refs(values: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    renamed = dict(values)
    depends = values.get("depends_on")
    if isinstance(depends, str) and depends == old:
        renamed["depends_on"] = new
    elif isinstance(depends, list) and old in depends:
        renamed["depends_on"] = [new if d == old else d for d in depends]
    if values.get("proxy_to") == old:
        renamed["proxy_to"] = new
    return renamed


def _splice(text: str, pieces: list[tuple[int, int, str]]) -> str:
    out, at = [], 0
    for start, end, new in sorted(pieces):
        out += [text[at:start], new]
        at = end
    return "".join(out) + text[at:]


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _ending(text: str, nl: str) -> str:
    """A line break if ``text`` does not end with one."""
    return "" if not text or text.endswith("\n") else nl


def _gap(after: str, nl: str) -> str:
    """A blank line between a new table and what follows it, unless there is one already."""
    return "" if not after.strip() or after.startswith(("\n", "\r\n")) else nl


def _finish(
    path: Path,
    old_text: str,
    new_text: str,
    expected: list[dict[str, Any]],
    name: str | None,
    created: bool,
    check: Check | None,
    what: str,
) -> ServiceEdit:
    """Validate ``new_text`` (the file's validator, then ``check``), make sure it says what was meant,
    and write it. Raises ConfigError (nothing written) or OSError."""
    try:
        services = tomllib.loads(new_text).get("service", [])
    except tomllib.TOMLDecodeError:
        raise _unsafe(path) from None
    if services != expected:
        raise _unsafe(path)
    config = parse_config(new_text, str(path))
    if check is not None:
        config = check(config)
    if new_text != old_text or created:
        _write_atomically(path, new_text)
    return ServiceEdit(path, config, name, created, what)


__all__ = [
    "FIELD",
    "FIELDS",
    "KNOWN_KEYS",
    "Field",
    "ServiceEdit",
    "add_service",
    "duplicate_service",
    "preview_service",
    "read_only_reason",
    "remove_service",
    "replace_service",
    "service_values",
    "text_of",
    "unique_name",
    "value_of",
]
