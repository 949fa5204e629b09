"""Pipelined sends (BROKER_IN_FLIGHT) at a terminal's real cost (SIM_CALL_MS=50): what holds with one send at a time
still holds with many in flight — at most once through a SIGKILL, a cancel before every order not yet sent, the rate
caps and the risk gate per order. Real processes, real Redis."""

from __future__ import annotations

import collections
import signal
import time
from datetime import datetime

import pytest
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from common.rules import risk
from common.store import jobqueue, keys, risk_state
from common.store.payloads import CancelPayload
from tests.integration.conftest import wait_ready
from tests.integration.test_at_most_once import broker_orders
from tests.support import order_payload, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
CALL_MS = "50"
ENDED = ("finished", "failed", "expired")


def resting(index: int) -> dict:
    """An order payload that rests at the simulator (bid under the last 10.00, within MAX_PRICE_DEVIATION_PCT)."""
    return order_payload(price=round(9.6 + (index % 30) / 100, 2), strategy_name=f"s{index}")


def in_flight(real_redis) -> int:
    """Order jobs started and not ended: sends out at the terminal, their answers not yet heard."""
    return StartedJobRegistry(keys.ORDER_QUEUE, connection=real_redis, serializer=JSONSerializer).count


def test_a_worker_killed_with_100_sends_in_flight_leaves_every_job_definite_and_none_doubled(roles, http, role_env, real_redis):
    # a terminal working on one call at a time at 50 ms: the worker's async sends pile up in flight behind each other
    roles.env = {**role_env, "SIM_CALL_MS": CALL_MS, "SIM_CALL_CONCURRENCY": "1", "BROKER_IN_FLIGHT": "100"}
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=0))
    job_ids = [jobqueue.enqueue(real_redis, resting(index), 86_400) for index in range(160)]
    roles.start("api")
    worker = roles.start("worker")
    wait_ready(http, roles)
    assert wait_until(lambda: in_flight(real_redis) >= 100, 30, 0.01), f"only {in_flight(real_redis)} sends in flight"
    worker.send_signal(signal.SIGKILL)  # 100 sends out, their answers unheard, the rest still queued
    worker.wait(10)
    roles.processes.pop("worker")
    roles.start("worker")
    assert wait_until(lambda: all(jobqueue.view(real_redis, j).status in ENDED for j in job_ids), 120, 0.5)

    views = {job_id: jobqueue.view(real_redis, job_id) for job_id in job_ids}
    tags = collections.Counter(o["order_remark"] for o in broker_orders(real_redis))
    assert max(tags.values()) == 1, "an order reached the broker twice"
    assert set(tags) <= set(job_ids), "an order at the broker that no job accounts for"
    outcomes = collections.Counter(view.result["outcome"] for view in views.values())
    assert outcomes["unknown"] == 0, outcomes  # every job definite: found by its tag, or never sent
    for job_id, view in views.items():
        if view.result["outcome"] == "submitted":
            assert tags[job_id] == 1 and view.result["order_id"] > 0, view
        else:
            assert tags[job_id] == 0 and view.error, view
    assert outcomes["submitted"] >= 60, outcomes  # those queued behind the kill were sent by the new worker


def test_a_cancel_queued_behind_1000_orders_goes_before_every_order_not_yet_sent(roles, http, role_env, real_redis):
    roles.env = {**role_env, "SIM_CALL_MS": CALL_MS, "SIM_CALL_CONCURRENCY": "1", "BROKER_IN_FLIGHT": "32"}
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=0))
    job_ids = [jobqueue.enqueue(real_redis, resting(index), 86_400) for index in range(1000)]
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    assert wait_until(lambda: jobqueue.view(real_redis, job_ids[10]).status == "finished", 30, 0.05)
    target = jobqueue.view(real_redis, job_ids[0]).result["order_id"]
    queued_at = time.time()
    cancel_id = jobqueue.enqueue(real_redis, CancelPayload(account_index=0, account_id="SIM000001", order_id=target), 86_400)
    cancel = jobqueue.wait(real_redis, cancel_id, 30)
    assert cancel.status == "finished" and cancel.result["cancelled"] == [target], cancel

    cancel_started = datetime.fromisoformat(cancel.started_at).timestamp()
    starts = [jobqueue.view(real_redis, job_id).started_at for job_id in job_ids]
    # an order job sends right after it starts: those started between the cancel's queueing and its start were sent first
    overtook = [s for s in starts if s and queued_at < datetime.fromisoformat(s).timestamp() < cancel_started]
    assert len(overtook) <= 1, f"{len(overtook)} orders not yet sent when the cancel was queued went before it"
    assert sum(1 for s in starts if not s) > 800, "the orders were not still queued behind the cancel"


def test_the_rate_caps_and_the_risk_gate_hold_per_order_with_sends_in_flight(roles, http, role_env, real_redis):
    roles.env = {**role_env, "SIM_CALL_MS": CALL_MS, "SIM_CALL_CONCURRENCY": "8", "BROKER_IN_FLIGHT": "32"}
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=5, max_actions_per_day=0, max_order_notional=1_000))
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    order = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 9.8, "order_type": 23}
    answers = [http.post(f"{API}/trade", {**order, "strategy_name": f"s{n}"}) for n in range(12)]  # each its own body: no replay
    accepted = [a.body["job_id"] for a in answers if a.status == 202]
    assert 5 <= len(accepted) <= 10 and any(a.status == 429 for a in answers), [a.status for a in answers]  # 5 a second
    # the gate again at the worker, per order, while others are in flight: 200 x 9.80 is over the 1,000 yuan cap
    mixed = [jobqueue.enqueue(real_redis, order_payload(price=9.8, volume=100 if n % 2 else 200), 86_400) for n in range(10)]
    views = {job_id: jobqueue.wait(real_redis, job_id, 30) for job_id in accepted + mixed}
    tags = collections.Counter(o["order_remark"] for o in broker_orders(real_redis))
    for job_id, view in views.items():
        if view.result["requested_volume"] == 200:
            assert view.result["outcome"] == "not_submitted" and "1,000" in view.result["error"] and tags[job_id] == 0, view
        else:
            assert view.result["outcome"] == "submitted" and tags[job_id] == 1, view

    # a cancel of every open buy counts each cancel it sends against the daily cap and sends none past it
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=0))
    resting_ids = [jobqueue.enqueue(real_redis, resting(index), 86_400) for index in range(6)]
    assert all(jobqueue.wait(real_redis, job_id, 30).result["outcome"] == "submitted" for job_id in resting_ids)
    open_before = [o for o in broker_orders(real_redis) if o["order_status"] == 50]
    used = risk_state.actions_today(real_redis, 0)
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=used + 3))
    cancel_id = jobqueue.enqueue(real_redis, CancelPayload(account_index=0, account_id="SIM000001", side="buy"), 86_400)
    done = jobqueue.wait(real_redis, cancel_id, 30).result
    assert len(done["cancelled"]) == 3 and len(done["refused"]) == len(open_before) - 3, done
    still_open = [o for o in broker_orders(real_redis) if o["order_status"] == 50]
    assert len(still_open) == len(open_before) - 3, "a cancel past the cap reached the broker"
