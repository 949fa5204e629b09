"""The worker runs where Windows leaves it: no os.fork and no signal.SIGALRM (docs/internals.md, "Windows")."""

from __future__ import annotations

import pytest

from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration

WINDOWS_LIKE = """
import os, signal
for name in ("fork", "forkpty", "wait4", "register_at_fork"):
    if hasattr(os, name):
        delattr(os, name)
for name in ("SIGALRM", "alarm", "setitimer", "ITIMER_REAL"):
    if hasattr(signal, name):
        delattr(signal, name)
"""


def test_worker_without_fork_or_sigalrm_takes_orders_and_queries(roles, http):
    roles.start("api")
    roles.start("worker", prelude=WINDOWS_LIKE)
    wait_ready(http, roles)

    accepted = http.post("/qmt/trade/api/trade", {"trader_index": 1, "symbol": "510300", "volume": 1000, "price": 4.0, "order_type": 23})
    assert accepted.status == 202, accepted.body
    job = http.get(f"/qmt/trade/api/jobs/{accepted.body['job_id']}", query="wait=10")
    assert job.body["status"] == "finished", (job.body, roles.log("worker"))
    assert job.body["result"]["order_id"] > 0
    assert http.get("/qmt/trade/api/accounts").status == 200

    log = roles.log("worker")
    assert "Traceback" not in log, log
    assert roles.stop("worker") == 0  # SIGTERM: RQ's warm shutdown, clean exit
