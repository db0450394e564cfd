"""Hiding credentials before they are shown or logged: in URIs, and in command lines and text
(``--password=…``, ``API_TOKEN=…``, ``Bearer …``).

Done with plain string handling on purpose: pymongo's URI parser performs blocking DNS
lookups for ``mongodb+srv://`` URIs, and a password may hold an unencoded ``@``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

#: URI options whose values are secret (MongoDB connection string options)
SECRET_OPTIONS = frozenset(
    name.lower()
    for name in (
        "authMechanismProperties",
        "tlsCertificateKeyFilePassword",
        "sslClientCertificateKeyPassword",
        "proxyPassword",
        "proxyUsername",
        "password",
    )
)


def _split(uri: str) -> tuple[str, str, str, str] | None:
    """scheme://, userinfo (without '@'), hosts, rest ('/path?query'); None if no '://'."""
    scheme, sep, remainder = uri.partition("://")
    if not sep:
        return None
    # User info ends at the last '@': passwords may hold unencoded '@', '/' and '?',
    # while host lists never hold '@'. When in doubt this hides too much, never too little.
    at = remainder.rfind("@")
    userinfo, hosts_and_rest = (remainder[:at], remainder[at + 1 :]) if at >= 0 else ("", remainder)
    cut = len(hosts_and_rest)
    for ch in "/?#":
        pos = hosts_and_rest.find(ch)
        if pos >= 0:
            cut = min(cut, pos)
    return scheme + "://", userinfo, hosts_and_rest[:cut], hosts_and_rest[cut:]


def redact_uri(uri: str) -> str:
    """The URI with user info and secret query options replaced by ``***``."""
    parts = _split(uri)
    if parts is None:
        return uri
    scheme, userinfo, hosts, rest = parts
    shown = scheme + (MASK + "@" if userinfo else "") + hosts
    path, qmark, query = rest.partition("?")
    if not qmark:
        return shown + rest
    fragment = ""
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + fragment
    options = []
    for option in query.split("&"):
        key, eq, _value = option.partition("=")
        options.append(f"{key}={MASK}" if eq and key.lower() in SECRET_OPTIONS else option)
    return shown + path + "?" + "&".join(options) + fragment


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URI_END = re.compile(r"[\s'\"]")


def redact_text(text: str) -> str:
    """``text`` (a command line, a message) with every URI in it redacted as :func:`redact_uri` does.

    A URI runs from its scheme to the next whitespace or quote: ``MONGO_URL=mongodb://u:pw@h/db``
    becomes ``MONGO_URL=mongodb://***@h/db``.
    """
    if "://" not in text:
        return text
    parts, pos = [], 0
    for match in _SCHEME.finditer(text):
        if match.start() < pos:
            continue  # inside the URI just redacted
        end_match = _URI_END.search(text, match.end())
        end = end_match.start() if end_match else len(text)
        parts += [text[pos : match.start()], redact_uri(text[match.start() : end])]
        pos = end
    return "".join(parts) + text[pos:]


#: a name that says its value is a secret: ``password``, ``DB_PASSWD``, ``client-secret``,
#: ``API_TOKEN``, ``api_key``, ``AWS_SECRET_ACCESS_KEY``, ``private-key``, ``credentials``
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:passw(?:or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)"
    r"[A-Za-z0-9_.-]*"
)
#: ``NAME=value`` / ``--name=value`` / ``name: value`` with such a name; the value quoted or up to whitespace
_ASSIGNED = re.compile(
    rf"(?i)(?P<key>(?<![A-Za-z0-9_.-]){_SECRET_NAME})(?P<sep>=|: ?)(?P<value>\"[^\"]*\"|'[^']*'|[^\s'\"]+)"
)
#: ``--password s3cret`` inside one string (``sh -c "… --password s3cret"``)
_FLAG_SPACED = re.compile(
    rf"(?i)(?P<key>(?<![A-Za-z0-9_.-])--?{_SECRET_NAME})(?P<sep> +)(?P<value>\"[^\"]*\"|'[^']*'|[^\s'\"-][^\s'\"]*)"
)
_BEARER = re.compile(r"(?i)\b(?P<key>bearer|basic)(?P<sep> +)(?P<value>[A-Za-z0-9._~+/=-]{6,})")
#: a flag of its own whose value is the next argument: ``--password s3cret``, ``--token s3cret``
_SECRET_FLAG = re.compile(rf"(?i)--?{_SECRET_NAME}")


