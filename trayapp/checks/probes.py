"""Health probes: one long-lived probe object per service, each check bounded in time.

Probes never raise for network trouble: every failure is classified into a
:class:`~trayapp.model.Reason` with a short fragment of specifics that the
diagnosis turns into a sentence. They are not thread-safe for concurrent checks of
the same service; the monitor runs at most one check per service at a time.
"""

from __future__ import annotations

import base64
import errno
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import SplitResult, quote, unquote, urlsplit

if TYPE_CHECKING:
    import h11
    import httpx
    import pymongo

    from trayapp.checks.httpx_deadline import Deadline

from trayapp import package_version
from trayapp.checks.health import HealthReport, body_excerpt, read_health_body
from trayapp.config.load import ServiceConfig
from trayapp.config.redact import mongo_hosts, scrub
from trayapp.model import Kind, ProbeOutcome, Reason

log = logging.getLogger(__name__)

#: enough for any health body; more is not read (a health endpoint that streams forever
#: must not make us buffer it)
MAX_BODY = 64 * 1024


class Probe(Protocol):
    def check(self) -> ProbeOutcome: ...

    def reset(self) -> None:
        """Drop pooled connections (after sleep or a network change)."""

    def close(self) -> None: ...


def make_probe(service: ServiceConfig) -> Probe:
    if service.kind is Kind.HTTP:
        return HttpProbe(service)
    if service.kind is Kind.MONGO:
        return MongoProbe(service)
    return TcpProbe(service)


