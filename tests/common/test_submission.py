"""The one way in: orders, cancels and queries through the Desk with no Flask app, the same jobs as the routes make."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import fakeredis
import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from api import create_app
from common.desk.callers import Caller, Idempotency
from common.desk.submission import Desk
from common.rules import risk
from common.rules.exceptions import IdempotencyConflict, RateLimited, ScopeDenied, StoreUnavailable, TradingHalted, WorkerUnanswered
from common.rules.order_request import OrderRequest, Shares
from common.rules.orders import BUY, PriceType
from common.store import jobqueue, keys, risk_state
from common.store.scripts import enqueue as enqueue_script
from tests.support import CLIENT_ID, make_settings, signed_headers, sim_prices_file, while_worker_runs

API = "/qmt/trade/api"
ROOT = Path(__file__).resolve().parents[2]
TEST_CLIENT = Caller(client_id=CLIENT_ID, scopes=("trade", "cancel", "query"), source="127.0.0.1")  # as the route sees the test client


def new_redis():
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(version=(7, 0)))


def jobs_as_queued(connection) -> list[tuple[str, str, dict]]:
    """(queue, function, payload without its moment and deadline) of every queued job, queue by queue."""
    found = []
    for name in keys.QUEUES_BY_PRIORITY:
        for job_id in jobqueue.queue(connection, name).job_ids:
            job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            sent = dict(job.kwargs["payload"])
            sent.pop("deadline", None)
            sent["meta"] = {k: v for k, v in sent["meta"].items() if k != "created_at"}
            found.append((name, job.func_name, sent))
    return found


def post(client, path, body):
    return client.post(API + path, data=json.dumps(body), headers=signed_headers("POST", API + path, body), content_type="application/json")


def test_an_order_and_a_cancel_all_through_the_desk_are_the_jobs_the_routes_make(settings):
    through_desk, through_routes = new_redis(), new_redis()
    desk = Desk(settings, through_desk)
    client = create_app(settings, through_routes).test_client()

    placed = desk.place(TEST_CLIENT, 1, OrderRequest("sz000001", BUY, Shares(300), 9.8, PriceType.LIMIT, "均线"))
    cancelled = desk.cancel_side(TEST_CLIENT, None, "buy")
    assert post(client, "/buy", {"trader_index": 1, "symbol": "sz000001", "price": 9.8, "shares": 300, "strategy_name": "均线"}).status_code == 202
    assert post(client, "/cancel_orders/buy", {}).status_code == 202

    assert [index for index, _ in placed.jobs] == [1] and [index for index, _ in cancelled.jobs] == [0, 1]
    made = jobs_as_queued(through_desk)
    assert made == jobs_as_queued(through_routes)
    assert [(queue, func) for queue, func, _ in made] == [("cancel", "worker.jobs.run_cancel")] * 2 + [("order", "worker.jobs.run_order")]
    assert made[2][2]["symbol"] == "000001.SZ" and made[2][2]["meta"] == {"client_id": CLIENT_ID, "source": "127.0.0.1"}


def test_a_query_through_the_desk_is_answered_as_through_the_route(tmp_path):
    settings = make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))
    connection = new_redis()
    desk = Desk(settings, connection)
    client = create_app(settings, connection).test_client()

    from_desk = while_worker_runs(lambda: desk.query(TEST_CLIENT, "positions", 0), settings, connection)
    from_route = while_worker_runs(
        lambda: client.get(API + "/positions/0", headers=signed_headers("GET", API + "/positions/0")), settings, connection
    )
    assert from_route.status_code == 200 and from_route.get_json()["positions"] == from_desk == []
    accounts = while_worker_runs(lambda: desk.query(Caller("limited", ("query",), accounts=(1,)), "accounts"), settings, connection)
    assert [a["index"] for a in accounts] == [1]  # a client limited to some accounts sees only those


def test_a_query_the_worker_does_not_answer_names_its_job(settings):
    desk = Desk(make_settings(QUERY_TIMEOUT=0.2), new_redis())
    with pytest.raises(WorkerUnanswered) as refused:
        desk.query(TEST_CLIENT, "orders", 0)
    assert "did not answer within 0.2 s" in refused.value.message
    assert jobqueue.view(desk.redis, refused.value.details["job_id"]).status == "queued"


def test_an_idempotency_key_without_a_request_fingerprint_compares_the_orders(settings):
    desk = Desk(settings, new_redis())
    order = OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT)
    first = desk.place(TEST_CLIENT, 0, order, idempotency=Idempotency("nhg-2026-12-01"))
    again = desk.place(TEST_CLIENT, 0, order, idempotency=Idempotency("nhg-2026-12-01"))
    assert again.jobs == first.jobs and again.replayed and not first.replayed
    assert jobqueue.queue(desk.redis, keys.ORDER_QUEUE).count == 1 and risk_state.actions_today(desk.redis, 0) == 1
    with pytest.raises(IdempotencyConflict):
        desk.place(TEST_CLIENT, 0, replace(order, size=Shares(200)), idempotency=Idempotency("nhg-2026-12-01"))


def test_the_desk_checks_scopes_and_accounts_for_in_process_callers_too(settings):
    desk = Desk(settings, new_redis())
    with pytest.raises(ScopeDenied):
        desk.cancel_side(Caller("reader", ("query",)), None, "sell")
    with pytest.raises(ScopeDenied):
        desk.place(Caller("one-account", ("trade",), accounts=(0,)), 1, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    assert sum(jobqueue.queue(desk.redis, name).count for name in keys.QUEUES_BY_PRIORITY) == 0


def test_kill_switch_cancels_are_never_refused_by_the_rate_caps(settings):
    desk = Desk(settings, new_redis())
    risk_state.save(desk.redis, risk.RiskLimits(max_actions_per_second=1, max_actions_per_day=1))
    desk.cancel_side(TEST_CLIENT, 0, "buy")
    with pytest.raises(RateLimited):
        desk.cancel_side(TEST_CLIENT, 0, "sell")
    limits, queued = desk.kill_switch(Caller("admin", ("admin",)), on=True, cancel_open=True)
    assert limits.kill_switch and len(queued.jobs) == 4  # buy and sell on both accounts


def test_a_fan_out_redis_refuses_queues_and_counts_none_of_its_jobs(settings, monkeypatch):
    desk = Desk(settings, new_redis())
    real_run = enqueue_script.run

    def refused(*args, **kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(enqueue_script, "run", refused)
    with pytest.raises(StoreUnavailable):
        desk.place(TEST_CLIENT, None, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    assert sum(jobqueue.queue(desk.redis, name).count for name in keys.QUEUES_BY_PRIORITY) == 0
    assert [risk_state.actions_today(desk.redis, index) for index in (0, 1)] == [0, 0]

    monkeypatch.setattr(enqueue_script, "run", real_run)
    queued = desk.place(TEST_CLIENT, None, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    assert len(queued.jobs) == 2 and [risk_state.actions_today(desk.redis, index) for index in (0, 1)] == [1, 1]


def test_a_fan_out_one_account_of_which_is_over_its_cap_queues_and_counts_nothing(settings):
    desk = Desk(settings, new_redis())
    risk_state.save(desk.redis, risk.RiskLimits(max_actions_per_day=1))
    desk.place(TEST_CLIENT, 1, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    with pytest.raises(RateLimited, match="trader_index 1"):
        desk.place(TEST_CLIENT, None, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    assert [risk_state.actions_today(desk.redis, index) for index in (0, 1)] == [0, 1]
    assert jobqueue.queue(desk.redis, keys.ORDER_QUEUE).count == 1


def test_limits_changed_by_another_process_are_checked_before_the_order_is_queued(settings):
    server = fakeredis.FakeServer(version=(7, 0))
    desk, other = Desk(settings, fakeredis.FakeRedis(server=server)), fakeredis.FakeRedis(server=server)
    desk.place(TEST_CLIENT, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))  # limits seen
    other.set(keys.RISK_LIMITS, risk.RiskLimits(kill_switch=True).model_dump_json())  # as another web process would
    with pytest.raises(TradingHalted):
        desk.place(TEST_CLIENT, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    assert jobqueue.queue(desk.redis, keys.ORDER_QUEUE).count == 1


def test_the_one_way_in_and_the_event_stream_import_no_flask_and_no_role():
    probe = (
        "import sys, common.desk.submission, common.store.events; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'api', 'worker', 'scheduler')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_limits_remembered_stricter_than_the_stored_ones_never_refuse_an_order(settings):
    server = fakeredis.FakeServer(version=(7, 0))
    admin_side = fakeredis.FakeRedis(server=server)
    admin_side.set(keys.RISK_LIMITS, risk.RiskLimits(max_order_notional=0).model_dump_json())  # no cap, set before this process
    desk = Desk(settings, fakeredis.FakeRedis(server=server))  # it starts with the defaults in mind (a 1,000,000 cap)
    big = desk.place(TEST_CLIENT, 0, OrderRequest("600000", BUY, Shares(200_000), 10.0, PriceType.LIMIT))
    assert len(big.jobs) == 1  # 2,000,000 yuan: allowed by the stored limits

    risk_state.save(desk.redis, risk.RiskLimits(kill_switch=True))  # this process sees the switch thrown
    with pytest.raises(TradingHalted):
        desk.place(TEST_CLIENT, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    admin_side.set(keys.RISK_LIMITS, risk.RiskLimits().model_dump_json())  # another process releases it
    assert desk.place(TEST_CLIENT, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT)).jobs