def _mask(match: re.Match[str]) -> str:
    value = match["value"]
    if value.startswith(MASK) or value.startswith(("$", "%")):  # already hidden, or a reference
        return match[0]
    return match["key"] + match["sep"] + MASK


def redact_secrets(text: str) -> str:
    """``text`` with the values of secret-named settings and bearer tokens replaced by ``***``
    (``--password=s3cret`` -> ``--password=***``, ``API_TOKEN=abc`` -> ``API_TOKEN=***``).
    When in doubt this hides too much (``tokenizer=bert`` too), never too little."""
    if not text:
        return text
    return _BEARER.sub(_mask, _FLAG_SPACED.sub(_mask, _ASSIGNED.sub(_mask, text)))


def redact_command(argv: Iterable[str]) -> tuple[str, ...]:
    """A command line to show or store, credentials hidden: URIs as :func:`redact_uri` does,
    secret-named settings as :func:`redact_secrets` does (also inside one argument, as in
    ``sh -c "…"``), and the argument after a secret flag of its own (``--password s3cret``)."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            shown.append(MASK)
            hide_next = False
            continue
        hide_next = bool(_SECRET_FLAG.fullmatch(arg))
        shown.append(redact_secrets(redact_text(arg)))
    return tuple(shown)


def uri_secrets(uri: str) -> tuple[str, ...]:
    """The secret strings inside a URI (password, secret option values), raw and decoded."""
    parts = _split(uri)
    if parts is None:
        return ()
    _scheme, userinfo, _hosts, rest = parts
    found: list[str] = []
    if userinfo:
        _user, colon, password = userinfo.partition(":")
        if colon and password:
            found += [password, unquote(password)]
    _path, _q, query = rest.partition("?")
    for option in query.split("&"):
        key, eq, value = option.partition("=")
        if eq and value and key.lower() in SECRET_OPTIONS:
            found += [value, unquote(value)]
            # authMechanismProperties=AWS_SESSION_TOKEN:abc,SERVICE_NAME:x
            found += [v.split(":", 1)[1] for v in unquote(value).split(",") if ":" in v]
    # Longest first, so a secret that contains another is scrubbed whole.
    return tuple(sorted({s for s in found if len(s) >= 3}, key=len, reverse=True))


def mongo_hosts(uri: str) -> tuple[list[tuple[str, int | None]], tuple[str, ...]]:
    """The (host, port) seeds of a MongoDB URI and its secrets, without DNS lookups."""
    parts = _split(uri)
    if parts is None:
        return [], ()
    hosts: list[tuple[str, int | None]] = []
    for seed in parts[2].split(","):
        seed = unquote(seed.strip())
        if not seed:
            continue
        if seed.startswith("["):  # [::1]:27017
            host, _, tail = seed[1:].partition("]")
            port_text = tail.lstrip(":")
        elif seed.count(":") == 1:
            host, _, port_text = seed.partition(":")
        else:
            host, port_text = seed, ""
        try:
            port = int(port_text) if port_text else None
        except ValueError:
            port = -1
        hosts.append((host, port))
    return hosts, uri_secrets(uri)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret in ``text`` with ``***`` (for driver messages that echo them)."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def strip_credentials(uri: str) -> str:
    """The URI without user info and without secret options: what may be written to a config
    file that could be shared (the password stays where the project keeps it)."""
    parts = _split(uri)
    if parts is None:
        return uri
    scheme, _userinfo, hosts, rest = parts
    path, qmark, query = rest.partition("?")
    if not qmark:
        return scheme + hosts + rest
    fragment = ""
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + fragment
    kept = [o for o in query.split("&") if o and o.partition("=")[0].lower() not in SECRET_OPTIONS]
    return scheme + hosts + path + ("?" + "&".join(kept) if kept else "") + fragment
