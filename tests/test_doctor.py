"""``trayapp doctor`` (issue #10 section 6): each finding, against sample projects, real files,
real listeners, NX-27017 and the real command line."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.kit.cli import run_cli
from tests.kit.projects import copy_project
from trayapp.model import ProbeOutcome, Reason
from trayapp.project.discover import localhost_order
from trayapp.project.doctor import Finding, Severity, doctor, mongo_finding

NO_ENV: dict[str, str] = {}


def run(root: Path, **kwargs: object) -> list[Finding]:
    kwargs.setdefault("environ", NO_ENV)
    kwargs.setdefault("node_version", lambda: "20.20.2")
    return doctor(root, **kwargs)  # type: ignore[arg-type]


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def with_node_modules(root: Path) -> Path:
    for manifest in root.rglob("package.json"):
        (manifest.parent / "node_modules").mkdir(exist_ok=True)
    return root


# --------------------------------------------------------------------------- environment variables


def test_variables_the_server_reads_that_nothing_sets(tmp_path: Path) -> None:
    findings = by_code(run(copy_project("doctor", tmp_path)), "env_unset")
    assert [(f.where, f.message.split(" (")[0]) for f in findings] == [
        ("server/index.js:5", "backend's code reads STRIPE_KEY"),  # const { STRIPE_KEY, ... } = process.env
        ("server/index.js:7", "backend's code reads JWT_SECRET"),  # process.env.JWT_SECRET
        ("server/routes/auth.js:2", "backend's code reads FALLBACK_SECRET"),
    ]
    assert all(f.severity is Severity.WARNING for f in findings)
    assert findings[1].fix == "add JWT_SECRET=... to server/.env"
    # Not flagged: SMTP_HOST and MONGODB_URI (process.env['MONGODB_URI']) are in server/.env, PORT has a
    # destructuring default, TIMEOUT_MS a `|| 2000` fallback, NODE_ENV is the tools' to set.
    said = " ".join(f.message for f in findings)
    for name in ("SMTP_HOST", "MONGODB_URI", "PORT ", "TIMEOUT_MS", "NODE_ENV"):
        assert f"reads {name}" not in said


def test_a_variable_set_in_the_environment_is_not_a_finding(tmp_path: Path) -> None:
    findings = run(copy_project("doctor", tmp_path), environ={"JWT_SECRET": "x"})
    assert "JWT_SECRET" not in " ".join(f.message for f in by_code(findings, "env_unset"))


def test_vite_variables_the_client_reads_that_nothing_sets(tmp_path: Path) -> None:
    [finding] = by_code(run(copy_project("doctor", tmp_path)), "vite_env_unset")
    assert finding.where == "client/src/main.js:1"
    assert "import.meta.env.VITE_API_URL" in finding.message  # VITE_TITLE is in client/.env; MODE is Vite's own
    assert finding.fix == "add VITE_API_URL=... to client/.env"


# --------------------------------------------------------------------------- .env files


def test_env_file_problems(tmp_path: Path) -> None:
    findings = run(copy_project("doctor", tmp_path))
    [duplicate] = by_code(findings, "env_duplicate")
    assert duplicate.where == "server/.env:6"
    assert "PORT=3001 at line 1, PORT=3002 at line 6" in duplicate.message
    assert [f.where for f in by_code(findings, "env_unquoted_spaces")] == ["server/.env:4"]  # APP_NAME=My Shop
    assert [f.where for f in by_code(findings, "env_trailing_space")] == ["server/.env:5"]  # GREETING=hello␠
    [bad] = by_code(findings, "env_bad_line")
    assert bad.where == "server/.env:7" and "'PORT 3003'" in bad.message


def test_a_byte_order_mark_and_crlf_line_ends(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    (root / "server" / ".env").write_bytes(b"\xef\xbb\xbfPORT=3001\r\nMONGODB_URI=mongodb://127.0.0.1:27017/shop\r\n")
    findings = run(root)
    assert [f.where for f in by_code(findings, "env_bom")] == ["server/.env:1"]
    assert [f.severity for f in by_code(findings, "env_crlf")] == [Severity.INFO]
    assert not by_code(findings, "env_bad_line")  # both lines still read


def test_secrets_in_env_findings_are_masked(tmp_path: Path) -> None:
    root = copy_project("backend3001", tmp_path)
    (root / "server" / ".env").write_text(
        "PORT=3001\nJWT_SECRET=first-s3cret\nJWT_SECRET=second-s3cret\nDB_URI=mongodb://u:pw9999@h/x\nDB_URI=x\n"
    )
    text = json.dumps([f.to_json() for f in run(root)])
    assert "JWT_SECRET=*** at line 2" in text
    assert "s3cret" not in text and "pw9999" not in text


# --------------------------------------------------------------------------- proxy


def test_the_proxy_targets_another_port_than_the_backend(tmp_path: Path) -> None:
    [finding] = by_code(run(copy_project("wrong-proxy", tmp_path)), "proxy_port")
    assert finding.severity is Severity.ERROR and finding.where == "client/vite.config.js:8"
    assert finding.message == (
        "Vite's /api proxy targets port 5000 (client/vite.config.js:8), but backend listens on 3001 "
        "(server/.env:1): every /api call fails with 502."
    )
    assert finding.fix == "set the target to http://localhost:3001, or backend's PORT to 5000"


def test_a_proxy_to_ipv6_loopback_while_the_backend_binds_ipv4_only(tmp_path: Path) -> None:
    [finding] = by_code(run(copy_project("ipv6-proxy", tmp_path)), "proxy_family")
    assert finding.severity is Severity.ERROR and finding.where == "client/vite.config.js:8"
    assert "targets http://[::1]:3001" in finding.message
    assert "backend binds 127.0.0.1 (server/.env:2), 127.0.0.1 only" in finding.message
    assert "ECONNREFUSED [::1]:3001" in finding.message
    assert finding.fix.startswith("set the target to http://127.0.0.1:3001")


def test_the_proxy_family_is_read_from_the_real_listener(tmp_path: Path, backend) -> None:
    api = backend("healthy", host="127.0.0.1")
    root = copy_project("ipv6-proxy", tmp_path, {3001: api.port})
    (root / "server" / ".env").write_text(f"PORT={api.port}\n")  # no HOST: only the listener tells
    [finding] = by_code(run(root), "proxy_family")
    assert "backend listens on 127.0.0.1 now, 127.0.0.1 only" in finding.message


def test_a_localhost_proxy_target_and_a_backend_on_one_family(tmp_path: Path, backend) -> None:
    """Which address localhost gives first is this machine's fact: the finding says which."""
    order = localhost_order()
    assert order, "localhost does not resolve here"
    families = {socket.AF_INET6 if ":" in a else socket.AF_INET for a in order}
    other = "::1" if ":" not in order[0] else "127.0.0.1"  # the loopback of the family localhost gives last, or not
    api = backend("healthy", host=other)
    root = copy_project("backend3001", tmp_path, {3001: api.port})
    [finding] = by_code(run(root), "proxy_family")
    assert f"localhost resolves to {', '.join(order) if len(families) == 1 else order[0]}" in finding.message
    assert f"backend listens on {other} now" in finding.message
    assert finding.severity is (Severity.ERROR if len(families) == 1 else Severity.WARNING)


