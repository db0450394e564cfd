"""The executors: one queue per service runs its actions in order, and no queue waits for another."""

from __future__ import annotations

import threading

from tests.kit.wait import wait_until
from trayapp.ui.tasks import Executors


def test_an_action_waits_for_the_one_before_it_on_the_same_service_only() -> None:
    executors = Executors()
    release = threading.Event()
    ran: list[str] = []

    def slow_start() -> None:  # a start waiting for a service that does not answer
        ran.append("api start")
        release.wait(30)
        ran.append("api start done")

    executors.queue("service api").submit(slow_start)
    executors.queue("service api").submit(lambda: ran.append("api stop"))
    executors.queue("service web").submit(lambda: ran.append("web start"))
    executors.lookups.submit(lambda: ran.append("port scan"))
    wait_until(lambda: {"web start", "port scan"} <= set(ran), what="the other work, during the slow start")
    assert "api stop" not in ran and executors.queue("service api").busy() == 2
    release.set()
    assert executors.wait(10)
    assert ran.index("api start") < ran.index("api start done") < ran.index("api stop")
