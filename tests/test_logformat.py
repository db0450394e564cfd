"""Reading log lines: JSON loggers, plain lines' levels, error-looking lines, and the line that
says what went wrong in a crash. Real-looking output of Node, npm, nodemon, MongoDB and Python."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime

import pytest

from trayapp.logs.format import (
    LINE_BREAK,
    MAX_SHOWN,
    Level,
    clock_text,
    first_error_line,
    looks_like_error,
    marker_entry,
    marker_text,
    parse_line,
)


def local(iso: str) -> str:
    """An ISO time (not today's) as the view shows it: local YYYY-MM-DD HH:MM:SS.mmm."""
    when = datetime.fromisoformat(iso).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"


# -- JSON loggers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "level"),
    [(10, Level.TRACE), (20, Level.DEBUG), (30, Level.INFO), (40, Level.WARN), (50, Level.ERROR), (60, Level.FATAL)],
)
def test_pino_levels_time_and_message(number: int, level: Level) -> None:
    line = json.dumps({"level": number, "time": 1_700_000_000_123, "pid": 4242, "hostname": "box", "msg": "hello"})
    entry = parse_line(line, "api", 5.0)
    assert entry.level is level
    assert (
        entry.time_text
        == clock_text(1_700_000_000.123)
        == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000)) + ".123"  # 2023: with its date
    )
    assert entry.message == "hello"
    assert entry.display == f"{entry.time_text}  {level.label:<5}  hello"
    assert entry.is_error is (level >= Level.ERROR)
    assert (entry.source, entry.text, entry.t) == ("api", line, 5.0)


def test_a_time_of_today_is_shown_without_its_date_and_one_of_another_day_with_it() -> None:
    """`trayapp logs` and the Logs view: yesterday's error must not read as today's."""
    now = time.time()
    today = parse_line(json.dumps({"level": 50, "time": int(now * 1000), "msg": "boom"}))
    assert today.time_text == time.strftime("%H:%M:%S", time.localtime(int(now))) + today.time_text[-4:]
    day_before = now - 2 * 86_400
    old = parse_line(json.dumps({"level": 50, "time": int(day_before * 1000), "msg": "boom"}))
    assert old.time_text.startswith(time.strftime("%Y-%m-%d ", time.localtime(day_before)))


def test_pino_error_keeps_err_fields_and_stack_compactly() -> None:
    line = json.dumps(
        {
            "level": 50,
            "time": 1_700_000_000_000,
            "pid": 1,
            "hostname": "box",
            "reqId": "r-17",
            "err": {
                "type": "MongoServerSelectionError",
                "message": "connect ECONNREFUSED 127.0.0.1:27017",
                "stack": "MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017\n"
                "    at Timeout._onTimeout (/app/node_modules/mongodb/lib/sdam/topology.js:278:38)\n"
                "    at listOnTimeout (node:internal/timers:569:17)",
            },
            "msg": "could not connect to the database",
        }
    )
    entry = parse_line(line)
    assert entry.level is Level.ERROR and entry.is_error
    head, *stack = entry.display.split(LINE_BREAK)
    assert head == (
        f"{clock_text(1_700_000_000)}  ERROR  could not connect to the database  reqId=r-17"
        '  err.type=MongoServerSelectionError  err.message="connect ECONNREFUSED 127.0.0.1:27017"'
    )
    assert stack == [
        "    at Timeout._onTimeout (/app/node_modules/mongodb/lib/sdam/topology.js:278:38)",
        "    at listOnTimeout (node:internal/timers:569:17)",
    ]
    assert "pid" not in entry.display and "hostname" not in entry.display


def test_winston_line_with_colourised_level() -> None:
    entry = parse_line(
        '{"level":"\\u001b[33mwarn\\u001b[39m","message":"slow query","timestamp":"2024-03-01T10:20:30.456Z"}'
    )
    assert (entry.level, entry.message) == (Level.WARN, "slow query")
    assert entry.time_text == local("2024-03-01T10:20:30.456+00:00")
    assert entry.display == f"{entry.time_text}  WARN   slow query"
    http = parse_line('{"level":"http","message":"GET /api 200 3 ms","timestamp":"2024-03-01 10:20:30"}')
    assert (http.level, http.time_text) == (Level.INFO, "2024-03-01 10:20:30.000")


