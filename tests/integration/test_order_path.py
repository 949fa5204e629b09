"""The order path end to end: signed HTTP → web process → real Redis → worker process → simulator → job result."""

from __future__ import annotations

import time

import pytest

from common.store import jobqueue
from common.store.payloads import QueryPayload
from tests.integration.conftest import wait_ready
from tests.support import order_deadline, wait_until

pytestmark = pytest.mark.integration
TRADE = "/qmt/trade/api/trade"


def test_a_signed_order_is_finished_with_the_simulators_order_id(roles, http):
    """How soon is the benchmark's to measure (python run.py bench: due → result, p50 and p99, beside a bare Flask + RQ
    app on the same machine): a wall-clock bound here would measure the machine the tests share."""
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)

    accepted = http.post(TRADE, {"trader_index": 0, "symbol": "sh600000", "volume": 100, "price": 10.0, "order_type": 23})
    assert accepted.status == 202, accepted.body
    job = http.get(f"/qmt/trade/api/jobs/{accepted.body['job_id']}", query="wait=30")  # answered the moment it ends

    assert job.status == 200 and job.body["status"] == "finished", job.body
    result = job.body["result"]
    assert result["outcome"] == "submitted" and result["order_id"] > 0
    assert result["symbol"] == "600000.SH" and result["side"] == "buy" and result["volume"] == 100
    order = job.body["order"]  # the broker's latest view of the order, from the simulator's callbacks
    assert order["order_id"] == result["order_id"] and order["order_remark"] == accepted.body["job_id"]


def test_accounts_are_answered_by_the_worker_and_a_dead_worker_is_503_with_the_job_id(roles, http):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    answer = http.get("/qmt/trade/api/accounts")
    assert answer.status == 200
    assert [(a["index"], a["account_id"], a["nick_name"]) for a in answer.body["accounts"]] == [(0, "SIM000001", "main"), (1, "SIM000002", "second")]

    roles.stop("worker")
    down = http.get("/qmt/trade/api/accounts")
    assert down.status == 503 and down.body["job_id"].startswith("q")
    assert "did not answer" in down.body["error"]


def test_an_order_queued_while_the_worker_is_down_expires_instead_of_being_sent_late(roles, http, role_env, real_redis):
    roles.env = {**role_env, "ORDER_TTL": "1"}
    roles.start("api")
    assert wait_until(lambda: _web_up(http), 20, 0.1)
    accepted = http.post(TRADE, {"trader_index": 0, "symbol": "000001", "volume": 100, "price": 9.5, "order_type": 23})
    assert accepted.status == 202
    deadline = order_deadline(real_redis, accepted.body["job_id"])
    assert wait_until(lambda: time.time() > deadline, 10)  # past ORDER_TTL before any worker runs
    roles.start("worker")
    job = http.get(f"/qmt/trade/api/jobs/{accepted.body['job_id']}", query="wait=20")
    assert job.body["status"] == "expired", job.body
    assert job.body["result"]["outcome"] == "expired" and job.body["result"]["order_id"] is None

    query_id = jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=0), 86_400)
    orders = jobqueue.wait(real_redis, query_id, 10)
    assert orders.status == "finished" and orders.result == [], "an expired order must never reach the broker"


def _web_up(http) -> bool:
    try:
        return http.get("/qmt/trade/api/health").status == 200
    except OSError:
        return False