class ResolveError(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def resolve(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """The addresses ``host`` resolves to, in the resolver's order; bounded by ``timeout``."""
    try:
        return (str(ipaddress.ip_address(host.strip("[]"))),)
    except ValueError:
        pass
    # getaddrinfo() has no timeout of its own: it runs on a daemon thread so a hung
    # resolver costs that thread, not the caller's deadline nor the process's exit.
    box: list[object] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            box.append(exc)
        done.set()

    threading.Thread(target=lookup, name="trayapp-dns", daemon=True).start()
    if not done.wait(timeout):
        raise ResolveError(Reason.DNS, f"looking up {host!r} did not finish within {_secs(timeout)}")
    infos = box[0]
    if isinstance(infos, OSError):
        raise ResolveError(Reason.DNS, f"cannot resolve host {host!r} ({infos.strerror or infos})")
    assert isinstance(infos, list)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%")[0], None)
    return tuple(seen)


def _resolve_target(service: ServiceConfig, start: float) -> tuple[tuple[str, ...], int] | ProbeOutcome:
    """The service's addresses and port, or the failed outcome when its host does not resolve."""
    assert service.host is not None and service.port is not None
    try:
        return resolve(service.host, service.port, service.timeout), service.port
    except ResolveError as exc:
        return ProbeOutcome(exc.reason, exc.detail, _ms(start))


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


ACCEPT = "application/health+json, application/json;q=0.9, */*;q=0.5"


class _HttpFailure(Exception):
    """A plain-HTTP check that failed: its reason and fragment of specifics."""

    def __init__(
        self, reason: Reason, detail: str, closed_early: bool = False, cause: BaseException | None = None
    ) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail
        #: the server closed before a whole HTTP head came: maybe it speaks another protocol
        self.closed_early = closed_early
        #: httpx's exception, for the TLS details read from it
        self.cause = cause


class HttpProbe:
    """GET the health URL on a fresh connection per check, bounded by one deadline.

    A plain ``http://`` URL on this machine (the common local stack) is asked with h11, the
    HTTP/1.1 parser under httpcore, over one socket: a third of httpx's CPU per check
    (issue #12, bench/check_cost.py), and no proxy can sit in between. ``https://`` and hosts
    off this machine go through httpx, with environment proxies for those hosts.
    """

    def __init__(self, service: ServiceConfig) -> None:
        assert service.host is not None and service.port is not None
        self._service = service
        parts = urlsplit(service.target)
        self._plain = parts.scheme == "http" and is_loopback(service.host)
        self._parts = parts
        self._request: h11.Request | None = None
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
        self._target = path + (f"?{quote(parts.query, safe='=&%:@!$()*+,;/?~')}" if parts.query else "")
        self._client: httpx.Client | None = None
        self._deadline: Deadline | None = None

    @staticmethod
    def _request_head(parts: SplitResult) -> list[tuple[str, str]]:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        headers = [
            ("Host", host if parts.port in (None, 80) else f"{host}:{parts.port}"),
            ("User-Agent", f"trayapp/{package_version()}"),
            ("Accept", ACCEPT),
            ("Accept-Encoding", "identity"),  # a health body is small; nothing to decompress
            ("Connection", "close"),
        ]
        if parts.username is not None:  # http://user:pass@host/ sends Basic auth, as httpx does
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(token).decode("ascii")))
        return headers

    def _new_client(self) -> httpx.Client:
        import httpx

        from trayapp.checks.httpx_deadline import Deadline, DeadlineBackend

        t = self._service.timeout
        self._deadline = Deadline()
        # A fresh connection per check: a pooled one can be stale after sleep and
        # would hide "refused" behind a reused socket.
        transport = httpx.HTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0), verify=tls_context(self._service)
        )
        # httpx has no public way to give its transport a network backend yet (httpx PR #3749).
        transport._pool._network_backend = DeadlineBackend(self._deadline)  # type: ignore[attr-defined]
        return httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(t),
            # Environment proxies must not sit between us and 127.0.0.1.
            trust_env=not is_loopback(self._service.host or ""),
            follow_redirects=False,
            headers={"User-Agent": f"trayapp/{package_version()}", "Accept": ACCEPT},
        )

    def reset(self) -> None:
        old, self._client = self._client, None
        if old is not None:
            old.close()

    def close(self) -> None:
        self.reset()

    def check(self) -> ProbeOutcome:
        service = self._service
        start = time.perf_counter()
        deadline = start + service.timeout
        resolved = _resolve_target(service, start)
        if isinstance(resolved, ProbeOutcome):
            return resolved
        addresses, port = resolved
        try:
            if self._plain:
                status, reason_phrase, content_type, body = self._get_plain(addresses, port, deadline)
            else:
                status, reason_phrase, content_type, body = self._get_httpx(deadline)
        except _HttpFailure as failure:
            reason, detail = self._recognise_protocol(failure, addresses, port, deadline)
            return ProbeOutcome(reason, scrub(detail, service.secrets), _ms(start), addresses=addresses)
        latency = _ms(start)
        if status == 400 and self._scheme == "http" and _speaks_tls(addresses, port, deadline, service.host):
            # nginx and others answer plain HTTP on a TLS port with "400 The plain HTTP request was sent to HTTPS port"
            reason, detail = Reason.TLS, self._use_other_scheme("TLS (HTTPS), not plain HTTP")
            return ProbeOutcome(reason, scrub(detail, service.secrets), latency, status, addresses)
        reason, detail = read_answer(status, reason_phrase, body, content_type)
        return ProbeOutcome(reason, scrub(detail, service.secrets), latency, status, addresses)

    @property
    def _scheme(self) -> str:
        return self._service.target.split(":", 1)[0].lower()

    def _use_other_scheme(self, speaks: str) -> str:
        other = "http" if self._scheme == "https" else "https"
        url = other + self._service.display_target[len(self._scheme) :]
        return f"speaks {speaks}: use {url} as its url"

    def _recognise_protocol(
        self, failure: _HttpFailure, addresses: tuple[str, ...], port: int, deadline: float
    ) -> tuple[Reason, str]:
        """Look again, within the deadline, at a failure that may be the wrong protocol: a TLS
        server closes (Node) or answers an alert when spoken to in plain HTTP, and a plain HTTP
        server answers a TLS hello with an HTTP 400 or by closing."""
        service = self._service
        reason, detail, exc = failure.reason, failure.detail, failure.cause
        if self._scheme == "http" and reason in (Reason.RESET, Reason.PROTOCOL_ERROR):
            if _speaks_tls(addresses, port, deadline, service.host):
                return Reason.TLS, self._use_other_scheme("TLS (HTTPS), not plain HTTP")
            if reason is Reason.RESET and failure.closed_early:
                return _sniff_non_http(addresses, port, deadline) or (reason, detail)
        if self._scheme == "https" and reason is Reason.TLS and not _cert_error(exc):
            if _speaks_http(addresses, port, deadline):
                return Reason.TLS, self._use_other_scheme("plain HTTP, not TLS")
        if reason is Reason.TLS and (cert := _cert_error(exc)) is not None:
            return Reason.TLS, _untrusted(cert, service)
        return reason, detail

    def _get_httpx(self, deadline: float) -> tuple[int, str, str | None, bytes]:
        """The answer through httpx: status, reason phrase, content type, body (at most MAX_BODY)."""
        if self._client is None:
            self._client = self._new_client()
        import httpx

        assert self._deadline is not None
        self._deadline.at = deadline
        try:
            with self._client.stream("GET", self._service.target) as response:
                body = _read_capped(response.iter_bytes(), deadline)
                return response.status_code, response.reason_phrase, response.headers.get("content-type"), body
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified result
            reason, detail = classify_http_error(exc, self._service.timeout)
            early = reason is Reason.RESET and isinstance(exc, httpx.RemoteProtocolError)
            raise _HttpFailure(reason, detail, early, exc) from None
        finally:
            self._deadline.at = None

    def _get_plain(self, addresses: tuple[str, ...], port: int, deadline: float) -> tuple[int, str, str | None, bytes]:
        """The answer over one socket with h11; every connect, send and read gets what is left of the deadline."""
        import h11

        timeout = self._service.timeout
        sock = _connect_http(addresses, port, deadline, timeout)
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_BODY)
        received = 0
        response: h11.Response | None = None
        body = bytearray()
        try:
            with sock:
                if self._request is None:  # built (and its headers validated) once, sent every check;
                    # here, not in __init__: the version lookup in the User-Agent then runs on the
                    # check's own thread, beside the other checks of a `trayapp status`
                    head = self._request_head(self._parts)
                    self._request = h11.Request(method="GET", target=self._target, headers=head)
                request = conn.send(self._request)
                sock.sendall(request + conn.send(h11.EndOfMessage()))
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        remaining = deadline - time.perf_counter()
                        if remaining <= 0:
                            raise TimeoutError
                        sock.settimeout(remaining)
                        data = sock.recv(65536)
                        received += len(data)
                        conn.receive_data(data)
                    elif isinstance(event, h11.Response):
                        response = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                        if len(body) >= MAX_BODY or time.perf_counter() > deadline:
                            break
                    elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                        break
        except TimeoutError:
            if received:
                raise _HttpFailure(Reason.TIMEOUT, f"did not send a whole answer within {_secs(timeout)}") from None
            raise _HttpFailure(
                Reason.TIMEOUT, f"accepted the connection but did not answer within {_secs(timeout)}"
            ) from None
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            raise _HttpFailure(Reason.RESET, "reset the connection without answering") from None
        except h11.RemoteProtocolError as exc:
            # The server closed before a whole answer (httpx: "Server disconnected without sending
            # a response", or h11's "peer closed connection without sending complete message body"):
            # `reset`, and a look at what it sent; anything else is bytes that are not HTTP.
            if "closed" in str(exc).lower():  # "peer (unexpectedly) closed connection…", "…ConnectionClosed…"
                raise _HttpFailure(Reason.RESET, "closed the connection without answering", True) from None
            raise _HttpFailure(Reason.PROTOCOL_ERROR, f"answered, but not with HTTP ({exc})") from None
        except OSError as exc:
            raise _HttpFailure(Reason.RESET, f"dropped the connection ({exc.strerror or exc})") from None
        except h11.LocalProtocolError as exc:  # a request h11 will not send, e.g. a control character in the URL
            raise _HttpFailure(Reason.ERROR, f"cannot send this request ({exc})") from None
        if response is None:
            raise _HttpFailure(Reason.RESET, "closed the connection without answering", True)
        content_type = next((v.decode("latin-1") for k, v in response.headers if k == b"content-type"), None)
        reason_phrase = response.reason.decode("ascii", errors="replace")
        return response.status_code, reason_phrase, content_type, bytes(body[:MAX_BODY])