def test_a_backend_that_binds_both_families_has_no_family_finding(tmp_path: Path) -> None:
    assert not by_code(run(copy_project("backend3001", tmp_path)), "proxy_family")  # Node's default: ::


# --------------------------------------------------------------------------- ports


def test_the_backend_port_held_by_a_process_outside_the_project(tmp_path: Path, backend) -> None:
    stale = backend("healthy")  # runs in the test's folder, not the project's
    root = copy_project("backend3001", tmp_path, {3001: stale.port})
    [finding] = by_code(run(root), "port_taken")
    assert finding.severity is Severity.ERROR and finding.where == "server/.env:1"
    assert f"port {stale.port} (server/.env:1) is held now by python" in finding.message
    assert f"pid {stale.pid}, started " in finding.message and " ago in " in finding.message
    assert finding.fix == f"stop it (trayapp kill {stale.port}) or give backend another port"


def test_the_projects_own_running_backend_is_not_a_finding(tmp_path: Path, backend) -> None:
    port = free_port()
    root = copy_project("backend3001", tmp_path, {3001: port})
    backend("healthy", port=port, cwd=root / "server")
    assert not by_code(run(root), "port_taken")


def test_two_services_on_one_port(tmp_path: Path) -> None:
    [finding] = by_code(run(copy_project("doctor", tmp_path)), "port_shared")
    assert finding.message == (
        "backend (server/.env:6) and frontend (client/vite.config.js:3) both use port 3002: whichever starts "
        "second fails with EADDRINUSE."
    )


# --------------------------------------------------------------------------- MongoDB


def test_a_mongodb_uri_that_does_not_answer(tmp_path: Path) -> None:
    findings = run(copy_project("doctor", tmp_path))  # MONGODB_URI=mongodb://app:s3cret@127.0.0.1:1/shop
    [finding] = by_code(findings, "mongo_unreachable")
    assert finding.where == "server/.env:2"
    assert finding.message.startswith("MONGODB_URI (mongodb://***@127.0.0.1:1/shop) does not answer a ping within 2 s")
    assert "s3cret" not in json.dumps([f.to_json() for f in findings])


