"""Query routes answered by the real worker loop and the simulator, in the old server's shapes."""

from __future__ import annotations

import pytest

from api import create_app
from common.store import jobqueue
from tests.support import make_settings, order_payload, signed_headers, sim_prices_file, while_worker_runs
from worker.runner import serve

API = "/qmt/trade/api"


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))


def get(client, path):
    return client.get(API + path, headers=signed_headers("GET", API + path))


def post(client, path, body):
    return client.post(API + path, json=body, headers=signed_headers("POST", API + path, body))


def test_accounts_portfolio_and_positions(client, settings, fake_redis):
    jobqueue.enqueue(fake_redis, order_payload(volume=1000, price=10.0), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)  # one filled buy on account 0

    accounts = while_worker_runs(lambda: get(client, "/accounts"), settings, fake_redis)
    assert accounts.status_code == 200
    assert [(a["index"], a["account_id"], a["nick_name"]) for a in accounts.get_json()["accounts"]] == [
        (0, "SIM000001", "main"),
        (1, "SIM000002", "second"),
    ]

    portfolio = while_worker_runs(lambda: get(client, "/portfolio/0"), settings, fake_redis).get_json()["portfolio"]
    assert set(portfolio) >= {"cash", "frozen_cash", "market_value", "total_asset", "profit", "profit_ratio"}
    assert portfolio["cash"] < settings.SIM_STARTING_CASH - 10_000  # paid for the buy and its fees

    positions = while_worker_runs(lambda: get(client, "/positions/0"), settings, fake_redis).get_json()["positions"]
    [held] = positions
    assert held["symbol"] == "600000.SH" and held["volume"] == 1000 and held["can_use_volume"] == 0  # T+1
    assert set(held) >= {"name", "market_value", "avg_price", "current_price", "profit"}


def test_order_and_orders(client, settings, fake_redis):
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)
    order_id = jobqueue.view(fake_redis, job_id).result["order_id"]

    one = while_worker_runs(lambda: post(client, "/order", {"trader_index": 0, "order_id": order_id}), settings, fake_redis)
    assert one.status_code == 200 and one.get_json()["order"]["order_remark"] == job_id
    missing = while_worker_runs(lambda: post(client, "/order", {"trader_index": 0, "order_id": 987654}), settings, fake_redis)
    assert missing.status_code == 404 and missing.get_json()["field"] == "order_id"
    today = while_worker_runs(lambda: post(client, "/orders", {"trader_index": 0, "cancelable_only": False}), settings, fake_redis)
    [listed] = today.get_json()["orders"]
    assert set(listed) >= {"order_id", "symbol", "side", "volume", "price", "traded_volume", "status", "status_msg", "strategy_name", "order_remark"}


def test_a_query_without_a_worker_is_503_with_the_job_id(fake_redis):
    client = create_app(make_settings(QUERY_TIMEOUT=0.2), fake_redis).test_client()
    answer = get(client, "/positions/0")
    assert answer.status_code == 503 and answer.get_json()["job_id"].startswith("q")
    assert "did not answer within 0.2 s" in answer.get_json()["error"]


def test_a_query_of_an_unknown_account_is_404_and_queues_nothing(client, fake_redis):
    answer = get(client, "/positions/9")
    assert answer.status_code == 404 and answer.get_json()["field"] == "trader_index"
    assert not fake_redis.keys("rq:job:*")


def test_todays_trades(client, settings, fake_redis):
    job_id = jobqueue.enqueue(fake_redis, order_payload(volume=300, price=10.0), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)  # filled at the 10.00 quote
    order_id = jobqueue.view(fake_redis, job_id).result["order_id"]

    answer = while_worker_runs(lambda: get(client, "/trades/0"), settings, fake_redis)
    assert answer.status_code == 200
    [fill] = answer.get_json()["trades"]
    assert (fill["order_id"], fill["symbol"], fill["side"], fill["traded_volume"], fill["traded_price"]) == (order_id, "600000.SH", "buy", 300, 10.0)
    assert fill["order_remark"] == job_id and fill["traded_amount"] == 3000.0
    assert while_worker_runs(lambda: get(client, "/trades/1"), settings, fake_redis).get_json()["trades"] == []
    assert get(client, "/trades/7").status_code == 404


def test_queries_that_accept_a_recent_answer_share_one_job(client, settings, fake_redis):
    def positions(query: str):
        path = f"{API}/positions/0"
        return client.get(f"{path}?{query}", headers=signed_headers("GET", path, query=query))

    first = while_worker_runs(lambda: positions("max_age=5"), settings, fake_redis)
    shared = positions("max_age=5")  # the first one's job answers it: no worker runs here, and none is needed
    assert first.status_code == shared.status_code == 200 and shared.get_json() == first.get_json()
    assert sum(jobqueue.queue(fake_redis, name).count for name in ("query",)) == 0
    fresh = while_worker_runs(lambda: positions("max_age=0"), settings, fake_redis)  # asks the worker again
    assert fresh.status_code == 200
    assert positions("max_age=11").status_code == 400 and positions("max_age=x").status_code == 400


def test_a_query_whose_answer_is_no_longer_kept_is_503_never_an_empty_list(client, monkeypatch):
    from common.desk.submission import Desk

    monkeypatch.setattr(Desk, "_answer", lambda self, caller, job_id: None)  # finished, its result expired (QUERY_RESULT_TTL)
    for path in ("/positions/0", "/trades/0", "/portfolio/0"):
        answer = get(client, path)
        assert answer.status_code == 503 and "no longer kept" in answer.get_json()["error"], (path, answer.get_json())
    answer = post(client, "/orders", {"trader_index": 0})
    assert answer.status_code == 503 and answer.get_json()["job_id"], answer.get_json()