def _connect_http(addresses: tuple[str, ...], port: int, deadline: float, timeout: float) -> socket.socket:
    """A connected socket to the first address that accepts, or the failure as httpx words it."""
    failure = _HttpFailure(Reason.REFUSED, "connection refused")
    for address in addresses:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            break
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect((address, port))
            return sock
        except TimeoutError:
            failure = _HttpFailure(Reason.TIMEOUT, f"did not accept the connection within {_secs(timeout)}")
        except ConnectionRefusedError:
            pass
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                failure = _HttpFailure(Reason.ERROR, f"no route to the host ({exc.strerror})")
            else:
                failure = _HttpFailure(Reason.ERROR, f"could not connect ({exc.strerror or exc})")
        sock.close()
    raise failure


def read_answer(status: int, reason_phrase: str, body: bytes, content_type: str | None) -> tuple[Reason, str]:
    """What an HTTP answer means: its status code read together with what its body says.

    A body that names a dependency down or still connecting is ``dependency_down`` whatever the
    code (an Express + mongoose backend answers 503 ``{"db": "connecting"}`` for its whole
    connect window); one that reports the service itself down, with no dependency named, is
    ``unhealthy``; a 2xx that reports a warning (IETF ``warn``, ``degraded``) is ``warning``.
    Otherwise a non-2xx is ``http_status``, with the body shown as plain text (markup by its text).
    """
    report = read_health_body(body, content_type)
    status_text = f"{status} {reason_phrase}".strip()
    if report.failing or report.connecting:
        said = []
        if report.failing:
            said.append("reports a dependency down: " + "; ".join(report.failing))
        if report.connecting:
            lead = "still connecting: " if report.failing else "a dependency is still connecting: "
            said.append(lead + "; ".join(report.connecting))
        return Reason.DEPENDENCY_DOWN, "; ".join(said)
    if report.own == "down":
        return Reason.UNHEALTHY, "reports itself down: " + _own_words(report)
    ok = 200 <= status < 300
    if ok and (report.warning or report.own == "degraded"):
        return Reason.WARNING, "reports a warning: " + ("; ".join(report.warning) or _own_words(report))
    if not ok:
        excerpt = body_excerpt(body, content_type)
        return Reason.HTTP_STATUS, status_text + (f": {excerpt}" if excerpt else "")
    return Reason.OK, status_text