def test_a_mongodb_uri_that_answers(tmp_path: Path, mongo) -> None:
    db = mongo()
    root = copy_project("backend3001", tmp_path, {27017: db.port})
    assert not by_code(run(root), "mongo_unreachable")


def test_rejected_credentials_are_named_and_redacted() -> None:
    # NX-27017 has no users, so the server's "Authentication failed" outcome is built here;
    # the probe's classification of a real OperationFailure is tested in test_probes.
    outcome = ProbeOutcome(Reason.AUTH_FAILED, "rejected the credentials (Authentication failed.)")
    finding = mongo_finding(outcome, "mongodb://app:hunter22@127.0.0.1:27017/shop", "server/.env:2", "MONGODB_URI")
    assert finding is not None and finding.code == "mongo_auth" and finding.severity is Severity.ERROR
    assert finding.message == (
        "MONGODB_URI (mongodb://***@127.0.0.1:27017/shop) answers, but rejects its credentials "
        "(rejected the credentials (Authentication failed.))."
    )
    assert "hunter22" not in finding.message + finding.fix


# --------------------------------------------------------------------------- node


def test_node_modules_missing(tmp_path: Path) -> None:
    findings = by_code(run(copy_project("backend3001", tmp_path)), "node_modules_missing")
    assert [f.where for f in findings] == ["server/package.json", "client/package.json"]
    assert findings[0].fix == "run `npm install` in server"


def test_hoisted_node_modules_count_for_workspaces(tmp_path: Path) -> None:
    root = copy_project("workspaces", tmp_path)
    (root / "node_modules").mkdir()
    assert not by_code(run(root), "node_modules_missing")


@pytest.mark.parametrize(
    ("node", "wanted", "code"),
    [("20.20.2", ">=99", "node_version"), ("18.1.0", ">=18", None), ("20.20.2", "pick one", "node_engines_invalid")],
)
def test_node_version_against_engines(tmp_path: Path, node: str, wanted: str, code: str | None) -> None:
    root = copy_project("doctor", tmp_path)
    manifest = root / "server" / "package.json"
    manifest.write_text(manifest.read_text().replace('">=99"', json.dumps(wanted)))
    findings = [f for f in run(root, node_version=lambda: node) if f.code in ("node_version", "node_engines_invalid")]
    assert [f.code for f in findings] == ([code] if code else [])
    if code:
        assert findings[0].where == "server/package.json:5"


def test_no_node_here(tmp_path: Path) -> None:
    [finding] = by_code(run(copy_project("doctor", tmp_path), node_version=lambda: None), "node_missing")
    assert "there is no node on PATH" in finding.message


# --------------------------------------------------------------------------- the command


def test_doctor_json_and_exit_code_with_errors(tmp_path: Path) -> None:
    root = copy_project("wrong-proxy", tmp_path)
    result = run_cli("doctor", root, "--json", home=tmp_path)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["errors"] == sum(f["severity"] == "error" for f in data["findings"]) > 0
    assert set(data["findings"][0]) == {"severity", "code", "message", "where", "fix"}
    assert "proxy_port" in {f["code"] for f in data["findings"]}


def test_doctor_exits_0_without_errors_and_prints_each_finding_with_its_fix(tmp_path: Path, mongo) -> None:
    db = mongo()
    root = with_node_modules(copy_project("no-proxy", tmp_path, {5000: free_port(), 5173: free_port()}))
    (root / "backend" / ".env").write_text(f"PORT=5000 \nMONGODB_URI=mongodb://127.0.0.1:{db.port}/todo\n")
    result = run_cli("doctor", home=tmp_path, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning  backend/.env:1  PORT's value in backend/.env ends with a space" in result.stdout
    assert "         fix: remove the space after PORT's value" in result.stdout
    assert "0 errors, 1 warning" in result.stdout


def test_doctor_usage_errors(tmp_path: Path) -> None:
    assert run_cli("doctor", tmp_path / "nowhere", home=tmp_path).returncode == 2
    assert run_cli("doctor", "--bogus", home=tmp_path).returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("doctor", empty, home=tmp_path)
    assert result.returncode == 2 and "is not a JavaScript project" in result.stderr


def test_environment_of_the_doctor_counts(tmp_path: Path) -> None:
    root = copy_project("doctor", tmp_path)
    env_findings = by_code(
        doctor(root, environ={**os.environ, "STRIPE_KEY": "k"}, node_version=lambda: "22.0.0"), "env_unset"
    )
    assert "STRIPE_KEY" not in " ".join(f.message for f in env_findings)
