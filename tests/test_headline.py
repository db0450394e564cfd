"""Headlines: a diagnosis read at a glance, beside its full sentence (issue 11, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kit.cli import run_cli
from tests.kit.servers import free_port
from tests.kit.services import service_toml
from trayapp.checks.probes import read_answer
from trayapp.headline import MAX_HEADLINE, has_phrase, headline
from trayapp.model import CheckResult, Kind, Listener, Reason, state_for


def result(reason: Reason, detail: str = "", **fields: object) -> CheckResult:
    values: dict = {
        "service": "backend",
        "kind": Kind.HTTP,
        "target": "http://127.0.0.1:5000/health",
        "state": state_for(reason),
        "reason": reason,
        "detail": detail,
        "latency_ms": 12.0,
        "t": 0.0,
        "port": 5000,
    }
    values.update(fields)
    return CheckResult(**values)


def holder(status: str = "sleeping", address: str = "127.0.0.1") -> Listener:
    return Listener(address=address, port=5000, pid=4242, name="node", status=status)


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_its_own_short_headline_in_words(reason: Reason) -> None:
    # A new Reason without a phrase fails here: add it to trayapp/headline.py's _PHRASES.
    assert has_phrase(str(reason)), f"no headline for reason {reason!r}: add one to trayapp/headline.py"
    for listeners in ((), (holder(),)):
        text = headline(result(reason, "backend: something happened.", listeners=listeners))
        assert 0 < len(text) <= MAX_HEADLINE
        assert "_" not in text, f"a reason code, not words: {text!r}"


@pytest.mark.parametrize(
    ("made", "said"),
    [
        (result(Reason.REFUSED), "nothing listens on port 5000"),
        (result(Reason.REFUSED, listeners=(holder(),)), "port 5000 is open but refuses connections"),
        (result(Reason.HTTP_STATUS, http_status=404), "health path not found (404)"),
        (result(Reason.HTTP_STATUS, http_status=503), "health check fails (503)"),
        (result(Reason.TIMEOUT, listeners=(holder("stopped"),)), "server on port 5000 is paused (stopped)"),
        (result(Reason.TIMEOUT, listeners=(holder(),)), "server on port 5000 hangs: no answer"),
        (result(Reason.ADDRESS_MISMATCH, listeners=(holder(address="::1"),)), "port 5000 listens on ::1 only"),
        (result(Reason.PROTOCOL_ERROR, listeners=(holder(),)), "another program holds port 5000"),
        (result(Reason.OK, kind=Kind.MONGO, latency_ms=3.2), "answers ping in 3 ms"),
        (result(Reason.SLOW, latency_ms=2300.0), "slow: answered in 2.3 s"),
        (result(Reason.EXITED, "backend exited with code 1 after 2 s."), "process exited (code 1)"),
        (result(Reason.STOPPED, "backend was stopped by you: start it with Start."), "stopped by you"),
    ],
)
def test_headline_says_what_the_sentence_says_in_a_few_words(made: CheckResult, said: str) -> None:
    assert made.headline == said


def test_a_dependency_down_names_it_and_the_service_it_affects() -> None:
    # The detail as the probe writes it from real health bodies (mongoose's readyState words).
    _, down = read_answer(503, "Service Unavailable", b'{"status":"error","db":"disconnected"}', "application/json")
    said = result(Reason.DEPENDENCY_DOWN, f"backend answers (503) but {down}.").headline
    assert said == "db is down; backend affected"
    _, connecting = read_answer(503, "", b'{"status":"starting","mongodb":"connecting"}', "application/json")
    assert result(Reason.DEPENDENCY_DOWN, f"backend answers but {connecting}.").headline == "MongoDB still connecting"


def test_a_service_blocked_by_another_names_the_root_first() -> None:
    made = result(Reason.PROXY_ERROR, "frontend's API path fails because backend is down.", blocked_by="backend")
    assert made.headline.startswith("blocked by backend · ")
    assert result(Reason.OK, blocked_by="backend").headline == "answers in 12 ms"  # up: nothing blocks it


def test_a_long_headline_is_cut_to_the_limit_with_an_ellipsis() -> None:
    said = result(Reason.ERROR, "backend: " + "very " * 40 + "long driver message.").headline
    assert len(said) <= MAX_HEADLINE and said.endswith("…") and said.startswith("check failed: very")


def test_an_unknown_reason_still_gets_words_not_a_crash() -> None:
    made = result(Reason.ERROR)
    object.__setattr__(made, "reason", "brand_new_reason")
    assert made.headline == "brand new reason"


def test_status_json_and_table_carry_the_headline_and_v_the_sentence(tmp_path: Path, backend) -> None:
    api = backend("not_found", cwd=tmp_path)  # in the config's folder: its own 404, not a stranger's (stale_holder)
    gone = free_port()
    config = tmp_path / "stack.toml"
    config.write_text(
        "\n".join(
            (
                service_toml("api", "http", url=api.url(), timeout=2.0),
                service_toml("web", "tcp", host="127.0.0.1", port=gone, timeout=1.0),
            )
        )
    )
    data = json.loads(run_cli("status", "--config", config, "--json", home=tmp_path).stdout)
    said = {s["name"]: (s["state"], s["headline"]) for s in data["services"]}
    assert said == {"api": ("down", "health path not found (404)"), "web": ("down", f"nothing listens on port {gone}")}

    table = run_cli("status", "--config", config, home=tmp_path)
    assert table.returncode == 1
    rows = table.stdout.splitlines()
    assert rows[0].startswith("api  down") and rows[0].endswith("  health path not found (404)")
    assert rows[1].startswith("web  down") and rows[1].endswith(f"  nothing listens on port {gone}")
    assert "the health path is wrong or not mounted" not in table.stdout  # the sentence only with -v

    verbose = run_cli("status", "-v", "--config", config, home=tmp_path)
    rows = verbose.stdout.splitlines()
    assert rows[0].endswith("health path not found (404)")
    assert rows[1].startswith("     api answers 404") and "the health path is wrong or not mounted" in rows[1]
    assert rows[3].strip().startswith(f"Nothing listens on port {gone}")