def _own_words(report: HealthReport) -> str:
    said = f"status {report.raw_status or report.own!r}"
    if report.message:
        said += f" ({report.message})"
    if report.warning:
        said += "; warnings: " + "; ".join(report.warning)
    return said


def tls_context(service: ServiceConfig) -> ssl.SSLContext | bool:
    """How an https:// service's certificate is checked: ``tls_verify = false`` not at all; with
    ``tls_ca_file`` against that CA as well as the system's; else httpx's default (certifi)."""
    if not service.tls_verify:
        return False
    if service.tls_ca_file is None:
        return True
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=service.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:  # checked when the config was loaded; the file may have changed since
        log.warning("cannot load tls_ca_file %s of %s: %s", service.tls_ca_file, service.name, exc)
    return context


def _cert_error(exc: BaseException | None) -> ssl.SSLCertVerificationError | None:
    if exc is None:
        return None
    return next((c for c in _causes(exc) if isinstance(c, ssl.SSLCertVerificationError)), None)


#: OpenSSL's X509_V_ERR codes for a certificate issued for another name
_NAME_MISMATCH = {62, 64}  # hostname mismatch, IP address mismatch
_EXPIRED = {10}  # certificate has expired


def _untrusted(cert: ssl.SSLCertVerificationError, service: ServiceConfig) -> str:
    """The sentence fragment for an https:// certificate that did not verify, naming the config keys that help."""
    said = cert.verify_message or cert.reason or str(cert)
    code = cert.verify_code
    if code in _NAME_MISMATCH:
        return (
            f"sent a certificate for another name ({said}): use a host name the certificate names in the url, "
            "or set tls_verify = false for this service"
        )
    if code in _EXPIRED:
        return f"sent an expired certificate ({said}): renew it, or set tls_verify = false for this service"
    if service.tls_ca_file is not None:
        return (
            f"sent a certificate that tls_ca_file {service.tls_ca_file!r} does not vouch for ({said}): point "
            "tls_ca_file at the CA that signed it, or set tls_verify = false for this service"
        )
    return (
        f'sent a certificate that is not trusted ({said}): set tls_ca_file = "PATH" to the CA that signed it '
        "(mkcert's is rootCA.pem in the folder `mkcert -CAROOT` prints), or tls_verify = false for this service"
    )


