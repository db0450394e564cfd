"""What a health endpoint's body says about the service and its dependencies.

A pure function, no I/O: :func:`read_health_body` takes the raw body and content type
of an HTTP answer and returns a :class:`HealthReport`. It understands the shapes seen
in the wild:

* Express-style ad-hoc bodies: ``{"status": "ok", "db": "disconnected"}``, with
  ``db``/``database``/``mongo``/``mongodb``/``redis``... values that are words
  (connected, down, error...), booleans, Mongoose ``readyState`` numbers or nested
  objects with a ``status``/``state`` key;
* NestJS Terminus (``status``, ``info``, ``error``, ``details``);
* Spring Boot Actuator (``UP``/``DOWN``/``OUT_OF_SERVICE``/``UNKNOWN``, nested
  ``components``, failure text in ``details.error``);
* the IETF health-check draft (``application/health+json``: ``pass``/``warn``/``fail``
  and ``checks`` of ``"component:measurement"`` to lists of objects).

Whatever the input, it never raises: a body that is not a JSON object says nothing.

:func:`body_excerpt` is how any body is shown in a sentence: markup (an HTML error page such
as Express's ``<pre>Cannot GET /api/health</pre>``) by its visible text, read with the
standard library's :mod:`html.parser`, never with its tags; anything else as one line of
plain text. Strings read out of a JSON body get the same treatment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

OK = "ok"
DEGRADED = "degraded"
DOWN = "down"
_RANK = {OK: 0, DEGRADED: 1, DOWN: 2}

#: longest fragment shown for one dependency, and most fragments per list
MAX_FRAGMENT = 120
MAX_FRAGMENTS = 5
#: bodies larger than this are not parsed (a health body is a few hundred bytes)
MAX_BODY = 1024 * 1024

_MAX_DEPTH = 8  # nested Spring components
_MAX_ITEMS = 200  # keys/list items looked at per level
_MAX_NAME = 40
_MAX_DETAIL = 200  # before the whole fragment is capped

_WORDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ok",
            "up",
            "pass",
            "passed",
            "passing",
            "healthy",
            "connected",
            "green",
            "success",
            "successful",
            "online",
            "ready",
            "available",
            "running",
            "good",
            "alive",
            "true",
        ),
        OK,
    ),
    **dict.fromkeys(
        (
            "degraded",
            "warn",
            "warning",
            "warnings",
            "yellow",
            "partial",
            "partially_available",
            "connecting",
            "reconnecting",
        ),
        DEGRADED,
    ),
    **dict.fromkeys(
        (
            "down",
            "error",
            "errored",
            "err",
            "fail",
            "failed",
            "failure",
            "failing",
            "unhealthy",
            "disconnected",
            "disconnecting",
            "not_connected",
            "red",
            "critical",
            "ko",
            "out_of_service",
            "unavailable",
            "offline",
            "dead",
            "timeout",
            "timed_out",
            "refused",
            "shutting_down",
            "uninitialized",
            "unauthorized",
            "stopped",
            "close",
            "closed",
            "end",
            "false",
        ),
        DOWN,
    ),
}

#: Mongoose ``connection.readyState`` (mongoose's lib/connectionState.js; 4 "unauthorized" only up to mongoose 4)
_READY_STATES = {
    0: "disconnected",
    1: "connected",
    2: "connecting",
    3: "disconnecting",
    4: "unauthorized",
    99: "uninitialized",
}
#: words (as shown) that say a dependency is on its way up rather than failed: mongoose's readyState 2,
#: a driver's reconnect loop
CONNECTING_WORDS = frozenset(("connecting", "reconnecting"))

#: key names (normalised, suffix stripped) whose scalar value is a dependency's state
_DEPENDENCY_NAMES = frozenset(
    (
        "db",
        "database",
        "mongo",
        "mongodb",
        "mongoose",
        "redis",
        "cache",
        "postgres",
        "postgresql",
        "pg",
        "mysql",
        "mariadb",
        "sql",
        "sqlite",
        "rabbitmq",
        "amqp",
        "queue",
        "broker",
        "elasticsearch",
        "kafka",
        "memcached",
        "storage",
        "s3",
    )
)
_NAME_SUFFIXES = ("readystate", "status", "state", "connection", "connected", "health")
#: keys whose value is a collection of dependencies
_CONTAINERS = frozenset(("checks", "dependencies", "services", "entries", "components", "results", "details"))
#: keys inside a dependency object that carry its state
_STATE_KEYS = ("status", "state", "readystate", "health")
_BOOL_STATE_KEYS = ("connected", "healthy", "ok", "up", "alive")
#: keys inside a dependency object (or its ``details``/``error`` object) that explain a failure
_DETAIL_KEYS = ("message", "error", "output", "reason", "description", "exception", "err", "cause", "details")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class HealthReport:
    """What a health body reports.

    ``status`` is the overall verdict, the worse of the body's own ``status`` and what
    its dependencies say: "ok" | "degraded" | "down", or None when the body says
    nothing we understand. ``failing`` / ``connecting`` / ``warning`` are plain-text
    fragments such as ``"db: disconnected"``, ``"db: connecting"`` or
    ``"mongo: down (connect ECONNREFUSED 127.0.0.1:27017)"``: the dependencies (or named
    checks) reported down, still connecting, and with a warning.
    """

    status: str | None
    failing: tuple[str, ...] = ()
    warning: tuple[str, ...] = ()
    #: the body's own top-level status word as sent (e.g. "error", "DOWN", "fail"), cleaned and capped
    raw_status: str | None = None
    #: a top-level ``message``/``error``/``output`` string, cleaned and capped
    message: str | None = None
    #: dependencies reported as connecting or reconnecting (mongoose's readyState 2)
    connecting: tuple[str, ...] = ()
    #: the body's own top-level verdict alone ("ok" | "degraded" | "down"), None when it gives none
    own: str | None = None


NOTHING = HealthReport(None)


@dataclass(frozen=True)
class _Dep:
    name: str
    level: str  # OK | DEGRADED | DOWN
    word: str  # what to show after the name: "disconnected", "down", "fail"
    detail: str | None = None

    def fragment(self) -> str:
        text = f"{self.name}: {self.word}"
        if self.detail and self.detail.lower() != self.word.lower():
            text += f" ({self.detail})"
        return _cap(text, MAX_FRAGMENT)


def read_health_body(body: bytes | bytearray | memoryview | str | None, content_type: str | None) -> HealthReport:
    """Read a health body; never raises. A body that is not a JSON object gives ``HealthReport(None)``."""
    try:
        doc = _parse(body)
        if not isinstance(doc, dict):
            return NOTHING
        return _read(doc, _is_health_json(content_type))
    except Exception:  # a hostile body must never take the checker down
        return NOTHING


def _is_health_json(content_type: str | None) -> bool:
    return isinstance(content_type, str) and content_type.split(";", 1)[0].strip().lower() == "application/health+json"


def _parse(body: object) -> object:
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
        if len(raw) > MAX_BODY:
            return None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
    elif isinstance(body, str):
        if len(body) > MAX_BODY:
            return None
        text = body.lstrip("\ufeff")
    else:
        return None
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _read(doc: dict[Any, Any], health_json: bool) -> HealthReport:
    keys = _lower_keys(doc)
    raw_status: str | None = None
    explicit: str | None = None
    for key in ("status", "state", "health", "healthy", "ok"):
        if key in keys:
            explicit, raw_status = _top_status(key, keys[key])
            if explicit is not None or raw_status is not None:
                break

    if isinstance(keys.get("error"), dict) and ("info" in keys or "details" in keys):
        deps = _terminus(keys)
    elif isinstance(keys.get("components"), dict):
        deps = list(_spring(keys["components"], "", 0))
    else:
        deps = list(_generic(doc, health_json))

    levels = [dep.level for dep in deps]
    if explicit is not None:
        levels.append(explicit)
    status = max(levels, key=_RANK.__getitem__) if levels else None
    failing = _fragments(dep for dep in deps if dep.level == DOWN)
    connecting = _fragments(dep for dep in deps if dep.level == DEGRADED and dep.word in CONNECTING_WORDS)
    warning = _fragments(dep for dep in deps if dep.level == DEGRADED and dep.word not in CONNECTING_WORDS)
    message = next(
        (
            _cap(_clean(keys[k]), MAX_FRAGMENT)
            for k in ("message", "error", "output")
            if isinstance(keys.get(k), str) and _clean(keys[k])
        ),
        None,
    )
    return HealthReport(status, failing, warning, raw_status, message, connecting, explicit)


def _top_status(key: str, value: object) -> tuple[str | None, str | None]:
    """(normalised level, the word as sent) of a top-level status value."""
    if isinstance(value, bool):
        return (OK if value else DOWN), str(value).lower()
    if key == "ok" and isinstance(value, int) and value in (0, 1):  # {"ok": 1}
        return (OK if value else DOWN), str(value)
    if isinstance(value, str):
        return _WORDS.get(_word_key(value)), _cap(_clean(value), _MAX_NAME) or None
    return None, None


# --- dialects --------------------------------------------------------------------------------------------------------


def _terminus(keys: dict[str, Any]) -> list[_Dep]:
    """NestJS Terminus: failing indicators are under ``error``; ``details`` holds all of them."""
    deps = []
    for name, value in _items(keys["error"]):
        dep = _dep_from_value(name, value, readystate=False)
        if dep is None or dep.level == OK:  # listed under "error", so it failed, whatever it says
            dep = _Dep(_name(name), DOWN, DOWN, _detail(value) if isinstance(value, dict) else None)
        deps.append(dep)
    if not deps and isinstance(keys.get("details"), dict):
        deps = [d for name, value in _items(keys["details"]) if (d := _dep_from_value(name, value, False))]
    return deps


def _spring(components: object, prefix: str, depth: int) -> Iterator[_Dep]:
    """Spring Boot Actuator components; a composite reports its failing leaves, or itself if none are."""
    if depth > _MAX_DEPTH:
        return
    for name, value in _items(components):
        path = f"{prefix}{name}"
        nested = _lower_keys(value).get("components") if isinstance(value, dict) else None
        if isinstance(nested, dict):
            leaves = list(_spring(nested, f"{path}/", depth + 1))
            if any(leaf.level != OK for leaf in leaves):
                yield from leaves
                continue
        dep = _dep_from_value(path, value, readystate=False)
        if dep is not None:
            yield dep


def _generic(doc: dict[Any, Any], health_json: bool) -> Iterator[_Dep]:
    """Express-style bodies, old Spring Boot 1.x, IETF ``checks`` and other ``checks``-like collections."""
    for key, value in _items(doc):
        low = key.lower()
        if low in ("status", "state", "health", "healthy", "ok", "message", "error", "output"):
            continue
        if low in _CONTAINERS and isinstance(value, (dict, list)):
            yield from _container(value, health_json)
        elif _is_dependency_name(key) and not isinstance(value, (dict, list)):
            dep = _dep_from_value(key, value, readystate=True)
            if dep is not None:
                yield dep
        elif isinstance(value, dict) and _has_state(value):
            dep = _dep_from_value(key, value, readystate=_is_dependency_name(key))
            if dep is not None:
                yield dep


def _container(value: object, health_json: bool) -> Iterator[_Dep]:
    if isinstance(value, list):  # [{"name": "mongo", "status": "down"}, ...]
        for item in value[:_MAX_ITEMS]:
            if isinstance(item, dict):
                item_keys = _lower_keys(item)
                name = next(
                    (
                        item_keys[k]
                        for k in ("name", "component", "componentid", "id", "key")
                        if isinstance(item_keys.get(k), str)
                    ),
                    None,
                )
                if name is not None:
                    dep = _dep_from_value(name, item, readystate=False)
                    if dep is not None:
                        yield dep
        return
    for name, entry in _items(value):
        shown = _ietf_name(name) if health_json or isinstance(entry, list) else name
        if isinstance(entry, list):  # IETF: "component:measurement" -> [{"status": ..., "output": ...}, ...]
            for item in entry[:_MAX_ITEMS]:
                dep = _dep_from_value(shown, item, readystate=False)
                if dep is not None:
                    yield dep
        else:
            dep = _dep_from_value(shown, entry, readystate=_is_dependency_name(name))
            if dep is not None:
                yield dep


# --- one dependency --------------------------------------------------------------------------------------------------


def _dep_from_value(name: str, value: object, readystate: bool) -> _Dep | None:
    """Interpret one dependency's value (word, boolean, readyState number or object); None if it says nothing."""
    shown = _name(name)
    if isinstance(value, dict):
        keys = _lower_keys(value)
        for key in _STATE_KEYS:
            if key in keys and not isinstance(keys[key], (dict, list)):
                dep = _dep_from_value(name, keys[key], readystate=readystate or key == "readystate")
                if dep is not None:
                    return _Dep(shown, dep.level, dep.word, _detail(value))
        for key in _BOOL_STATE_KEYS:
            if isinstance(keys.get(key), bool):
                level = OK if keys[key] else DOWN
                return _Dep(shown, level, "up" if keys[key] else "down", _detail(value))
        return None
    if isinstance(value, bool):
        return _Dep(shown, OK if value else DOWN, "up" if value else "down")
    if isinstance(value, int) and not isinstance(value, bool):
        word = _READY_STATES.get(value) if readystate else None
        return _Dep(shown, _WORDS[word], word) if word is not None else None
    if isinstance(value, str):
        found = _WORDS.get(_word_key(value))
        if found is None:
            return None
        return _Dep(shown, found, _cap(_clean(value).lower().replace("_", " "), _MAX_NAME))
    return None


