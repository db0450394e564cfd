"""What the user is told a health body says: overall status plus the failing / warning dependencies."""

from __future__ import annotations

import json

import pytest

from trayapp.checks.health import MAX_FRAGMENT, MAX_FRAGMENTS, HealthReport, body_excerpt, read_health_body

JSON = "application/json"
HEALTH_JSON = "application/health+json"

TERMINUS_DOWN = {
    "status": "error",
    "info": {"memory_heap": {"status": "up"}},
    "error": {"mongo": {"status": "down", "message": "connect ECONNREFUSED 127.0.0.1:27017"}},
    "details": {
        "memory_heap": {"status": "up"},
        "mongo": {"status": "down", "message": "connect ECONNREFUSED 127.0.0.1:27017"},
    },
}
SPRING_DOWN = {
    "status": "DOWN",
    "components": {
        "mongo": {"status": "DOWN", "details": {"error": "com.mongodb.MongoTimeoutException: Timed out"}},
        "ping": {"status": "UP"},
    },
}
IETF_FAIL = {
    "status": "fail",
    "checks": {
        "mongodb:connections": [{"componentType": "datastore", "status": "fail", "output": "connection refused"}],
        "uptime": [{"status": "pass"}],
    },
}

# (id, body, content type, expected status, expected failing, expected warning)
CASES: list[tuple[str, object, str | None, str | None, tuple[str, ...], tuple[str, ...]]] = [
    # --- Express-style ad-hoc bodies
    ("express-ok", {"status": "ok", "db": "connected"}, JSON, "ok", (), ()),
    ("express-db-disconnected", {"status": "ok", "db": "disconnected"}, JSON, "down", ("db: disconnected",), ()),
    ("express-503-body", {"status": "error", "db": "disconnected"}, JSON, "down", ("db: disconnected",), ()),
    ("database-key", {"status": "ok", "database": "down"}, JSON, "down", ("database: down",), ()),
    ("mongo-key", {"mongo": "error"}, JSON, "down", ("mongo: error",), ()),
    ("mongodb-key-up", {"mongodb": "up"}, JSON, "ok", (), ()),
    ("redis-key", {"status": "ok", "db": "connected", "redis": "down"}, JSON, "down", ("redis: down",), ()),
    ("two-down", {"db": "disconnected", "redis": "error"}, JSON, "down", ("db: disconnected", "redis: error"), ()),
    ("connecting-is-no-warning", {"status": "ok", "db": "connecting"}, JSON, "degraded", (), ()),
    ("word-case-insensitive", {"status": "OK", "db": "Disconnected"}, JSON, "down", ("db: disconnected",), ()),
    ("bool-true", {"status": "ok", "db": True}, JSON, "ok", (), ()),
    ("bool-false", {"status": "ok", "db": False}, JSON, "down", ("db: down",), ()),
    ("readystate-0", {"status": "ok", "db": 0}, JSON, "down", ("db: disconnected",), ()),
    ("readystate-1", {"status": "ok", "db": 1}, JSON, "ok", (), ()),
    ("readystate-2", {"status": "ok", "db": 2}, JSON, "degraded", (), ()),
    ("readystate-3", {"status": "ok", "db": 3}, JSON, "down", ("db: disconnecting",), ()),
    ("readystate-99", {"status": "ok", "db": 99}, JSON, "down", ("db: uninitialized",), ()),
    ("readystate-unknown-number", {"status": "ok", "db": 42}, JSON, "ok", (), ()),
    ("dbStatus-key", {"status": "ok", "dbStatus": "disconnected"}, JSON, "down", ("dbStatus: disconnected",), ()),
    ("dbConnected-false", {"dbConnected": False}, JSON, "down", ("dbConnected: down",), ()),
    (
        "nested-status",
        {"status": "ok", "db": {"status": "down", "error": "ECONNREFUSED"}},
        JSON,
        "down",
        ("db: down (ECONNREFUSED)",),
        (),
    ),
    ("nested-state", {"mongo": {"state": "disconnected"}}, JSON, "down", ("mongo: disconnected",), ()),
    (
        "nested-readystate",
        {"database": {"readyState": 0, "host": "127.0.0.1"}},
        JSON,
        "down",
        ("database: disconnected",),
        (),
    ),
    (
        "nested-connected-bool",
        {"db": {"connected": False, "message": "timed out"}},
        JSON,
        "down",
        ("db: down (timed out)",),
        (),
    ),
    ("unrelated-keys-ignored", {"status": "ok", "uptime": 12.5, "version": "down", "env": "error"}, JSON, "ok", (), ()),
    ("unknown-dependency-word", {"status": "ok", "db": "mydb"}, JSON, "ok", (), ()),
    (
        "checks-mapping-of-words",
        {"status": "ok", "checks": {"cache": "ok", "mail": "down"}},
        JSON,
        "down",
        ("mail: down",),
        (),
    ),
    (
        "checks-list-of-named",
        {"checks": [{"name": "mongo", "status": "down", "message": "no primary"}]},
        JSON,
        "down",
        ("mongo: down (no primary)",),
        (),
    ),
    # --- a bare status word
    *[
        (f"status-{word}", {"status": word}, JSON, expected, (), ())
        for word, expected in [
            ("ok", "ok"),
            ("up", "ok"),
            ("healthy", "ok"),
            ("pass", "ok"),
            ("UP", "ok"),
            ("Healthy", "ok"),
            ("error", "down"),
            ("fail", "down"),
            ("down", "down"),
            ("unhealthy", "down"),
            ("DOWN", "down"),
            ("degraded", "degraded"),
            ("warn", "degraded"),
            ("Degraded", "degraded"),
        ]
    ],
    ("status-unknown-word", {"status": "banana"}, JSON, None, (), ()),
    ("status-true", {"healthy": True}, JSON, "ok", (), ()),
    ("ok-one", {"ok": 1}, JSON, "ok", (), ()),
    ("empty-object", {}, JSON, None, (), ()),
    # --- NestJS Terminus
    ("terminus-down", TERMINUS_DOWN, JSON, "down", ("mongo: down (connect ECONNREFUSED 127.0.0.1:27017)",), ()),
    (
        "terminus-ok",
        {"status": "ok", "info": {"mongo": {"status": "up"}}, "error": {}, "details": {"mongo": {"status": "up"}}},
        JSON,
        "ok",
        (),
        (),
    ),
    (
        "terminus-two-failing",
        {
            "status": "error",
            "info": {},
            "error": {
                "mongo": {"status": "down", "message": "timeout"},
                "memory_rss": {"status": "down", "message": "Used rss exceeded the set threshold"},
            },
            "details": {},
        },
        JSON,
        "down",
        ("mongo: down (timeout)", "memory_rss: down (Used rss exceeded the set threshold)"),
        (),
    ),
    (
        "terminus-error-entry-without-status",
        {"status": "error", "info": {}, "error": {"redis": {"x": 1}}},
        JSON,
        "down",
        ("redis: down",),
        (),
    ),
    (
        "terminus-shutting-down",
        {"status": "shutting_down", "info": {}, "error": {}, "details": {}},
        JSON,
        "down",
        (),
        (),
    ),
    # --- Spring Boot Actuator
    ("spring-down", SPRING_DOWN, JSON, "down", ("mongo: down (com.mongodb.MongoTimeoutException: Timed out)",), ()),
    (
        "spring-up",
        {"status": "UP", "components": {"mongo": {"status": "UP", "details": {"maxWireVersion": 17}}}},
        JSON,
        "ok",
        (),
        (),
    ),
    (
        "spring-out-of-service",
        {"status": "OUT_OF_SERVICE", "components": {"app": {"status": "OUT_OF_SERVICE"}}},
        JSON,
        "down",
        ("app: out of service",),
        (),
    ),
    ("spring-unknown", {"status": "UNKNOWN"}, JSON, None, (), ()),
    (
        "spring-nested-components",
        {
            "status": "DOWN",
            "components": {
                "db": {
                    "status": "DOWN",
                    "components": {
                        "primary": {
                            "status": "DOWN",
                            "details": {"error": "org.springframework.jdbc.CannotGetJdbcConnection"},
                        },
                        "replica": {"status": "UP"},
                    },
                },
                "diskSpace": {"status": "UP"},
            },
        },
        JSON,
        "down",
        ("db/primary: down (org.springframework.jdbc.CannotGetJdbcConnection)",),
        (),
    ),
    (
        "spring-composite-down-without-failing-leaf",
        {"status": "DOWN", "components": {"db": {"status": "DOWN", "components": {"a": {"status": "UP"}}}}},
        JSON,
        "down",
        ("db: down",),
        (),
    ),
    (
        "spring-1x-flat",
        {
            "status": "DOWN",
            "mongo": {"status": "DOWN", "error": "MongoSocketOpenException"},
            "diskSpace": {"status": "UP", "total": 1, "free": 1},
        },
        JSON,
        "down",
        ("mongo: down (MongoSocketOpenException)",),
        (),
    ),
    # --- IETF health-check draft
    ("ietf-fail", IETF_FAIL, HEALTH_JSON, "down", ("mongodb connections: fail (connection refused)",), ()),
    ("ietf-fail-plain-json-type", IETF_FAIL, JSON, "down", ("mongodb connections: fail (connection refused)",), ()),
    (
        "ietf-warn",
        {"status": "warn", "checks": {"cpu:utilization": [{"status": "warn", "output": "92 %"}]}},
        HEALTH_JSON,
        "degraded",
        (),
        ("cpu utilization: warn (92 %)",),
    ),
    (
        "ietf-pass",
        {"status": "pass", "checks": {"mongodb:responseTime": [{"status": "pass"}]}},
        HEALTH_JSON,
        "ok",
        (),
        (),
    ),
    (
        "ietf-several-instances",
        {
            "status": "fail",
            "checks": {
                "mongodb:connections": [
                    {"componentId": "a", "status": "fail", "output": "refused"},
                    {"componentId": "b", "status": "pass"},
                    {"componentId": "c", "status": "fail", "output": "refused"},
                ]
            },
        },
        HEALTH_JSON,
        "down",
        ("mongodb connections: fail (refused)",),
        (),
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "failing", "warning"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_shapes(
    body: object, content_type: str | None, status: str | None, failing: tuple[str, ...], warning: tuple[str, ...]
) -> None:
    report = read_health_body(json.dumps(body).encode(), content_type)
    assert (report.status, report.failing, report.warning) == (status, failing, warning)


@pytest.mark.parametrize(
    ("body", "connecting", "failing"),
    [
        ({"status": "error", "db": "connecting"}, ("db: connecting",), ()),  # Express + mongoose's connect window
        ({"status": "ok", "db": 2}, ("db: connecting",), ()),  # mongoose readyState 2
        ({"mongo": {"state": "reconnecting"}}, ("mongo: reconnecting",), ()),
        ({"db": "connecting", "redis": "down"}, ("db: connecting",), ("redis: down",)),
        ({"status": "degraded", "db": "connected"}, (), ()),
    ],
)
def test_a_dependency_still_connecting_is_told_apart_from_one_down_and_from_a_warning(
    body: object, connecting: tuple[str, ...], failing: tuple[str, ...]
) -> None:
    report = read_health_body(json.dumps(body), JSON)
    assert (report.connecting, report.failing, report.warning) == (connecting, failing, ())


@pytest.mark.parametrize(
    ("body", "content_type", "own"),
    [
        ({"status": "DOWN"}, JSON, "down"),
        ({"status": "warn"}, HEALTH_JSON, "degraded"),
        ({"status": "pass", "checks": {"db:connections": [{"status": "fail"}]}}, HEALTH_JSON, "ok"),
        ({"db": "disconnected"}, JSON, None),
    ],
)
def test_the_body_s_own_verdict_is_kept_apart_from_its_dependencies(
    body: object, content_type: str, own: str | None
) -> None:
    assert read_health_body(json.dumps(body), content_type).own == own


def test_str_body_reads_like_bytes() -> None:
    report = read_health_body('{"status": "ok", "db": "disconnected"}', JSON)
    assert report.status == "down"
    assert report.failing == ("db: disconnected",)


def test_raw_status_and_message_are_kept_for_the_sentence() -> None:
    report = read_health_body(b'{"status": "error", "message": "Database unavailable\\n  retrying"}', JSON)
    assert report.status == "down"
    assert report.raw_status == "error"
    assert report.message == "Database unavailable retrying"


NOTHING = HealthReport(None, (), ())

GARBAGE: list[tuple[str, object, str | None]] = [
    ("empty", b"", JSON),
    ("whitespace", b"   \n", JSON),
    ("plain-text-ok", b"OK", "text/plain"),
    ("html", b"<img src=x><b>bold</b>", "text/html"),
    ("ssh-banner", b"SSH-2.0-OpenSSH_9.6\r\n", None),
    ("invalid-utf8", b"\xff\xfe\xfa{not json", JSON),
    ("truncated-json", b'{"status": "ok", "db": ', JSON),
    ("json-list", b'[{"status": "down"}]', JSON),
    ("json-number", b"503", JSON),
    ("json-string", b'"down"', JSON),
    ("json-null", b"null", JSON),
    ("deep-nesting", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON),
    ("deep-unclosed", b"{" + b'"a":[' * 50_000, JSON),
    ("huge-int", b'{"status": ' + b"9" * 10_000 + b"}", JSON),
    ("too-large", b'{"status": "down", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}', JSON),
    ("none-body", None, JSON),
    ("wrong-type-body", 12345, JSON),
    ("status-is-list", b'{"status": ["down"]}', JSON),
]


@pytest.mark.parametrize(("body", "content_type"), [case[1:] for case in GARBAGE], ids=[case[0] for case in GARBAGE])
def test_garbage_says_nothing(body: object, content_type: str | None) -> None:
    assert read_health_body(body, content_type) == NOTHING  # type: ignore[arg-type]


def test_invalid_utf8_inside_valid_json_still_reads() -> None:
    report = read_health_body(b'{"status": "error", "db": {"status": "down", "error": "bad \xff byte"}}', JSON)
    assert report.status == "down"
    assert report.failing == ("db: down (bad \ufffd byte)",)


def test_utf8_bom_is_accepted() -> None:
    report = read_health_body(b'\xef\xbb\xbf{"status": "ok", "db": "down"}', JSON)
    assert report.failing == ("db: down",)


def test_deep_spring_components_do_not_recurse_forever() -> None:
    component: dict[str, object] = {"status": "DOWN", "details": {"error": "leaf"}}
    for _ in range(100):  # far deeper than any real composite, still encodable
        component = {"status": "DOWN", "components": {"c": component}}
    report = read_health_body(json.dumps({"status": "DOWN", "components": {"c": component}}), JSON)
    assert report.status == "down"
    assert report.failing and all(len(f) <= MAX_FRAGMENT for f in report.failing)


def test_long_detail_is_capped() -> None:
    body = {"status": "error", "info": {}, "error": {"mongo": {"status": "down", "message": "x" * 5000}}}
    (fragment,) = read_health_body(json.dumps(body), JSON).failing
    assert len(fragment) == MAX_FRAGMENT
    assert fragment.startswith("mongo: down (xxx") and fragment.endswith("…")


def test_many_failing_dependencies_are_summarised() -> None:
    body = {"status": "DOWN", "components": {f"dep{i}": {"status": "DOWN"} for i in range(12)}}
    failing = read_health_body(json.dumps(body), JSON).failing
    assert len(failing) == MAX_FRAGMENTS
    assert failing == ("dep0: down", "dep1: down", "dep2: down", "dep3: down", "and 8 more")


def test_control_characters_and_markup_come_out_as_plain_single_line_text() -> None:
    body = {
        "status": "error",
        "info": {},
        "error": {"mon\x1bgo\n": {"status": "down", "message": "<b>refused</b>\r\n\tat line 2\x00"}},
    }
    (fragment,) = read_health_body(json.dumps(body), JSON).failing
    assert fragment == "mon go: down (refused at line 2)"  # markup read as its text, never its tags


def test_angle_brackets_that_are_not_html_stay_as_written() -> None:
    error = "Error: boom at Object.<anonymous> (/app/db.js:3:9)"
    body = {"status": "error", "db": {"status": "down", "error": error}}
    assert read_health_body(json.dumps(body), JSON).failing == (f"db: down ({error})",)


def test_failing_down_in_status_word_is_shown_as_sent() -> None:
    report = read_health_body(
        b'{"status": "Unhealthy", "entries": {"mongodb": {"status": "Unhealthy", '
        b'"description": "No connection could be made"}}}',
        JSON,
    )
    assert report.status == "down"
    assert report.raw_status == "Unhealthy"
    assert report.failing == ("mongodb: unhealthy (No connection could be made)",)


NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    b"<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)
VITE_INDEX = (
    b'<!doctype html><html lang="en"><head><script type="module">if (a < b) import("/@vite/client")</script>'
    b'<style>body{color:red}</style><title>Vite + React</title></head><body><div id="root"></div></body></html>'
)


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        (NGINX_502, "text/html", "502 Bad Gateway · nginx/1.24.0"),
        (VITE_INDEX, "text/html", "Vite + React"),  # no visible text: the title stands in; scripts never show
        (b"<p>Tom &amp; Jerry&#39;s &lt;API&gt;</p>", "text/html", "Tom & Jerry's <API>"),  # entities decoded
        (b"<img src=x>", "text/html", ""),
        (b"<!-- nothing -->", "text/html", ""),
        (b"  <h1>Service Unavailable</h1>", "text/plain", "Service Unavailable"),  # mislabelled markup
        (b"<error><message>quota exceeded</message></error>", "application/xml", "quota exceeded"),
        (b"Not Found", "text/html", "Not Found"),  # labelled HTML, but no markup in it
        (b"x < y and <anonymous>", "text/plain", "x < y and <anonymous>"),
        (b"line one\r\n\tline two\x1b[0m", "text/plain", "line one line two [0m"),
    ],
)
def test_a_body_is_shown_as_one_line_of_plain_text_and_markup_by_its_text(
    body: bytes, content_type: str, shown: str
) -> None:
    assert body_excerpt(body, content_type) == shown


def test_a_long_markup_text_is_capped() -> None:
    shown = body_excerpt(b"<pre>" + b"x" * 500 + b"</pre>", "text/html", limit=50)
    assert len(shown) == 50 and shown.endswith("…")