def _sniff_non_http(addresses: tuple[str, ...], port: int, deadline: float) -> tuple[Reason, str] | None:
    """Tell "closed without answering" from "answered in another protocol".

    httpx reports both as a disconnect when the bytes never form an HTTP head (an SSH
    banner, a database greeting), so look once more with a raw socket, within the
    check's deadline, and quote what the server said.
    """
    head = _peek(addresses, port, deadline)
    if head and not head.startswith(b"HTTP/"):
        return Reason.PROTOCOL_ERROR, f"it answered {_excerpt(head, 60)!r} instead of HTTP"
    return None


def _peek(addresses: tuple[str, ...], port: int, deadline: float) -> bytes | None:
    """The first bytes the server sends back to a plain HTTP request, within the deadline."""
    for address in addresses[:1]:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return None
        try:
            with socket.create_connection((address, port), timeout=remaining) as sock:
                agent = f"User-Agent: trayapp/{package_version()}\r\n".encode("ascii", "replace")
                sock.sendall(b"GET / HTTP/1.1\r\nHost: trayapp\r\n" + agent + b"Connection: close\r\n\r\n")
                sock.settimeout(max(0.01, deadline - time.perf_counter()))
                return sock.recv(256)
        except OSError:
            return None
    return None


def _speaks_http(addresses: tuple[str, ...], port: int, deadline: float) -> bool:
    """Whether the server answers a plain HTTP request with an HTTP answer."""
    head = _peek(addresses, port, deadline)
    return bool(head) and head.startswith(b"HTTP/")  # type: ignore[union-attr]