def test_bunyan_line() -> None:
    line = (
        '{"name":"api","hostname":"box","pid":77,"level":40,"msg":"cache miss storm","time":"2024-03-01T10:20:30.000Z",'
        '"v":0,"misses":812}'
    )
    entry = parse_line(line)
    assert entry.level is Level.WARN
    assert entry.display == f"{local('2024-03-01T10:20:30+00:00')}  WARN   cache miss storm  misses=812"


def test_mongodb_own_structured_log() -> None:
    line = (
        '{"t":{"$date":"2024-03-01T10:20:30.001+00:00"},"s":"W","c":"NETWORK","id":4615610,"ctx":"conn12",'
        '"msg":"Failed to check socket connectivity","attr":{"error":"Connection reset by peer"}}'
    )
    entry = parse_line(line)
    assert entry.level is Level.WARN
    assert entry.display == (
        f"{local('2024-03-01T10:20:30.001+00:00')}  WARN   [NETWORK] Failed to check socket connectivity"
        '  attr.error="Connection reset by peer"'
    )


def test_json_that_is_not_a_log_record_is_shown_as_it_came() -> None:
    for line in ['{"user": "ann", "n": 3}', "[1, 2, 3]", '"just a string"', "42", "null", '{"level": true}']:
        entry = parse_line(line)
        assert entry.display == line and entry.time_text is None


# -- plain lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2024-03-01T10:20:30Z ERROR payment failed", Level.ERROR),
        ("error: something broke", Level.ERROR),
        ("[warn] deprecated option 'useNewUrlParser'", Level.WARN),
        ("[WARNING] disk almost full", Level.WARN),
        ("WARN  low memory", Level.WARN),
        ("10:20:30 INFO  listening on :5000", Level.INFO),
        ("DEBUG query took 3 ms", Level.DEBUG),
        ("TRACE entering handler", Level.TRACE),
        ("FATAL out of file descriptors", Level.FATAL),
        ("npm WARN deprecated request@2.88.2: request has been deprecated", Level.WARN),
        ("npm ERR! code ELIFECYCLE", Level.ERROR),
        ("time=10:20:30 level=warn msg=retrying", Level.WARN),
        ("(node:4242) [DEP0040] DeprecationWarning: The `punycode` module is deprecated.", Level.WARN),
        ("\x1b[31merror\x1b[39m: red in a terminal", Level.ERROR),
        ("Server listening on port 5000", None),
        ("  VITE v5.0.10  ready in 312 ms", None),
        ("INFORMATION wants to be free", None),
        ("GET /api/errors 200 4 ms", None),
    ],
)
def test_plain_line_levels(line: str, level: Level | None) -> None:
    assert parse_line(line).level is level


@pytest.mark.parametrize(
    "line",
    [
        "Error: connect ECONNREFUSED 127.0.0.1:27017",
        "Error: listen EADDRINUSE: address already in use :::5000",
        "Error: read ECONNRESET",
        "MongoNetworkError: failed to connect to server [localhost:27017] on first connect",
        "MongoServerSelectionError: connect ECONNREFUSED ::1:27017",
        "MongooseServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017",
        "Unhandled rejection TypeError: Cannot read properties of undefined (reading 'id')",
        "(node:4242) UnhandledPromiseRejectionWarning: Error: boom",
        "[UnhandledPromiseRejection: This error originated either by throwing inside of an async function]",
        "TypeError: Cannot read properties of undefined (reading 'map')",
        "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'express' imported from /app/server.js",
        "Error: Cannot find module 'dotenv'",
        "    at Server.setupListenHandle [as _listen2] (node:net:1872:16)",
        "    at listenInCluster (node:net:1920:12)",
        "    at async Promise.all (index 0)",
        "    at new Promise (<anonymous>)",
        "Traceback (most recent call last):",
        '  File "/app/worker.py", line 12, in <module>',
        "ValueError: invalid literal for int() with base 10: 'x'",
        "npm ERR! Exit status 1",
        "[nodemon] app crashed - waiting for file changes before starting...",
        '[vite] Internal server error: Failed to resolve import "./App" from "src/main.jsx"',
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    ],
)
def test_error_looking_lines(line: str) -> None:
    entry = parse_line(line)
    assert entry.is_error
    assert entry.rank >= Level.ERROR  # the "errors only" filter shows it