def _detail(obj: dict[Any, Any], depth: int = 0) -> str | None:
    """The first explanatory string in a dependency object (``message``, ``error``, ``details.error``...)."""
    keys = _lower_keys(obj)
    for key in _DETAIL_KEYS:
        value = keys.get(key)
        if isinstance(value, str) and _clean(value):
            return _cap(_clean(value), _MAX_DETAIL)
        if isinstance(value, dict) and depth < 2:
            inner = _detail(value, depth + 1)
            if inner:
                return inner
    observed = keys.get("observedvalue")  # IETF health+json: "observedValue": 91, "observedUnit": "%"
    if isinstance(observed, (int, float, str)) and not isinstance(observed, bool):
        unit = keys.get("observedunit")
        return _cap(_clean(f"{observed} {unit}" if isinstance(unit, str) else str(observed)), _MAX_DETAIL) or None
    return None


def _has_state(obj: dict[Any, Any]) -> bool:
    keys = _lower_keys(obj)
    return any(k in keys for k in _STATE_KEYS) or any(isinstance(keys.get(k), bool) for k in _BOOL_STATE_KEYS)


# --- text helpers ----------------------------------------------------------------------------------------------------


def _items(obj: object) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for index, (key, value) in enumerate(obj.items()):
            if index >= _MAX_ITEMS:
                return
            yield str(key), value


