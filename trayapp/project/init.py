"""``trayapp init``: a discovery written out as ``trayapp.toml`` (tomlkit), a comment on each
value naming where it came from, and commented-out suggestions for what it could not decide.

The same text is what a discovered stack runs on (:func:`trayapp.project.load.discovered_config`
parses it), so the file ``init`` writes gives the same ``status`` as discovery did.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Table

from trayapp.config.load import BUILTIN, CONFIG_NAME, ConfigError, parse_config
from trayapp.model import Kind
from trayapp.project.discover import DiscoveredService, Discovery
from trayapp.text import shorten_home

#: keys of issue #10 sections 3 and 4 that discovery fills; written as keys only once the
#: config accepts them (else as commented suggestions)
FUTURE_KEYS = ("depends_on", "proxy_path", "proxy_to")


class InitError(Exception):
    """``init`` cannot write: a sentence for the user."""


def render(discovery: Discovery) -> str:
    """The ``trayapp.toml`` text for ``discovery``."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"trayapp.toml for {shorten_home(str(discovery.root))}, written by `trayapp init`"))
    doc.add(tomlkit.comment("from the project's own files. Each value says where it came from; lines that start"))
    doc.add(tomlkit.comment("with '# ' are suggestions trayapp could not decide: uncomment and edit them."))
    for note in discovery.notes:
        doc.add(tomlkit.comment(f"note: {note}"))
    if not discovery.services:
        doc.add(tomlkit.nl())
        doc.add(tomlkit.comment("trayapp found no service to watch; a backend on 5000 would be:"))
        doc.add(tomlkit.comment("[[service]]"))
        doc.add(tomlkit.comment('name = "backend"'))
        doc.add(tomlkit.comment('kind = "http"'))
        doc.add(tomlkit.comment('url = "http://127.0.0.1:5000/api/health"'))
        return tomlkit.dumps(doc)
    services = AoT([])
    for service in discovery.services:
        services.append(_table(service))
    doc.add(tomlkit.nl())
    doc.add("service", services)
    return tomlkit.dumps(doc)


def _table(service: DiscoveredService) -> Table:
    table = tomlkit.table()
    by_key: dict[str, list[str]] = {}
    for p in service.origin:
        by_key.setdefault(p.key, []).append(str(p))
    table.add("name", service.name)
    table.add("kind", _commented(str(service.kind), by_key.get("kind")))
    if service.kind is Kind.MONGO:
        table.add("uri", _commented(service.target, by_key.get("uri")))
    elif service.target:
        said = by_key.get("port", []) + by_key.get("host", []) + by_key.get("url", [])
        table.add("url", _commented(service.target, said))
    else:
        table.add(tomlkit.comment(f'url = "http://127.0.0.1:5000/api/health"  # port unknown: set {service.name}\'s'))
    if service.start_command:
        table.add("start", _commented(service.start_command, by_key.get("start")))
        table.add("cwd", service.cwd or ".")
    for key in FUTURE_KEYS:
        value: object = getattr(service, key)
        if not value:
            continue
        if isinstance(value, tuple):
            value = list(value)
        why = _future_comment(service, key)
        if accepts(key, value):
            table.add(key, _commented(value, [why] if why else None))
        else:
            text = tomlkit.item(value).as_string()
            table.add(tomlkit.comment(f"{key} = {text}  # {why + '; ' if why else ''}not read by this trayapp yet"))
    for note in service.notes:
        table.add(tomlkit.comment(f"note: {note}"))
    return table


def _future_comment(service: DiscoveredService, key: str) -> str:
    if key == "depends_on" and service.role == "backend" and service.depends_on:
        return "its MongoDB URI points at it"
    if key == "depends_on" and service.role == "frontend":
        return "its proxy goes there"
    if key in ("proxy_path", "proxy_to") and service.proxy is not None and service.proxy.target is not None:
        return f"Vite proxy {service.proxy.path} -> {service.proxy.target}"
    return ""


def _commented(value: object, said: list[str] | None) -> object:
    item = tomlkit.item(value)
    if said:
        item.comment("; ".join(said))
    return item


def accepts(key: str, value: object) -> bool:
    """Whether this trayapp's config validator takes ``key = value`` on a dev server (a real parse;
    the services a value names are added beside it)."""
    doc = tomlkit.document()
    aot = AoT([])
    table = tomlkit.table()
    table.add("name", "__init_probe__")
    table.add("kind", "http")
    table.add("url", "http://127.0.0.1:1/")
    table.add(key, value)
    if key in ("proxy_path", "proxy_to"):
        other = "proxy_to" if key == "proxy_path" else "proxy_path"
        table.add(other, "__init_other__" if other == "proxy_to" else "/")
    aot.append(table)
    names = value if isinstance(value, list) else [value] if key == "proxy_to" else []
    for name in {*(n for n in names if isinstance(n, str)), "__init_other__"}:
        other_table = tomlkit.table()
        other_table.add("name", name)
        other_table.add("kind", "tcp")
        other_table.add("port", 1)
        aot.append(other_table)
    doc.add("service", aot)
    try:
        parse_config(tomlkit.dumps(doc), BUILTIN)
    except ConfigError:
        return False
    return True


def write(discovery: Discovery, folder: Path, force: bool = False) -> Path:
    """Write ``folder/trayapp.toml``; never over an existing file unless ``force``.

    The text is validated first (the same parser ``status`` uses), then written atomically.
    """
    path = folder / CONFIG_NAME
    if path.exists() and not force:
        raise InitError(f"{path} already exists; pass --force to overwrite it, or --print to see what init would write")
    text = render(discovery)
    if discovery.services:
        parse_config(text, str(path))  # raises ConfigError naming the field, before anything is written
    fd, tmp = tempfile.mkstemp(prefix=f".{CONFIG_NAME}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