@pytest.mark.parametrize(
    "line",
    [
        "GET /api/errors 200 4 ms",
        "0 errors, 2 warnings",
        "Server listening on port 5000",
        "Connected to MongoDB at mongodb://127.0.0.1:27017",
        "at the end of the day",
        "  at least one worker is idle",
        "INFO request handled",
    ],
)
def test_ordinary_lines_are_not_errors(line: str) -> None:
    assert not parse_line(line).is_error


def test_markers() -> None:
    text = marker_text("up → down (refused)", "backend", t=0)
    assert text == f"── {time.strftime('%H:%M:%S', time.localtime(0))} backend: up → down (refused) ──"
    entry = marker_entry(text, "backend", t=1.0, seq=7)
    assert (entry.kind, entry.display, entry.source, entry.seq, entry.level) == ("marker", text, "backend", 7, None)
    assert marker_entry("paused").display == "── paused ──"


# -- the line that says what went wrong ---------------------------------------------------------

EADDRINUSE_CRASH = """\
[nodemon] 3.0.2
[nodemon] starting `node server.js`
node:events:497
      throw er; // Unhandled 'error' event
      ^

Error: listen EADDRINUSE: address already in use :::5000
    at Server.setupListenHandle [as _listen2] (node:net:1872:16)
    at listenInCluster (node:net:1920:12)
    at Server.listen (node:net:2008:7)
    at Function.listen (/home/dev/app/node_modules/express/lib/application.js:635:24)
    at Object.<anonymous> (/home/dev/app/server.js:42:5)
Emitted 'error' event on Server instance at:
    at emitErrorNT (node:net:1899:8)
    at process.processTicksAndRejections (node:internal/process/task_queues:82:21) {
  code: 'EADDRINUSE',
  errno: -98,
  syscall: 'listen',
  address: '::',
  port: 5000
}

Node.js v20.11.0
[nodemon] app crashed - waiting for file changes before starting...
"""

MONGO_CRASH = """\
Server listening on port 5000
/home/dev/app/node_modules/mongoose/lib/connection.js:792
    err = new ServerSelectionError();
          ^

MongooseServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017
    at _handleConnectionErrors (/home/dev/app/node_modules/mongoose/lib/connection.js:792:11)
    at NativeConnection.openUri (/home/dev/app/node_modules/mongoose/lib/connection.js:767:11) {
  reason: TopologyDescription {
    type: 'Unknown',
    servers: Map(1) { 'localhost:27017' => [ServerDescription] },
  },
  code: undefined
}
"""

DRIVER_CRASH = """\
connecting to mongodb://127.0.0.1:27017/app
MongoServerSelectionError: connect ECONNREFUSED ::1:27017
    at Timeout._onTimeout (/app/node_modules/mongodb/lib/sdam/topology.js:278:38)
"""

MISSING_MODULE = """\
node:internal/modules/cjs/loader:1080
  throw err;
  ^

Error: Cannot find module 'express'
Require stack:
- /home/dev/app/server.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1077:15)
    at Module._load (node:internal/modules/cjs/loader:922:27) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/home/dev/app/server.js' ]
}

Node.js v18.19.0
"""

UNHANDLED = """\
node:internal/process/promises:288
            triggerUncaughtException(err, true /* fromPromise */);
            ^

[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch \
block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "oops".] {
  code: 'ERR_UNHANDLED_REJECTION'
}
"""