def _speaks_tls(addresses: tuple[str, ...], port: int, deadline: float, host: str | None) -> bool:
    """Whether the server completes a TLS handshake (certificate not checked), or answers a TLS
    hello with a TLS alert; within the deadline."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    name = None if host is None or _is_ip(host) else host
    for address in addresses[:1]:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        try:
            with socket.create_connection((address, port), timeout=remaining) as raw:
                raw.settimeout(max(0.01, deadline - time.perf_counter()))
                with context.wrap_socket(raw, server_hostname=name):
                    return True
        except ssl.SSLError as exc:
            return "ALERT" in str(exc.reason or "").upper()  # it answered in TLS, just not with a session
        except OSError:
            return False
    return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _read_capped(chunks: Iterator[bytes], deadline: float) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= MAX_BODY or time.perf_counter() > deadline:
            break
    return bytes(body[:MAX_BODY])


def _excerpt(body: bytes, limit: int = 120) -> str:
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_http_error(exc: BaseException, timeout: float) -> tuple[Reason, str]:
    """Turn an httpx exception into a reason and a fragment of specifics."""
    import httpx

    from trayapp.checks.httpx_deadline import DEADLINE_PASSED

    causes = list(_causes(exc))
    if isinstance(exc, httpx.TimeoutException) and str(exc) == DEADLINE_PASSED:
        return Reason.TIMEOUT, f"did not send a whole answer within {_secs(timeout)}"
    if isinstance(exc, httpx.ConnectTimeout):
        return Reason.TIMEOUT, f"did not accept the connection within {_secs(timeout)}"
    if isinstance(exc, httpx.ReadTimeout):
        return Reason.TIMEOUT, f"accepted the connection but did not answer within {_secs(timeout)}"
    if isinstance(exc, httpx.TimeoutException):
        return Reason.TIMEOUT, f"did not answer within {_secs(timeout)}"
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            what = cause.reason or str(cause)
            hint = " (the server may speak plain HTTP: try http://)" if "WRONG_VERSION" in str(what).upper() else ""
            return Reason.TLS, f"failed the TLS handshake ({what}){hint}"
        if isinstance(cause, socket.gaierror):
            return Reason.DNS, f"cannot resolve the host ({cause.strerror})"
        if isinstance(cause, ConnectionRefusedError):
            return Reason.REFUSED, "connection refused"
        if isinstance(cause, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            return Reason.RESET, "reset the connection without answering"
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return Reason.ERROR, f"no route to the host ({cause.strerror})"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in str(exc) or "disconnected" in str(exc).lower():
            return Reason.RESET, "closed the connection without answering"
        return Reason.PROTOCOL_ERROR, f"answered, but not with HTTP ({exc})"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return Reason.RESET, f"dropped the connection ({exc or type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return Reason.ERROR, f"could not connect ({exc})"
    log.debug("unexpected HTTP probe error", exc_info=exc)
    return Reason.ERROR, f"{type(exc).__name__}: {exc}"


def connect_any(addresses: tuple[str, ...], port: int, deadline: float, timeout: float) -> tuple[Reason, str]:
    """Open (and close) a TCP connection to the first address that accepts one."""
    reason, detail = Reason.REFUSED, "connection refused"
    for address in addresses:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            break
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(remaining)
                sock.connect((address, port))
                # Linux lets a loopback connect to a free port in the ephemeral range meet
                # itself (TCP simultaneous open): that is nobody listening, not an answer.
                if sock.getsockname()[:2] == sock.getpeername()[:2]:
                    continue
            return Reason.OK, "accepts connections"
        except TimeoutError:
            reason, detail = Reason.TIMEOUT, f"did not accept the connection within {_secs(timeout)}"
        except ConnectionRefusedError:
            pass
        except OSError as exc:
            reason, detail = Reason.ERROR, f"could not connect ({exc.strerror or exc})"
    return reason, detail


class TcpProbe:
    def __init__(self, service: ServiceConfig) -> None:
        assert service.host is not None and service.port is not None
        self._service = service

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

    def check(self) -> ProbeOutcome:
        service = self._service
        start = time.perf_counter()
        resolved = _resolve_target(service, start)
        if isinstance(resolved, ProbeOutcome):
            return resolved
        addresses, port = resolved
        reason, detail = connect_any(addresses, port, start + service.timeout, service.timeout)
        return ProbeOutcome(reason, detail, _ms(start), addresses=addresses)


class _DeadlineCondition(threading.Condition):
    """The condition pymongo's topology waits on, woken at the deadline of ``pymongo.timeout``.

    Server selection (``Topology._select_servers_loop``, pymongo 4.x) waits on it in steps of
    0.5 s (``common.MIN_HEARTBEAT_INTERVAL``) and looks at its deadline only between them, so a
    ping to a server that does not answer ended up to 0.5 s after the check's deadline: by the
    time from the check's start to the selection's (importing pymongo and making the client,
    57 ms in a fresh ``trayapp status``, more under load) rounded up to a step (issue #12).
    A wait here ends by the deadline of the calling thread's ``pymongo.timeout`` block
    (``pymongo._csot.remaining``), so the selection gives up on time, with no extra wake-ups.
    """

    def wait(self, timeout: float | None = None) -> bool:
        left = _csot_remaining()
        if left is not None and (timeout is None or left < timeout):
            timeout = max(0.0, left) + 0.001  # just past it: the loop compares "now > end"
        return super().wait(timeout)


def _csot_remaining() -> float | None:
    """Seconds left of this thread's ``pymongo.timeout`` block, None outside one (or if this
    pymongo does not say: then its own 0.5 s steps apply)."""
    try:
        from pymongo import _csot
    except ImportError:
        return None
    remaining = getattr(_csot, "remaining", None)
    return remaining() if callable(remaining) else None


class MongoProbe:
    """``ping`` through one long-lived MongoClient, rebuilt on :meth:`reset`."""

    def __init__(self, service: ServiceConfig) -> None:
        self._service = service
        self._client: pymongo.MongoClient[dict[str, object]] | None = None
        seeds, _ = mongo_hosts(service.target)
        self._single_seed = len(seeds) == 1 and service.target.startswith("mongodb://")
        #: the last ping was answered (the client holds a connection to a server it knows)
        self._answered = False

    def _get_client(self) -> pymongo.MongoClient[dict[str, object]]:
        if self._client is None:
            import pymongo  # only a configuration with a Mongo service pays for the driver

            ms = int(self._service.timeout * 1000)
            # Never the driver's 30 s defaults: a health check must answer quickly.
            options: dict[str, Any] = dict(
                serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms, appname="trayapp", connect=False
            )
            try:  # pymongo's hook "for deep customization" (mongo_client.py); without it, its own steps
                self._client = pymongo.MongoClient(self._service.target, _condition_class=_DeadlineCondition, **options)
            except (TypeError, pymongo.errors.ConfigurationError) as exc:
                if "_condition_class" not in str(exc):
                    raise
                self._client = pymongo.MongoClient(self._service.target, **options)
        return self._client

    def reset(self) -> None:
        self.close()

    def _failed(
        self, exc: BaseException, start: float, addresses: tuple[str, ...], deadline: float, connected: bool
    ) -> ProbeOutcome:
        self._answered = False
        # A server that went away while we held a connection fails the ping with "connection
        # closed": if nothing listens any more, that is `refused`, as for a fresh client.
        if connected and time.perf_counter() < deadline and (refused := self._refused(addresses, start)) is not None:
            return refused
        reason, detail = classify_mongo_error(exc, self._service.timeout)
        if reason is Reason.ERROR and time.perf_counter() >= deadline:
            reason, detail = Reason.TIMEOUT, f"did not answer a ping within {_secs(self._service.timeout)}"
        return ProbeOutcome(reason, scrub(detail, self._service.secrets), _ms(start), addresses=addresses)

    def close(self) -> None:
        client, self._client = self._client, None
        self._answered = False
        if client is not None:
            client.close()

    def _server_known(self) -> bool:
        """Whether the last ping was answered and the driver's monitor has not lost the server since."""
        if not self._answered or self._client is None:
            return False
        servers = self._client.topology_description.server_descriptions().values()
        return any(server.is_server_type_known for server in servers)

    def _refused(self, addresses: tuple[str, ...], start: float) -> ProbeOutcome | None:
        """``refused`` at once when nothing listens (a single seed only), else None."""
        service = self._service
        if not (self._single_seed and addresses and service.port is not None):
            return None
        # The driver retries a refused server until serverSelectionTimeoutMS runs out;
        # a plain connect says "nothing listens" at once.
        reason, detail = connect_any(addresses, service.port, start + service.timeout, service.timeout)
        return ProbeOutcome(reason, detail, _ms(start), addresses=addresses) if reason is Reason.REFUSED else None

    def check(self) -> ProbeOutcome:
        service = self._service
        start = time.perf_counter()
        addresses: tuple[str, ...] = ()
        if service.host is not None and service.port is not None:
            try:
                addresses = resolve(service.host, service.port, service.timeout)
            except ResolveError as exc:
                return ProbeOutcome(exc.reason, exc.detail, _ms(start))
        # A client connected to a server its monitor still knows pings at once (or fails at
        # once on a closed connection, checked below): the extra TCP connect that tells
        # "nothing listens" fast is needed only when it does not (issue #12: 0.22 ms a check).
        connected = self._server_known()
        if not connected and (refused := self._refused(addresses, start)) is not None:
            return refused
        deadline = start + service.timeout
        import pymongo  # a no-op after the first check; imported here, not at module level (issue #12)

        while True:
            try:
                client = self._get_client()
                with pymongo.timeout(max(0.01, deadline - time.perf_counter())):
                    client.admin.command("ping")
                break
            except pymongo.errors.AutoReconnect as exc:
                # When a server stops answering, the driver's monitor clears the pool and
                # cancels operations waiting on it ("operation cancelled"): not a verdict,
                # so ask again with the time that is left.
                if "operation cancelled" in str(exc) and deadline - time.perf_counter() > 0.05:
                    continue
                return self._failed(exc, start, addresses, deadline, connected)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a classified result
                return self._failed(exc, start, addresses, deadline, connected)
        self._answered = True
        return ProbeOutcome(Reason.OK, "ping ok", _ms(start), addresses=addresses)


