"""The simulator costing what a terminal costs (SIM_CALL_MS), across the real processes."""

from __future__ import annotations

from datetime import datetime

import pytest

from common.store import jobqueue
from common.store.payloads import QueryPayload
from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration
TRADE = "/qmt/trade/api/trade"
ORDERS = 20
CALL_MS = 50


def test_twenty_orders_at_50_ms_a_call_reach_the_simulator_once_each_and_take_the_sequential_floor(roles, http, role_env, real_redis):
    """With SIM_CALL_MS=50 every order_stock costs 50 ms on a terminal that works on one call at a time, so 20 orders
    sent one by one (BROKER_IN_FLIGHT=1) take at least 20 x 50 ms from the first send's start to the last acceptance:
    the sequential floor `run.py bench` sets pipelined sends beside; only the lower bound is asserted, the promise."""
    roles.env = {**role_env, "SIM_CALL_MS": str(CALL_MS), "SIM_CALL_CONCURRENCY": "1", "BROKER_IN_FLIGHT": "1"}
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)

    job_ids = []
    for n in range(ORDERS):
        accepted = http.post(TRADE, {"trader_index": 0, "symbol": "sh600000", "volume": 100, "price": round(9.8 - n / 100, 2), "order_type": 23})
        assert accepted.status == 202, accepted.body
        job_ids.append(accepted.body["job_id"])
    jobs = [http.get(f"/qmt/trade/api/jobs/{job_id}", query="wait=30").body for job_id in job_ids]

    unfinished = [(job["status"], job.get("result")) for job in jobs if job["status"] != "finished"]
    assert not unfinished and all(job["result"]["order_id"] > 0 for job in jobs), unfinished
    started = min(datetime.fromisoformat(job["started_at"]) for job in jobs)
    accepted_last = max(datetime.fromisoformat(job["ended_at"]) for job in jobs)
    assert (accepted_last - started).total_seconds() >= ORDERS * CALL_MS / 1000

    query_id = jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=0), 86_400)
    orders = jobqueue.wait(real_redis, query_id, 30)
    assert orders.status == "finished"
    remarks = sorted(order["order_remark"] for order in orders.result)
    assert remarks == sorted(job_ids)  # each order reached the simulator exactly once
