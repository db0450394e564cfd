"""Reading JavaScript and TypeScript source without running it (tree-sitter).

What discovery and the doctor need from a project's code: which environment variables it
reads (``process.env.X``, ``process.env['X']``, ``const { A, B } = process.env``,
``import.meta.env.VITE_X``) and whether each read has a fallback, a port's fallback literal
(``process.env.PORT || 5000``), ``.listen(port, host)`` calls, ``mongodb://`` literals, route
paths (``app.get('/api/health', ...)``), and the literal parts of a Vite config's ``server``
block. Everything comes with its 1-based line. tree-sitter is error-tolerant, so a file with
a syntax error still yields what can be read; nothing here raises for bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Tree

log = logging.getLogger(__name__)

#: a source file larger than this is not read (generated bundles, vendored code)
MAX_SOURCE_BYTES = 512 * 1024

_TYPESCRIPT = Language(tree_sitter_typescript.language_typescript())
#: TSX is a superset of JavaScript with JSX: the grammar for .js, .jsx, .mjs, .cjs and .tsx
_TSX = Language(tree_sitter_typescript.language_tsx())
JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")


@dataclass(frozen=True)
class Source:
    path: Path
    text: bytes
    tree: Tree

    def line(self, node: Node) -> int:
        return node.start_point[0] + 1

    def code(self, node: Node, limit: int = 80) -> str:
        text = " ".join(self.text[node.start_byte : node.end_byte].decode("utf-8", "replace").split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


def parse(path: Path) -> Source | None:
    """The parsed file, or None when it cannot be read or is too large to be hand-written code."""
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        text = path.read_bytes()
    except OSError as exc:
        log.debug("cannot read %s: %r", path, exc)
        return None
    language = _TYPESCRIPT if path.suffix in (".ts", ".mts", ".cts") else _TSX
    return Source(path, text, Parser(language).parse(text))


def walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


# --------------------------------------------------------------------------- literals


def _unwrap(node: Node | None) -> Node | None:
    """``(x)``, ``x as T``, ``x satisfies T``, ``x!`` -> ``x``."""
    while node is not None and node.type in (
        "parenthesized_expression",
        "as_expression",
        "satisfies_expression",
        "non_null_expression",
    ):
        node = node.named_children[0] if node.named_children else None
    return node


def string_value(node: Node | None) -> str | None:
    """The text of a string literal or a template literal without substitutions."""
    node = _unwrap(node)
    if node is None:
        return None
    if node.type == "string":
        return "".join(_text(c) for c in node.named_children if c.type in ("string_fragment", "escape_sequence"))
    if node.type == "template_string" and not any(c.type == "template_substitution" for c in node.children):
        return "".join(_text(c) for c in node.named_children if c.type in ("string_fragment", "escape_sequence"))
    return None


def literal(node: Node | None, source: Source | None = None) -> str | int | float | bool | None:
    """A number, string or boolean literal (through parentheses and type assertions, and one
    ``const NAME = literal`` when ``source`` is given); None for anything computed."""
    node = _unwrap(node)
    if node is None:
        return None
    if node.type == "number":
        text = _text(node).replace("_", "")
        try:
            return int(text, 0)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return None
    if node.type in ("true", "false"):
        return node.type == "true"
    string = string_value(node)
    if string is not None:
        return string
    if node.type == "identifier" and source is not None:
        declared = _const_value(source, _text(node))
        if declared is not None and declared.type != "identifier":
            return literal(declared)
    return None


def _const_value(source: Source, name: str) -> Node | None:
    for node in walk(source.tree.root_node):
        if node.type == "lexical_declaration" and node.children and node.children[0].type == "const":
            for declarator in node.named_children:
                name_node = declarator.child_by_field_name("name")
                if name_node is not None and name_node.type == "identifier" and _text(name_node) == name:
                    return declarator.child_by_field_name("value")
    return None


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


# --------------------------------------------------------------------------- environment reads


@dataclass(frozen=True)
class EnvRead:
    """One read of an environment variable in code."""

    name: str
    line: int
    #: read with a fallback (``|| x``, ``?? x``, a destructuring default): unset is not a problem
    fallback: bool
    code: str


def _is_process_env(node: Node | None) -> bool:
    node = _unwrap(node)
    if node is None or node.type != "member_expression":
        return False
    obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
    return obj is not None and prop is not None and _text(obj) == "process" and _text(prop) == "env"


def _is_import_meta_env(node: Node | None) -> bool:
    node = _unwrap(node)
    if node is None or node.type != "member_expression":
        return False
    obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
    return obj is not None and prop is not None and obj.type == "meta_property" and _text(prop) == "env"


def _has_fallback(node: Node) -> bool:
    """``node`` (or a call or cast wrapped around it) is the left side of ``||`` / ``??``."""
    current = node
    while current.parent is not None:
        parent = current.parent
        if parent.type == "binary_expression":
            operator = parent.child_by_field_name("operator")
            if operator is not None and _text(operator) in ("||", "??"):
                return parent.child_by_field_name("left") == current
            return False
        if parent.type in ("parenthesized_expression", "as_expression", "non_null_expression", "arguments"):
            current = parent
        elif parent.type == "call_expression" and current.type == "arguments":  # Number(process.env.X) || 1
            current = parent
        else:
            return False
    return False


def env_reads(source: Source, meta: bool = False) -> list[EnvRead]:
    """Reads of ``process.env`` (or with ``meta``, of ``import.meta.env``), in file order."""
    is_env = _is_import_meta_env if meta else _is_process_env
    found: list[EnvRead] = []
    for node in walk(source.tree.root_node):
        if node.type == "member_expression" and is_env(node.child_by_field_name("object")):
            prop = node.child_by_field_name("property")
            if prop is not None and prop.type == "property_identifier":
                found.append(EnvRead(_text(prop), source.line(node), _has_fallback(node), source.code(node)))
        elif node.type == "subscript_expression" and is_env(node.child_by_field_name("object")):
            name = string_value(node.child_by_field_name("index"))
            if name:
                found.append(EnvRead(name, source.line(node), _has_fallback(node), source.code(node)))
        elif node.type == "variable_declarator" and is_env(node.child_by_field_name("value")):
            pattern = node.child_by_field_name("name")
            if pattern is not None and pattern.type == "object_pattern":
                found += _destructured(source, pattern)
    found.sort(key=lambda r: r.line)
    return found


def _destructured(source: Source, pattern: Node) -> list[EnvRead]:
    reads = []
    for child in pattern.named_children:
        if child.type == "shorthand_property_identifier_pattern":
            reads.append(EnvRead(_text(child), source.line(child), False, source.code(pattern)))
        elif child.type == "object_assignment_pattern":  # { PORT = 3000 }
            left = child.child_by_field_name("left")
            if left is not None:
                reads.append(EnvRead(_text(left), source.line(child), True, source.code(pattern)))
        elif child.type == "pair_pattern":  # { DB: uri } or { DB: uri = "x" }
            key = child.child_by_field_name("key")
            value = child.child_by_field_name("value")
            name = string_value(key) if key is not None and key.type == "string" else (_text(key) if key else None)
            if name:
                defaulted = value is not None and value.type == "assignment_pattern"
                reads.append(EnvRead(name, source.line(child), defaulted, source.code(pattern)))
    return reads


# --------------------------------------------------------------------------- server code


@dataclass(frozen=True)
class Located:
    """A literal found in code, with its line and the code around it."""

    value: str | int
    line: int
    code: str


def port_fallbacks(source: Source, variable: str = "PORT") -> list[Located]:
    """``process.env.PORT || 5000`` and its forms (``Number(process.env.PORT) || 5000``,
    ``process.env.PORT ?? '5000'``, ``const { PORT = 5000 } = process.env``): the literal port."""
    found: list[Located] = []
    for node in walk(source.tree.root_node):
        if node.type == "binary_expression":
            operator = node.child_by_field_name("operator")
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if operator is None or _text(operator) not in ("||", "??") or left is None:
                continue
            port = _port_literal(literal(right, source))
            if port is not None and any(r.name == variable for r in _reads_in(source, left)):
                found.append(Located(port, source.line(node), source.code(node)))
        elif node.type == "variable_declarator" and _is_process_env(node.child_by_field_name("value")):
            pattern = node.child_by_field_name("name")
            for child in pattern.named_children if pattern is not None else []:
                left = child.child_by_field_name("left")
                if child.type == "object_assignment_pattern" and left is not None and _text(left) == variable:
                    port = _port_literal(literal(child.child_by_field_name("right"), source))
                    if port is not None:
                        found.append(Located(port, source.line(child), source.code(child)))
    return found


def _reads_in(source: Source, node: Node) -> list[EnvRead]:
    reads = []
    for inner in walk(node):
        if inner.type == "member_expression" and _is_process_env(inner.child_by_field_name("object")):
            prop = inner.child_by_field_name("property")
            if prop is not None:
                reads.append(EnvRead(_text(prop), source.line(inner), True, ""))
        elif inner.type == "subscript_expression" and _is_process_env(inner.child_by_field_name("object")):
            name = string_value(inner.child_by_field_name("index"))
            if name:
                reads.append(EnvRead(name, source.line(inner), True, ""))
    return reads


def _port_literal(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 1 <= value <= 65535 else None


@dataclass(frozen=True)
class ListenCall:
    """``server.listen(port, host)`` (or fastify's ``listen({ port, host })``) as far as literal."""

    line: int
    code: str
    port: int | None
    host: str | None


def listen_calls(source: Source) -> list[ListenCall]:
    found = []
    for node in walk(source.tree.root_node):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        prop = function.child_by_field_name("property") if function is not None else None
        if function is None or function.type != "member_expression" or prop is None or _text(prop) != "listen":
            continue
        arguments = node.child_by_field_name("arguments")
        args = [a for a in (arguments.named_children if arguments else []) if a.type != "comment"]
        port: int | None = None
        host: str | None = None
        if args and _unwrap(args[0]) is not None and _unwrap(args[0]).type == "object":  # type: ignore[union-attr]
            fields = _object_fields(args[0])
            port = _port_literal(literal(fields.get("port"), source))
            host_value = literal(fields.get("host"), source)
            host = host_value if isinstance(host_value, str) else None
        else:
            port = _port_literal(literal(args[0], source)) if args else None
            host_value = literal(args[1], source) if len(args) > 1 else None
            host = host_value if isinstance(host_value, str) else None
        found.append(ListenCall(source.line(node), source.code(node), port, host))
    return found


def mongo_literals(source: Source) -> list[Located]:
    """String literals that are MongoDB connection strings."""
    found = []
    for node in walk(source.tree.root_node):
        if node.type in ("string", "template_string"):
            text = string_value(node)
            if text and text.startswith(("mongodb://", "mongodb+srv://")):
                found.append(Located(text, source.line(node), ""))
    return found


ROUTE_METHODS = frozenset({"get", "all", "head", "route"})


def route_paths(source: Source, wanted: tuple[str, ...]) -> list[Located]:
    """``x.get('/health', ...)``-style route definitions whose path is one of ``wanted``."""
    found = []
    for node in walk(source.tree.root_node):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        prop = function.child_by_field_name("property") if function is not None else None
        if prop is None or _text(prop) not in ROUTE_METHODS:
            continue
        arguments = node.child_by_field_name("arguments")
        first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
        path = string_value(first)
        if path in wanted and function is not None:
            found.append(Located(path, source.line(node), f"{source.code(function)}('{path}')"))
    return found


# --------------------------------------------------------------------------- vite config


@dataclass(frozen=True)
class Setting:
    """One ``server`` setting of a Vite config: its literal value if it has one, else the code."""

    line: int
    value: str | int | float | bool | None
    code: str

    @property
    def read(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class ProxyEntry:
    path: str
    line: int
    #: the target as written when literal (a string, or an object's ``target``)
    target: str | None
    target_line: int
    target_code: str
    rewrite: bool


@dataclass
class ViteServer:
    """What a Vite config's ``server`` block says, as far as it can be read without running it."""

    found: bool = False  # a ``server: {...}`` block exists
    line: int = 0
    port: Setting | None = None
    host: Setting | None = None
    proxy: list[ProxyEntry] = field(default_factory=list)
    proxy_line: int = 0
    #: settings whose value is computed (``Number(process.env.PORT)``): name -> code
    unread: dict[str, str] = field(default_factory=dict)


def vite_server(source: Source) -> ViteServer:
    """The literal parts of the config's ``server: { port, host, proxy }``."""
    result = ViteServer()
    block = _find_pair(source.tree.root_node, "server")
    if block is None:
        return result
    result.found, result.line = True, source.line(block)
    value = _unwrap(block.child_by_field_name("value"))
    if value is None or value.type != "object":
        if value is not None:
            result.unread["server"] = source.code(value)
        return result
    pairs = _object_pairs(value)
    for key in ("port", "host"):
        pair = pairs.get(key)
        if pair is None:
            continue
        node = pair.child_by_field_name("value") if pair.type == "pair" else pair
        setting = Setting(source.line(pair), literal(node, source), source.code(node) if node else key)
        setattr(result, key, setting)
        if not setting.read:
            result.unread[f"server.{key}"] = setting.code
    proxy = pairs.get("proxy")
    if proxy is not None:
        result.proxy_line = source.line(proxy)
        proxy_value = _unwrap(proxy.child_by_field_name("value")) if proxy.type == "pair" else None
        if proxy_value is None or proxy_value.type != "object":
            result.unread["server.proxy"] = source.code(proxy_value) if proxy_value else "proxy"
        else:
            for path, entry in _object_pairs(proxy_value).items():
                result.proxy.append(_proxy_entry(source, path, entry))
                last = result.proxy[-1]
                if last.target is None:
                    result.unread[f"server.proxy[{path!r}].target"] = last.target_code
    return result


def _proxy_entry(source: Source, path: str, pair: Node) -> ProxyEntry:
    value = _unwrap(pair.child_by_field_name("value")) if pair.type == "pair" else None
    line = source.line(pair)
    if value is None:
        return ProxyEntry(path, line, None, line, path, False)
    if value.type == "object":
        fields = _object_pairs(value)
        target_pair = fields.get("target")
        target_node = target_pair.child_by_field_name("value") if target_pair is not None else None
        target = literal(target_node, source)
        return ProxyEntry(
            path,
            line,
            target if isinstance(target, str) else None,
            source.line(target_pair) if target_pair is not None else line,
            source.code(target_node) if target_node is not None else "(no target)",
            "rewrite" in fields,
        )
    target = literal(value, source)
    return ProxyEntry(path, line, target if isinstance(target, str) else None, line, source.code(value), False)


def _find_pair(root: Node, key: str) -> Node | None:
    for node in walk(root):
        if node.type == "pair" and _key(node) == key:
            return node
    return None


def _key(pair: Node) -> str | None:
    key = pair.child_by_field_name("key")
    if key is None:
        return None
    if key.type in ("string", "template_string"):
        return string_value(key)
    if key.type == "computed_property_name":
        return None
    return _text(key)


def _object_pairs(obj: Node) -> dict[str, Node]:
    """key -> ``pair`` node (or the shorthand identifier node) of an object literal."""
    pairs: dict[str, Node] = {}
    for child in obj.named_children:
        if child.type == "pair":
            key = _key(child)
            if key is not None:
                pairs.setdefault(key, child)
        elif child.type == "shorthand_property_identifier":
            pairs.setdefault(_text(child), child)
    return pairs


def _object_fields(obj: Node) -> dict[str, Node | None]:
    node = _unwrap(obj)
    if node is None:
        return {}
    return {k: (v.child_by_field_name("value") if v.type == "pair" else v) for k, v in _object_pairs(node).items()}