def _lower_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for key, value in _items(obj):
        keys.setdefault(key.lower(), value)
    return keys


def _word_key(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower())[:40]


def _is_dependency_name(key: str) -> bool:
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    if name in _DEPENDENCY_NAMES:
        return True
    for suffix in _NAME_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in _DEPENDENCY_NAMES:
            return True
    return False


def _ietf_name(key: str) -> str:
    """``"mongodb:connections"`` -> ``"mongodb connections"``."""
    return " ".join(part for part in key.split(":") if part) or key


def _name(key: str) -> str:
    return _cap(_clean(key), _MAX_NAME) or "?"


def _clean(text: str) -> str:
    """One line of plain text: control characters and runs of space folded, markup read as its text."""
    if "<" in text and (summary := markup_text(text)) is not None:
        text = summary
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fragments(deps: Iterable[_Dep]) -> tuple[str, ...]:
    seen: list[str] = []
    for dep in deps:
        fragment = dep.fragment()
        if fragment not in seen:
            seen.append(fragment)
    if len(seen) > MAX_FRAGMENTS:
        seen = seen[: MAX_FRAGMENTS - 1] + [f"and {len(seen) - MAX_FRAGMENTS + 1} more"]
    return tuple(seen)


# --- markup ----------------------------------------------------------------------------------------------------------

