"""Probes and diagnosis against real servers: each failure gets its reason and a sentence."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pymongo.errors
import pytest

from tests.kit.servers import free_port, make_tls_files, start_node_https
from tests.kit.services import http_service, mongo_service, tcp_service
from trayapp.checks.checker import Checker
from trayapp.checks.probes import classify_mongo_error
from trayapp.model import CheckResult, Reason, State


def check(service) -> CheckResult:
    checker = Checker(service)
    try:
        return checker.check()
    finally:
        checker.close()


def test_healthy_backend_is_up_with_latency(backend) -> None:
    server = backend("healthy")
    result = check(http_service(server.url()))
    assert (result.state, result.reason, result.http_status) == (State.UP, Reason.OK, 200)
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.detail.startswith("backend answers 200 OK in ")


def test_nothing_listening_is_refused_and_says_so() -> None:
    port = free_port()
    result = check(http_service(f"http://127.0.0.1:{port}/api/health"))
    assert (result.state, result.reason) == (State.DOWN, Reason.REFUSED)
    assert f"Nothing listens on port {port}" in result.detail
    assert result.listeners == ()


def test_server_on_ipv6_only_is_an_address_mismatch_naming_the_owner(backend) -> None:
    server = backend("healthy", host="::1")
    result = check(http_service(f"http://127.0.0.1:{server.port}/api/health"))
    assert (result.state, result.reason) == (State.DOWN, Reason.ADDRESS_MISMATCH)
    assert "open on ::1 only" in result.detail
    assert f"pid {server.pid}" in result.detail
    assert "127.0.0.1" in result.detail
    assert [x.pid for x in result.listeners] == [server.pid]


def test_hung_backend_times_out_and_names_the_process_holding_the_port(backend) -> None:
    server = backend("hang")
    result = check(http_service(server.url(), timeout=0.5))
    assert (result.state, result.reason) == (State.DOWN, Reason.TIMEOUT)
    assert f"port {server.port} is held by python" in result.detail
    assert f"pid {server.pid}" in result.detail
    assert "does not answer HTTP within 0.5 s" in result.detail


@pytest.mark.parametrize(
    ("mode", "reason", "words"),
    [
        ("reset", Reason.RESET, "without answering"),
        ("close", Reason.RESET, "closed the connection without answering"),
        ("garbage", Reason.PROTOCOL_ERROR, "does not speak HTTP"),
        ("status_500", Reason.HTTP_STATUS, "answers 500 Internal Server Error"),
        ("not_found", Reason.HTTP_STATUS, "health path is wrong"),
    ],
)
def test_broken_answers_are_classified(backend, mode: str, reason: Reason, words: str) -> None:
    server = backend(mode)
    result = check(http_service(server.url()))
    assert (result.state, result.reason) == (State.DOWN, reason)
    assert words in result.detail


@pytest.mark.parametrize(
    ("mode", "status", "words"),
    [
        ("db_down_503", 503, "db: disconnected"),
        ("dep_express", 200, "db: disconnected"),
        ("dep_terminus", 503, "mongo"),
        ("dep_spring", 503, "mongo"),
        ("dep_ietf", 200, "mongodb connections: fail (connection refused)"),
    ],
)
def test_backend_reporting_its_database_down_is_degraded(backend, mode: str, status: int, words: str) -> None:
    server = backend(mode)
    result = check(http_service(server.url()))
    assert (result.state, result.reason, result.http_status) == (State.DEGRADED, Reason.DEPENDENCY_DOWN, status)
    assert "reports a dependency down" in result.detail
    assert words in result.detail


def test_slow_answer_is_degraded(backend) -> None:
    server = backend("slow", delay=0.3)
    result = check(http_service(server.url(), slow_ms=100))
    assert (result.state, result.reason) == (State.DEGRADED, Reason.SLOW)
    assert "slower than 0.1 s" in result.detail


def test_a_database_still_connecting_is_degraded_whatever_the_status_code(backend) -> None:
    # every Express + mongoose start answers this for the whole connect window (30 s by default)
    server = backend("db_connecting_503")
    result = check(http_service(server.url()))
    assert (result.state, result.reason, result.http_status) == (State.DEGRADED, Reason.DEPENDENCY_DOWN, 503)
    assert result.detail == "backend answers (503) but a dependency is still connecting: db: connecting."


@pytest.mark.parametrize(
    ("mode", "status", "word"),
    [("status_down", 200, "DOWN"), ("status_down_503", 503, "DOWN"), ("dep_status", 200, "error")],
)
def test_a_service_that_reports_itself_down_is_unhealthy_and_no_dependency_is_blamed(
    backend, mode: str, status: int, word: str
) -> None:
    server = backend(mode)
    result = check(http_service(server.url()))
    assert (result.state, result.reason, result.http_status) == (State.DOWN, Reason.UNHEALTHY, status)
    assert result.detail == f"backend answers ({status}) but reports itself down: status {word!r}."


@pytest.mark.parametrize(
    ("mode", "said"),
    [("health_warn", "disk utilization: warn (91 %)"), ("dep_degraded", "status 'degraded'")],
)
def test_a_health_warning_is_a_warning_not_a_dependency_down(backend, mode: str, said: str) -> None:
    server = backend(mode)
    result = check(http_service(server.url()))
    assert (result.state, result.reason, result.http_status) == (State.DEGRADED, Reason.WARNING, 200)
    assert result.detail == f"backend answers (200) but reports a warning: {said}."


@pytest.mark.parametrize(
    ("mode", "sentence"),
    [
        (
            "express_404",
            "backend answers 404 Not Found: Cannot GET /api/health: the server runs, but the health path is wrong "
            "or not mounted.",
        ),
        (
            "express_500",
            "backend answers 500 Internal Server Error: TypeError: Cannot read properties of undefined "
            "(reading 'ping'): the server runs, but its health handler fails; check its log.",
        ),
        (
            "html_500",
            "backend answers 500 Internal Server Error: bold: the server runs, but its health handler fails; "
            "check its log.",
        ),
    ],
)
def test_an_html_error_page_is_told_by_its_text_never_its_tags(backend, mode: str, sentence: str) -> None:
    server = backend(mode)
    result = check(http_service(server.url()))
    assert (result.state, result.reason) == (State.DOWN, Reason.HTTP_STATUS)
    assert result.detail == sentence


def test_angle_brackets_in_a_plain_text_body_are_shown_as_written(backend) -> None:
    server = backend("angle_500")
    result = check(http_service(server.url()))
    assert "answers 500 Internal Server Error: Error: expected <number>, got <img src=x>:" in result.detail


# -- TLS -----------------------------------------------------------------------------


@pytest.mark.parametrize("plain_on_tls", ["close", "nginx"])  # Node / vite --https close; nginx answers 400
def test_http_against_an_https_server_says_the_port_speaks_tls(backend, tls_files, plain_on_tls: str) -> None:
    server = backend("healthy", tls=tls_files, plain_on_tls=plain_on_tls)
    result = check(http_service(server.url(scheme="http")))
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS)
    assert result.detail == (
        f"backend: port {server.port} speaks TLS (HTTPS), not plain HTTP: "
        f"use https://127.0.0.1:{server.port}/api/health as its url."
    )


def test_a_real_node_https_server_is_told_apart_and_trusted_through_tls_ca_file(tls_files) -> None:
    server = start_node_https(tls_files)
    try:
        plain = check(http_service(f"http://127.0.0.1:{server.port}/api/health"))
        assert (plain.state, plain.reason) == (State.DOWN, Reason.TLS)
        assert f"port {server.port} speaks TLS (HTTPS), not plain HTTP: use https://127.0.0.1:" in plain.detail
        trusted = check(http_service(f"https://127.0.0.1:{server.port}/api/health", tls_ca_file=str(tls_files.ca)))
        assert (trusted.state, trusted.reason) == (State.UP, Reason.OK)
    finally:
        server.kill()


def test_https_against_a_plain_http_server_says_the_port_speaks_plain_http(backend) -> None:
    server = backend("healthy")
    result = check(http_service(server.url(scheme="https")))
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS)
    assert result.detail == (
        f"backend: port {server.port} speaks plain HTTP, not TLS: use http://127.0.0.1:{server.port}/api/health "
        "as its url."
    )


def test_a_local_ca_certificate_is_untrusted_until_tls_ca_file_names_the_ca(backend, tls_files) -> None:
    server = backend("healthy", tls=tls_files)
    untrusted = check(http_service(server.url()))
    assert (untrusted.state, untrusted.reason) == (State.DOWN, Reason.TLS)
    assert f"port {server.port} sent a certificate that is not trusted (" in untrusted.detail
    assert 'set tls_ca_file = "PATH" to the CA that signed it' in untrusted.detail
    assert "tls_verify = false" in untrusted.detail

    trusted = check(http_service(server.url(), tls_ca_file=str(tls_files.ca)))
    assert (trusted.state, trusted.reason, trusted.http_status) == (State.UP, Reason.OK, 200)
    unchecked = check(http_service(server.url(), tls_verify=False))
    assert (unchecked.state, unchecked.reason) == (State.UP, Reason.OK)


def test_a_tls_ca_file_of_another_ca_is_named(backend, tls_files, tmp_path) -> None:
    server = backend("healthy", tls=tls_files)
    other = make_tls_files(tmp_path / "other")
    result = check(http_service(server.url(), tls_ca_file=str(other.ca)))
    assert result.reason is Reason.TLS
    assert f"sent a certificate that tls_ca_file {str(other.ca)!r} does not vouch for (" in result.detail


def test_a_certificate_for_another_name_says_so(backend, tmp_path) -> None:
    only_localhost = make_tls_files(tmp_path / "named", names=("localhost",))
    server = backend("healthy", tls=only_localhost)
    result = check(http_service(server.url(), tls_ca_file=str(only_localhost.ca)))
    assert result.reason is Reason.TLS
    assert "sent a certificate for another name (IP address mismatch" in result.detail
    assert "use a host name the certificate names in the url" in result.detail
    by_name = check(http_service(f"https://localhost:{server.port}/api/health", tls_ca_file=str(only_localhost.ca)))
    assert by_name.reason is Reason.OK


def test_unknown_host_is_a_dns_failure() -> None:
    result = check(http_service("http://no-such-host.invalid:5000/api/health"))
    assert (result.state, result.reason) == (State.DOWN, Reason.DNS)
    assert "no-such-host.invalid" in result.detail


def test_environment_proxy_is_not_used_for_loopback(backend, monkeypatch) -> None:
    server = backend("healthy")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    result = check(http_service(server.url()))
    assert result.reason is Reason.OK


# -- MongoDB -----------------------------------------------------------------------


def test_mongo_up(mongo) -> None:
    server = mongo()
    result = check(mongo_service(server.uri))
    assert (result.state, result.reason) == (State.UP, Reason.OK)
    assert result.detail.startswith("db answers ping in ")


def test_mongo_stopped_is_refused_and_password_is_never_shown(mongo) -> None:
    server = mongo()
    server.stop()
    result = check(mongo_service(f"mongodb://app:s3cretpw@127.0.0.1:{server.port}/app"))
    assert (result.state, result.reason) == (State.DOWN, Reason.REFUSED)
    assert f"Nothing listens on port {server.port}" in result.detail
    assert "s3cretpw" not in repr(result.to_json())
    assert result.target == f"mongodb://***@127.0.0.1:{server.port}/app"


def test_mongo_hung_by_sigstop_is_paused_and_names_it(mongo) -> None:
    server = mongo()
    server.pause()
    result = check(mongo_service(server.uri, timeout=0.5))
    assert (result.state, result.reason) == (State.DOWN, Reason.PAUSED)
    assert f"port {server.port} is held by nx-27017 (pid {server.pid}, started " in result.detail
    assert result.detail.endswith(
        f"which is stopped (SIGSTOP, Ctrl-Z or a debugger): it cannot answer until it continues "
        f"(kill -CONT {server.pid}, or fg in its terminal)."
    )
    assert [x.status for x in result.listeners] == ["stopped"]


def test_mongo_hung_stays_a_timeout_check_after_check(mongo) -> None:
    # The long-lived client clears its pool after the first timeout and cancels what waits on
    # it; the monitor's next checks must still see a timeout, not a driver-internal error.
    server = mongo()
    checker = Checker(mongo_service(server.uri, timeout=0.5))
    try:
        assert checker.check().reason is Reason.OK
        server.pause()
        reasons = [checker.probe().reason for _ in range(4)]
        diagnosed = checker.check().reason
    finally:
        server.resume()
        checker.close()
    assert reasons == [Reason.TIMEOUT] * 4
    assert diagnosed is Reason.PAUSED


def test_mongo_client_is_reused_between_checks_and_rebuilt_on_reset(mongo) -> None:
    server = mongo()
    checker = Checker(mongo_service(server.uri))
    try:
        assert checker.check().reason is Reason.OK
        server.stop()
        assert checker.check().reason is Reason.REFUSED
        checker.reset()
        assert checker.check().reason is Reason.REFUSED
    finally:
        checker.close()


def test_mongo_authentication_failure_is_named() -> None:
    # NX-27017 does not implement SCRAM, so the server's "Authentication failed" answer is built
    # here exactly as pymongo raises it from a real mongod (code 18).
    exc = pymongo.errors.OperationFailure("Authentication failed.", code=18)
    reason, detail = classify_mongo_error(exc, 2.0)
    assert reason is Reason.AUTH_FAILED
    assert "Authentication failed" in detail


# -- TCP -------------------------------------------------------------------------------


def test_tcp_up_and_refused(backend) -> None:
    server = backend("healthy")
    assert check(tcp_service("127.0.0.1", server.port)).state is State.UP
    port = free_port()
    result = check(tcp_service("127.0.0.1", port))
    assert (result.state, result.reason) == (State.DOWN, Reason.REFUSED)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener that never accepts, with its backlog filled: new connections hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    clients = []
    for _ in range(8):  # Linux accepts backlog + 1 before it starts dropping SYNs
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(server.getsockname())
        clients.append(client)
    yield server.getsockname()[1]
    for client in clients:
        client.close()
    server.close()


def test_tcp_listener_that_never_accepts_times_out_and_names_us(full_backlog: int) -> None:
    result = check(tcp_service("127.0.0.1", full_backlog, timeout=0.3))
    assert (result.state, result.reason) == (State.DOWN, Reason.TIMEOUT)
    assert f"pid {os.getpid()}" in result.detail


def test_a_loopback_answer_with_nobody_listening_is_refused() -> None:
    # A loopback connect to a free ephemeral port can meet itself (TCP simultaneous open) and
    # read its own request back as a non-HTTP "answer"; with no listener that is "refused".
    from trayapp.checks.diagnosis import diagnose
    from trayapp.model import ProbeOutcome

    port = free_port()
    outcome = ProbeOutcome(Reason.PROTOCOL_ERROR, "answered, but not with HTTP", 1.0, addresses=("127.0.0.1",))
    result = diagnose(http_service(f"http://127.0.0.1:{port}/"), outcome, [], t=0.0)
    assert result.reason is Reason.REFUSED
    assert f"Nothing listens on port {port}" in result.detail


def test_a_server_sending_its_answer_a_byte_at_a_time_is_cut_off_at_the_timeout(backend) -> None:
    # Each byte comes well within the read timeout; the whole answer would take about 7 s.
    server = backend("trickle", delay=0.1)
    result = check(http_service(server.url(), timeout=1.0))
    assert (result.state, result.reason) == (State.DOWN, Reason.TIMEOUT)
    assert "does not answer HTTP within 1 s" in result.detail
    assert result.latency_ms < (1.0 + 0.5) * 1000  # the contract: no check outlasts its timeout + 0.5 s