PYTHON_CRASH = """\
Starting worker
Traceback (most recent call last):
  File "/app/worker.py", line 12, in <module>
    main()
  File "/app/worker.py", line 8, in main
    port = int(os.environ["PORT"])
ValueError: invalid literal for int() with base 10: 'x'
"""


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (EADDRINUSE_CRASH, "Error: listen EADDRINUSE: address already in use :::5000"),
        (MONGO_CRASH, "MongooseServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017"),
        (DRIVER_CRASH, "MongoServerSelectionError: connect ECONNREFUSED ::1:27017"),
        (MISSING_MODULE, "Error: Cannot find module 'express'"),
        (UNHANDLED, "[UnhandledPromiseRejection: This error originated either by throwing inside of an async"),
        (PYTHON_CRASH, "ValueError: invalid literal for int() with base 10: 'x'"),
        (
            "[nodemon] starting `node server.js`\n[nodemon] app crashed - waiting for file changes before starting...",
            "[nodemon] app crashed - waiting for file changes before starting...",
        ),
        (
            "npm ERR! code ELIFECYCLE\nnpm ERR! errno 1\nnpm ERR! app@1.0.0 start: `node server.js`",
            "npm ERR! code ELIFECYCLE",
        ),
    ],
)
def test_first_error_line_of_a_crash(output: str, line: str) -> None:
    found = first_error_line(output.splitlines())
    assert found is not None and found.startswith(line)
    assert len(found) <= 300


def test_first_error_line_reads_json_loggers_and_finds_nothing_in_a_clean_start() -> None:
    pino = [
        '{"level":30,"time":1700000000000,"msg":"starting"}',
        '{"level":50,"time":1700000000001,"msg":"failed to start","err":{"type":"Error",'
        '"message":"listen EADDRINUSE: address already in use :::5000"}}',
    ]
    assert first_error_line(pino) == (
        'failed to start  err.type=Error  err.message="listen EADDRINUSE: address already in use :::5000"'
    )
    assert first_error_line(["> app@1.0.0 start", "> node server.js", "Server listening on port 5000"]) is None
    assert first_error_line([]) is None


# -- never raises, bounded --------------------------------------------------------------------------


def test_garbage_never_raises_and_is_shown_as_one_line() -> None:
    rng = random.Random(4)
    garbage = [
        "",
        "{",
        "}",
        '{"level": 30, "time": 1e400, "msg": "overflowing time"}',
        '{"level": 30, "time": -1e20, "msg": "before time"}',
        '{"level": "nonsense", "msg": 12}',
        '{"level": 30, "msg": "x", "time": {"$date": []}}',
        '{"err": {"stack": 5}, "level": 50, "msg": "odd stack"}',
        '{"a": ' * 5000 + "1" + "}" * 5000,
        "[" * 100_000,
        '{"n": 1' + "0" * 5000 + ', "level": 30, "msg": "huge number"}',
        "\ud800 lone surrogate \udfff",
        "nul\x00 bell\x07 back\x08 para\u2029graph frame\ufdd0 cr\rin the middle",
        "\x1b[ unfinished escape",
        "E" * 1_000_000,
        "{" + "x" * 2_000_000 + "}",
        "".join(chr(rng.randrange(1, 0x3000)) for _ in range(5000)),
        "    at " + "(" * 50_000,
    ]
    garbage += ["".join(chr(rng.randrange(0, 256)) for _ in range(rng.randrange(1, 300))) for _ in range(300)]
    for line in garbage:
        entry = parse_line(line, "api", 1.0)
        assert not any(c in entry.display for c in "\n\r\u2029\ufdd0\ufdd1\x00")
        assert len(entry.display) <= MAX_SHOWN + 50
        looks_like_error(line)
    assert first_error_line(garbage) is not None  # and never raises either


def test_a_huge_line_is_shown_cut_and_says_how_much_was_left_out() -> None:
    entry = parse_line("Error: " + "x" * 1_000_000)
    assert entry.is_error
    assert entry.display == "Error: " + "x" * (MAX_SHOWN - 7) + f"… [{1_000_007 - MAX_SHOWN} more characters]"