_AUTH_CODES = {18, 13}  # AuthenticationFailed, Unauthorized


def classify_mongo_error(exc: BaseException, timeout: float) -> tuple[Reason, str]:
    """Turn a pymongo exception into a reason and a fragment of specifics."""
    import pymongo.errors

    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, pymongo.errors.OperationFailure):
        if exc.code in _AUTH_CODES or "auth" in lowered:
            return Reason.AUTH_FAILED, f"rejected the credentials ({_first_line(text)})"
        return Reason.ERROR, f"ping failed: {_first_line(text)}"
    if isinstance(exc, pymongo.errors.ConfigurationError):
        if "dns" in lowered or "srv" in lowered:
            return Reason.DNS, _first_line(text)
        return Reason.ERROR, f"the URI is not usable: {_first_line(text)}"
    if isinstance(exc, pymongo.errors.PyMongoError):
        if "refused" in lowered:
            return Reason.REFUSED, "connection refused"
        if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
            return Reason.DNS, "cannot resolve the host"
        if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
            return Reason.TLS, f"failed TLS ({_first_line(text)})"
        if "reset" in lowered or "closed" in lowered or "broken pipe" in lowered:
            return Reason.RESET, "dropped the connection"
        if (
            "timed out" in lowered
            or "timeout" in lowered
            or "operation cancelled" in lowered  # the driver gave up on a server that stopped answering
            or isinstance(exc, pymongo.errors.ExecutionTimeout)
        ):
            return Reason.TIMEOUT, f"did not answer a ping within {_secs(timeout)}"
        return Reason.ERROR, _first_line(text)
    log.debug("unexpected MongoDB probe error", exc_info=exc)
    return Reason.ERROR, f"the driver failed unexpectedly ({type(exc).__name__}: {_first_line(text)})"


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    # pymongo appends "(configured timeouts: ...), Timeout: ..., Topology Description: ..."
    line = line.split(", Timeout:")[0].split(" (configured timeouts")[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _secs(seconds: float) -> str:
    return f"{seconds:g} s"