#: HTML element names (WHATWG). A tag of one of these makes a text markup; other words in angle
#: brackets (``<anonymous>`` in a Node stack trace, ``<number>`` in a message) stay text.
_HTML_TAGS = frozenset(
    """a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption center
    cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure
    font footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label legend li link
    main map mark menu meta meter nav noscript object ol optgroup option output p picture pre progress q rp rt
    ruby s samp script search section select slot small source span strong style sub summary sup svg table tbody
    td template textarea tfoot th thead time title tr track u ul var video wbr""".split()
)
#: elements whose content is never shown (scripts, styles, inline images' markup)
_HIDDEN_TAGS = frozenset(("script", "style", "template", "noscript", "svg", "iframe", "object", "select"))
#: elements that start a new line of text
_BLOCK_TAGS = frozenset(
    """address article aside blockquote body br center dd details dialog div dl dt fieldset figcaption figure
    footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li main nav ol p pre section summary table tbody td tfoot
    th thead tr ul""".split()
)
_MARKUP_TYPES = ("text/html", "application/xhtml+xml", "text/xml", "application/xml")


class _TextOf(HTMLParser):
    """The visible text of markup, line by line, and its title."""

    def __init__(self, any_tag: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.any_tag = any_tag  # XML: every tag is markup
        self.markup = False
        self.lines: list[list[str]] = [[]]
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def _known(self, tag: str) -> bool:
        if self.any_tag or tag in _HTML_TAGS:
            self.markup = True
            return True
        return False

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.markup = True

    def handle_comment(self, data: str) -> None:
        self.markup = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._known(tag):
            self._text(self.get_starttag_text() or "")
        elif tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _BLOCK_TAGS:
            self.lines.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._known(tag):
            self._text(self.get_starttag_text() or "")
        elif tag in _BLOCK_TAGS:
            self.lines.append([])

    def handle_endtag(self, tag: str) -> None:
        if not self._known(tag):
            self._text(f"</{tag}>")
        elif tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK_TAGS:
            self.lines.append([])

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        else:
            self._text(data)

    def _text(self, data: str) -> None:
        if not self._hidden:
            self.lines[-1].append(data)


def markup_text(text: str, *, any_tag: bool = False) -> str | None:
    """The visible text of ``text`` if it is markup (HTML, or any tags with ``any_tag``), else None.

    Lines (block elements, ``<br>``) are joined with " · "; script and style are left out; the
    ``<title>`` stands in when the page shows no text; after the first line, lines of a stack
    trace (``at fn (file:1:2)``, as Express's error page shows them) are left out. Entities are
    decoded. "" for markup with no text at all. Never raises.
    """
    parser = _TextOf(any_tag)
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; a hostile body must still not raise
        return None
    if not parser.markup:
        return None
    lines = [line for part in parser.lines if (line := _SPACES.sub(" ", "".join(part)).strip())]
    lines = lines[:1] + [line for line in lines[1:] if not line.startswith("at ")]
    if not lines:
        title = _SPACES.sub(" ", "".join(parser.title)).strip()
        return title
    return " · ".join(lines)


def body_excerpt(body: bytes | str, content_type: str | None = None, limit: int = 120) -> str:
    """A body as one line of plain text for a sentence: markup by its visible text (see
    :func:`markup_text`), anything else with control characters and runs of space folded; capped at
    ``limit`` characters. Markup is told by its content type or, when a server mislabels it, by a
    first character ``<`` followed by HTML tags."""
    text = body if isinstance(body, str) else bytes(body[:MAX_BODY]).decode("utf-8", errors="replace")
    text = text.lstrip("\ufeff")
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in _MARKUP_TYPES or text.lstrip().startswith("<"):
        summary = markup_text(text, any_tag=kind.endswith("xml"))
        if summary is not None:
            return _cap(_SPACES.sub(" ", _CONTROL.sub(" ", summary)).strip(), limit)
    return _cap(_SPACES.sub(" ", _CONTROL.sub(" ", text)).strip(), limit)
