"""depends_on / proxy_path / proxy_to / stale_after_checks in the config, the proxy sentences whose
conditions cannot be made on this machine (the resolver's order injected), one popup per root cause,
and stale_connection's rules (issue #10 sections 3 to 5). The real-server cases are in
test_proxy_stack.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.kit.services import make_service, service_toml
from tests.kit.stack import Stack, get_json
from tests.kit.wait import wait_until
from trayapp.checks.checker import check_once
from trayapp.checks.proxy import Fetched, ProxyCheck, browser_reaches
from trayapp.clock import ManualClock
from trayapp.config.load import ConfigError, Provenance, parse_config
from trayapp.model import CheckResult, Kind, Listener, Reason, State, Transition
from trayapp.monitor.notifier import Notifier
from trayapp.monitor.rootcause import Relations, root_summary, with_blocked_by
from trayapp.monitor.scheduler import CheckEvent, Monitor

# -- config --------------------------------------------------------------------------------


def three(frontend: str = "", backend: str = "", db: str = "") -> str:
    return (
        f'[[service]]\nname = "backend"\nkind = "http"\nurl = "http://127.0.0.1:5000/api/health"\n{backend}\n'
        f'[[service]]\nname = "frontend"\nkind = "http"\nurl = "http://localhost:5173/"\n{frontend}\n'
        f'[[service]]\nname = "db"\nkind = "mongo"\nuri = "mongodb://127.0.0.1:27017"\n{db}\n'
    )


def test_config_reads_depends_on_proxy_path_proxy_to_and_stale_after_checks() -> None:
    config = parse_config(
        three(
            frontend='proxy_path = "/api/health"\nproxy_to = "backend"',
            backend='depends_on = ["db"]\nstale_after_checks = 5',
        ),
        "t.toml",
    )
    frontend, backend = config.service("frontend"), config.service("backend")
    assert (frontend.proxy_path, frontend.proxy_to, frontend.needs) == ("/api/health", "backend", ("backend",))
    assert (backend.depends_on, backend.stale_after_checks) == (("db",), 5)
    assert config.service("db").stale_after_checks == 3  # the default


@pytest.mark.parametrize(
    ("frontend", "backend", "message"),
    [
        ('proxy_path = "/api/health"\nproxy_to = "api"', "", "field 'proxy_to': 'api' is not a service (known: "),
        ('proxy_path = "/api/health"', "", "field 'proxy_path': needs proxy_to as well"),
        ('proxy_path = "api/health"\nproxy_to = "backend"', "", 'must be a path that starts with "/"'),
        ("", 'depends_on = ["backend"]', "service 'backend': field 'depends_on': names the service itself"),
        ('depends_on = ["backend"]', 'depends_on = ["frontend"]', "makes a cycle"),
        ("", "stale_after_checks = 0", "field 'stale_after_checks': must be a whole number from 1 to 100, not 0"),
        ("", 'depends_on = "db db"', "'db db' is not a service"),
    ],
)
def test_config_rejects_bad_relations_with_a_sentence(frontend: str, backend: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(three(frontend=frontend, backend=backend), "t.toml")
    assert message in str(caught.value)


# -- the proxy sentence for localhost resolving to ::1 first ---------------------------------------------------------

FRONTEND_ORIGIN = (
    Provenance("kind", "client/package.json:11", '"vite": "^5.4.0"'),
    Provenance("proxy", "client/vite.config.js:7", "target: 'http://localhost:5000'"),
)


def proxy_pair(resolver_order: tuple[str, ...]) -> tuple[ProxyCheck, CheckResult, CheckResult]:
    from dataclasses import replace

    frontend = replace(
        make_service("frontend", "http", url="http://localhost:5173/"),
        origin=FRONTEND_ORIGIN,
        proxy_path="/api/health",
        proxy_to="backend",
    )
    backend = replace(
        make_service("backend", "http", url="http://127.0.0.1:5000/api/health"),
        origin=(Provenance("port", "server/.env:1", "PORT=5000"),),
    )
    check = ProxyCheck(
        frontend,
        backend,
        owners=lambda ports: [Listener("127.0.0.1", 5000, 4242, "node")],
        resolver=lambda host, port, timeout: resolver_order if host == "localhost" else (host,),
    )
    up = CheckResult("frontend", Kind.HTTP, "http://localhost:5173/", State.UP, Reason.OK, "ok.", 2.0, time.time())
    backend_up = CheckResult(
        "backend", Kind.HTTP, backend.target, State.UP, Reason.OK, "backend answers 200 OK in 1 ms.", 1.0, time.time()
    )
    return check, up, backend_up


VITE_502 = Fetched(502, "text/plain", b"", 4.0)  # Vite's answer when its proxy cannot connect (proxy.ts)


def test_localhost_that_resolves_to_ipv6_first_is_named_with_the_fix() -> None:
    check, own, backend = proxy_pair(("::1", "127.0.0.1"))  # macOS and many Linux machines

    row = check.judge(own, VITE_502, backend)

    assert (row.state, row.reason, row.blocked_by) == (State.DOWN, Reason.PROXY_ERROR, None)
    assert row.detail == (
        "Vite's /api proxy targets http://localhost:5000, which resolves to ::1 first, but backend listens on "
        "127.0.0.1 only: set the target to http://127.0.0.1:5000 or make backend listen on both."
    )


def test_localhost_that_resolves_to_ipv4_first_is_not_blamed_on_the_address_family() -> None:
    check, own, backend = proxy_pair(("127.0.0.1", "::1"))

    row = check.judge(own, VITE_502, backend)

    assert row.reason is Reason.PROXY_ERROR
    assert "resolves to" not in row.detail and "address" not in row.detail
    assert "every /api call fails with 502" in row.detail


def test_vites_502_is_never_called_a_failing_health_handler() -> None:
    check, own, backend = proxy_pair(("127.0.0.1",))
    row = check.judge(own, VITE_502, backend)
    assert "health handler" not in row.detail and row.http_status is None  # the row's own answer was the page


# -- the browser's localhost reaches a dev server on ::1 only --------------------------------------------------------


def test_vite_on_ipv6_only_is_up_when_the_browsers_localhost_reaches_it(stack: Stack) -> None:
    vite = stack.vite("http://127.0.0.1:9", host="::1")
    service = make_service("frontend", "tcp", host="127.0.0.1", port=vite.port)
    [checked] = check_once([service])
    raw = checked  # as dialled at 127.0.0.1, on this machine where localhost is 127.0.0.1 only
    assert raw.reason is Reason.ADDRESS_MISMATCH  # the browser's localhost fails here too: still red

    order = ("::1", "127.0.0.1")  # a machine whose localhost is ::1 first
    seen = browser_reaches(service, raw, resolver=lambda host, port, timeout: order)

    assert (seen.state, seen.reason) == (State.UP, Reason.OK)
    assert seen.detail == (
        "frontend listens on ::1 only, not on 127.0.0.1, but the browser's localhost reaches it "
        "(localhost resolves to ::1 then 127.0.0.1 here)."
    )


# -- a slow backend does not make Vite look hung ---------------------------------------------------------------------


def test_a_slow_backend_behind_vite_is_named_not_vite(stack: Stack, backend) -> None:
    slow = backend("slow", delay=3.0)
    vite = stack.vite(f"http://127.0.0.1:{slow.port}")
    services = parse_config(
        service_toml("backend", "http", url=slow.url(), timeout=1.0)
        + service_toml(
            "frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend", timeout=1.0
        ),
        "t.toml",
    ).services

    results = {r.service: r for r in with_blocked_by(check_once(list(services)), list(services))}

    front = results["frontend"]
    assert results["backend"].state is State.DOWN and results["backend"].reason is Reason.TIMEOUT
    assert front.detail == "frontend's API path /api/health fails because backend is down (timeout)."
    assert front.blocked_by == "backend" and "hung" not in front.detail


# -- one popup per root cause --------------------------------------------------------------------------------


def transition(name: str, new: State, reason: Reason, detail: str, blocked_by: str | None = None) -> Transition:
    return Transition(name, State.UP, new, reason, detail, 1.0, 30.0, blocked_by)


def test_three_red_rows_make_one_popup_that_names_the_root() -> None:
    clock = ManualClock()
    notifier = Notifier(clock)
    notifier.feed(transition("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, "backend answers (503)…", "db"))
    notifier.feed(transition("frontend", State.DEGRADED, Reason.DEPENDENCY_DOWN, "frontend's API path…", "backend"))
    clock.advance(3.0)  # db's own check confirms later than the backend's
    assert notifier.poll() == []
    notifier.feed(transition("db", State.DOWN, Reason.REFUSED, "Nothing listens on port 27017 (127.0.0.1): …"))
    clock.advance(1.0)

    [popup] = notifier.poll()

    assert popup.title == "db is down (refused); backend and frontend are affected"
    assert popup.message.startswith("Nothing listens on port 27017")
    assert popup.services == ("db", "backend", "frontend")
    clock.advance(60.0)
    assert notifier.poll() == []


def test_an_affected_service_whose_root_was_announced_makes_no_popup() -> None:
    clock = ManualClock()
    notifier = Notifier(clock)
    notifier.feed(transition("db", State.DOWN, Reason.REFUSED, "Nothing listens on port 27017"))
    clock.advance(1.0)
    assert [p.title for p in notifier.poll()] == ["db is down"]
    notifier.feed(transition("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, "backend answers (503)…", "db"))
    clock.advance(20.0)
    assert notifier.poll() == []


def test_a_blocked_service_whose_root_never_goes_bad_is_announced_alone_after_the_wait() -> None:
    clock = ManualClock()
    notifier = Notifier(clock, root_wait=10.0)
    notifier.feed(transition("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, "backend answers (503)…", "db"))
    clock.advance(9.0)
    assert notifier.poll() == []
    clock.advance(1.5)
    assert [p.title for p in notifier.poll()] == ["backend is degraded"]


def test_a_stale_connection_pops_up_with_a_restart_action_though_it_stays_degraded() -> None:
    clock = ManualClock()
    notifier = Notifier(clock)
    stale = Transition(
        "backend", State.DEGRADED, State.DEGRADED, Reason.STALE_CONNECTION, "backend still reports db …", 1.0
    )
    notifier.feed(stale)
    clock.advance(1.0)
    [popup] = notifier.poll()
    assert (popup.title, popup.action, popup.services) == ("backend has a stale connection", "restart", ("backend",))


def test_the_monitor_makes_one_popup_when_the_real_db_stops(stack: Stack) -> None:
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_until(lambda: get_json(backend.url("/api/health"))[0] == 200, what="backend connected")
    fast = {"interval": 0.2, "timeout": 1.0}
    services = parse_config(
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"], **fast)
        + service_toml("frontend", "http", url=vite.url("/"), proxy_path="/api/health", proxy_to="backend", **fast)
        + service_toml("db", "mongo", uri=f"{db.uri}/app", **fast),
        "t.toml",
    ).services
    monitor = Monitor(services)
    notifier = Notifier(monitor.clock, needs={s.name: s.needs for s in services})
    popups = []
    monitor.subscribe(lambda e: notifier.feed(e) if isinstance(e, Transition) else None)
    monitor.start()
    try:
        wait_until(lambda: all(s.state is State.UP for s in monitor.status()), timeout=15, what="all up")
        db.stop()

        def settled() -> bool:
            popups.extend(notifier.poll())
            states = {s.service.name: s.state for s in monitor.status()}
            bad = states == {"backend": State.DEGRADED, "frontend": State.DEGRADED, "db": State.DOWN}
            return bad and notifier.next_due() is None

        wait_until(settled, timeout=30, what="three bad rows and every popup delivered")
    finally:
        monitor.stop()
    assert [p.title for p in popups] == ["db is down (refused); backend and frontend are affected"]
    lasts = {s.service.name: s.last for s in monitor.status()}
    assert root_summary([r for r in lasts.values() if r is not None]) == [
        "db is down (refused); backend and frontend are affected"
    ]


# -- stale_connection's rules --------------------------------------------------------------------------------


def result(name: str, state: State, reason: Reason, detail: str, t: float, latency: float = 1.0) -> CheckResult:
    kind = Kind.MONGO if name == "db" else Kind.HTTP
    return CheckResult(name, kind, name, state, reason, detail, latency, t)


DISCONNECTED = "backend answers (503) but reports a dependency down: db: disconnected."
CONNECTING = "backend answers (503) but a dependency is still connecting: db: connecting."


def relations(now: list[float]) -> tuple[Relations, dict[str, CheckResult]]:
    services = parse_config(three(backend='depends_on = ["db"]'), "t.toml").services
    return Relations(services, lambda: now[0]), {}


def feed(rel: Relations, latest: dict[str, CheckResult], r: CheckResult) -> CheckResult:
    out = rel.observe(r, latest.get)
    latest[r.service] = out
    return out


def test_stale_after_three_up_checks_of_the_dependency_and_not_before() -> None:
    now = [100.0]
    rel, latest = relations(now)
    for i in range(3):
        feed(rel, latest, result("db", State.UP, Reason.OK, "db answers ping in 1 ms.", 100.0 + i))
        reported = feed(rel, latest, result("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, DISCONNECTED, 100.5 + i))
        if i < 2:
            assert reported.reason is Reason.DEPENDENCY_DOWN
    assert reported.reason is Reason.STALE_CONNECTION and reported.state is State.DEGRADED
    assert reported.detail == (
        "backend still reports db disconnected 2 s after db answers ping directly (1 ms): its driver gave up or its "
        "pool is stale; restart backend."
    )


def test_a_driver_still_connecting_is_not_stale() -> None:
    now = [100.0]
    rel, latest = relations(now)
    for i in range(5):
        feed(rel, latest, result("db", State.UP, Reason.OK, "ok", 100.0 + i))
        out = feed(rel, latest, result("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, CONNECTING, 100.5 + i))
    assert out.reason is Reason.DEPENDENCY_DOWN


def test_after_a_wake_a_stale_connection_waits_for_the_grace() -> None:
    now = [100.0]
    rel, latest = relations(now)
    rel.hold(10.0)  # WakeCoordinator on resume: Monitor.hold_stale(grace)
    for i in range(5):  # the wake burst: db answers again and again within a second
        feed(rel, latest, result("db", State.UP, Reason.OK, "ok", 100.0 + i * 0.5))
        out = feed(
            rel, latest, result("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, DISCONNECTED, 100.2 + i * 0.5)
        )
        assert out.reason is Reason.DEPENDENCY_DOWN
    feed(rel, latest, result("db", State.UP, Reason.OK, "ok", 110.5))
    out = feed(rel, latest, result("backend", State.DEGRADED, Reason.DEPENDENCY_DOWN, DISCONNECTED, 110.6))
    assert out.reason is Reason.STALE_CONNECTION  # the driver did not recover within the grace


def test_the_wake_coordinator_holds_stale_judgements_for_its_grace(tmp_path: Path) -> None:
    from trayapp.power.events import PowerEvent, PowerEventKind
    from trayapp.power.wake import WakeCoordinator

    clock = ManualClock()
    services = parse_config(three(backend='depends_on = ["db"]'), "t.toml").services
    monitor = Monitor(services, clock=clock)
    wake = WakeCoordinator(monitor, None, clock, grace=7.0)
    wake.on_power(PowerEvent(PowerEventKind.SUSPENDING, clock.wall(), "test"))
    wake.on_power(PowerEvent(PowerEventKind.RESUMED, clock.wall(), "test"))
    assert monitor.relations._hold_until == clock.wall() + 7.0


def test_a_dependency_the_user_stopped_is_named_as_the_root() -> None:
    """db is a managed service the user stopped: the backend that reports it down is blocked by db,
    as a dev server whose proxy cannot reach a stopped backend is (the summary says "stopped")."""
    services = parse_config(
        service_toml("db", "tcp", host="127.0.0.1", port=27017, start="sleep 1000")
        + service_toml("backend", "http", url="http://127.0.0.1:5000/api/health", depends_on=["db"]),
        "t.toml",
    ).services

    def result(name: str, state: State, reason: Reason, detail: str) -> CheckResult:
        return CheckResult(name, Kind.HTTP, "t", state, reason, detail, 1.0, 1.0)

    results = with_blocked_by(
        [
            result("db", State.STOPPED, Reason.STOPPED, "db is not running: start it with Start."),
            result(
                "backend",
                State.DEGRADED,
                Reason.DEPENDENCY_DOWN,
                "backend answers (503) but reports a dependency down: db: disconnected.",
            ),
        ],
        list(services),
    )

    assert [r.blocked_by for r in results] == [None, "db"]
    assert root_summary(results) == ["db is stopped; backend is affected"]


def test_status_keeps_the_proxy_checks_refused_connect_over_an_older_up_backend() -> None:
    # the proxy check dialled the backend's port after the backend's own check had answered:
    # "backend is up (ok)" must not replace what the fresher evidence said
    from dataclasses import replace

    from trayapp.model import ProxyPath

    config = parse_config(three(frontend='proxy_path = "/api/health"\nproxy_to = "backend"'), "t.toml")
    now = time.time()
    backend = CheckResult("backend", Kind.HTTP, "b", State.UP, Reason.OK, "backend answers 200 OK in 1 ms.", 1.0, now)
    said = "frontend's API path /api/health fails because backend is down (refused)."
    frontend = CheckResult("frontend", Kind.HTTP, "f", State.DOWN, Reason.PROXY_ERROR, said, 3.0, now)
    frontend = replace(frontend, blocked_by="backend", proxy=ProxyPath("/api/health", "backend", State.DOWN, 502, 3.0))

    rows = {r.service: r for r in with_blocked_by([backend, frontend], config.services)}

    assert rows["frontend"].detail == said


# -- who is stale: only the service whose OWN dependency it reports (user trial, case 1) ---------------------------


def test_a_dev_server_reading_db_disconnected_through_its_proxy_is_blocked_by_db_not_stale(stack: Stack) -> None:
    """MongoDB stops while watch runs. The frontend's API path gets the backend's 503 "db:
    disconnected" before the backend's own next check: that is the backend's report about its own
    dependency, read through Vite, which has no driver. It was called frontend's stale connection
    ("… 30 s after backend answers its check directly …; restart frontend"); it is blocked by db."""
    db = stack.db()
    backend = stack.backend(f"{db.uri}/app")
    vite = stack.vite(f"http://127.0.0.1:{backend.port}")
    wait_until(lambda: get_json(backend.url("/api/health"))[0] == 200, what="backend connected")
    services = parse_config(
        # the backend's own check is up and stays its latest for the test (its next is far off), as a
        # backend whose driver notices the stop only at its next heartbeat is
        service_toml("backend", "http", url=backend.url("/api/health"), depends_on=["db"], interval=300.0)
        + service_toml(
            "frontend",
            "http",
            url=vite.url("/"),
            proxy_path="/api/health",
            proxy_to="backend",
            stale_after_checks=1,
            interval=0.2,
            timeout=2.0,
        )  # fmt: skip
        + service_toml("db", "mongo", uri=f"{db.uri}/app", interval=0.2, timeout=1.0),
        "t.toml",
    ).services
    monitor = Monitor(services)
    seen: list[CheckResult] = []
    monitor.subscribe(lambda e: seen.append(e.result) if isinstance(e, CheckEvent) else None)
    monitor.start()
    try:
        wait_until(lambda: all(s.state is State.UP for s in monitor.status()), timeout=15, what="all up")
        db.stop()

        def judged() -> bool:
            last = next((s.last for s in monitor.status() if s.service.name == "frontend"), None)
            return last is not None and (last.reason is Reason.STALE_CONNECTION or last.blocked_by == "db")

        wait_until(judged, timeout=20, what="the frontend blocked by db (or called stale)")
    finally:
        monitor.stop()
    front = [r for r in seen if r.service == "frontend"]
    assert [r.detail for r in front if r.reason is Reason.STALE_CONNECTION] == []
    last = front[-1]
    assert (
        last.detail
        == "frontend's API path /api/health reaches backend, which reports a dependency down: db: disconnected."
    )
    assert last.headline == "blocked by db · db is down; frontend affected"
