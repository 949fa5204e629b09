"""POST /preview/<order route>: what an order would be before it is sent, priced with the worker's quote and sized with the
worker's own rules; read-only (never an order job, never counted), refused as precisely as the order itself would be."""

from __future__ import annotations

import threading
import time

import pytest

from api import create_app
from common.rules.sizing import Fees, allin_volume, pct_buy_volume, repo_volume
from common.rules.symbols import instrument
from common.store import jobqueue, keys, risk_state
from tests.support import SIM_PRICES, make_settings, order_payload, signed_headers, sim_prices_file, wait_until
from worker.runner import serve

API = "/qmt/trade/api"
FEES = Fees()  # the simulator's and the sizing's schedule at the default settings


@pytest.fixture
def settings(tmp_path):
    return make_settings(
        SIM_DATA_DIR=str(tmp_path / "sim"),
        SIM_PRICES_FILE=sim_prices_file(tmp_path),
        API_CLIENTS=[{"client_id": "reader", "secret": "reader-secret-0123456789", "scopes": ["query"]}],
    )


def post(client, path, body, **signing):
    return client.post(API + path, json=body, headers=signed_headers("POST", API + path, body, **signing))


def queued(connection) -> int:
    return sum(jobqueue.queue(connection, name).count for name in keys.QUEUES_BY_PRIORITY)


def answered(request, settings, connection):
    """Run `request()` in a thread while the real worker answers each query it queues, one after another."""
    answer: list = []
    caller = threading.Thread(target=lambda: answer.append(request()))
    caller.start()
    while caller.is_alive():
        if wait_until(lambda: queued(connection) > 0 or not caller.is_alive(), 5, 0.01) and queued(connection):
            serve(settings, connection, burst=True)
    caller.join(10)
    assert answer, "the preview did not return"
    return answer[0]


def order_jobs(connection) -> list[str]:
    return [key.decode() for key in connection.keys("rq:job:*") if not key.decode().startswith("rq:job:q")]


def test_a_limit_buy_is_previewed_with_the_quote_lots_notional_fees_and_nearest_limit(client, settings, fake_redis):
    body = {"trader_index": 0, "symbol": "600000", "volume": 300, "price": 10.0, "order_type": 23}
    answer = answered(lambda: post(client, "/preview/trade", body), settings, fake_redis)
    assert answer.status_code == 200, answer.get_json()
    found = answer.get_json()["preview"]
    quote = found["quote"]
    assert (quote["code"], quote["last"], quote["bid"], quote["ask"]) == ("600000.SH", 10.0, 10.0, 10.0)
    assert (quote["down_limit"], quote["up_limit"]) == (9.0, 11.0)
    assert found["lot"] == {"minimum": 100, "step": 100, "maximum": 1_000_000, "unit": "shares"}
    assert (found["volume"], found["price"], found["price_basis"], found["notional"]) == (300, 10.0, "limit", 3000.0)
    assert found["fees"] == FEES.buy_cost(3000.0) == 5.03  # the 5-yuan minimum commission and the transfer fee
    assert found["closest"]["name"] == "max_order_notional" and found["closest"]["share"] == pytest.approx(0.003)
    assert {use["name"] for use in found["limits"]} == {"max_order_notional", "max_actions_per_day", "price_band"}
    assert found["confirm"] is False and found["problems"] == []
    assert order_jobs(fake_redis) == [] and risk_state.actions_today(fake_redis, 0) == 0  # nothing placed, nothing counted

    again = answered(lambda: post(client, "/preview/trade", body), settings, fake_redis)  # the same signed read: no replay
    assert again.status_code == 200


def test_a_market_buy_is_priced_at_the_upper_limit_and_a_large_one_asks_for_confirmation(client, settings, fake_redis):
    risk_state.change(fake_redis, max_order_notional=60_000.0)
    body = {"trader_index": 0, "symbol": "600000.SH", "volume": 5000, "price": 0, "order_type": 23, "price_type": 5}
    found = answered(lambda: post(client, "/preview/trade", body), settings, fake_redis).get_json()["preview"]
    assert (found["price"], found["price_basis"], found["notional"]) == (11.0, "up_limit", 55_000.0)
    assert found["confirm"] is True and found["confirm_because"] == "notional"
    assert found["closest"] == {"name": "max_order_notional", "used": 55_000.0, "limit": 60_000.0, "unit": "yuan", "share": pytest.approx(55 / 60)}


def test_orders_the_worker_sizes_are_sized_as_the_worker_sizes_them(client, settings, fake_redis):
    cash = settings.SIM_STARTING_CASH
    pct = {"trader_index": 0, "symbol": "000001", "position_pct": 0.1, "trade_price": 0}
    found = answered(lambda: post(client, "/preview/trade", pct), settings, fake_redis).get_json()["preview"]
    expected = pct_buy_volume(instrument("000001.SZ"), cash, SIM_PRICES["000001.SZ"], 0.1, cash, FEES)
    assert (found["volume"], found["price_basis"], found["sizing"]) == (expected, "last", "position_pct") and expected == 9000

    allin = {"trader_index": 1, "symbol": "510300", "cur_price": 4.0}
    found = answered(lambda: post(client, "/preview/trade/allin", allin), settings, fake_redis).get_json()["preview"]
    assert found["volume"] == allin_volume(instrument("510300.SH"), cash, 4.0, FEES)
    assert found["confirm"] is True and found["confirm_because"] == "whole_account"

    sell_all = {"trader_index": 0, "symbol": "600000", "position_pct": 1, "order_type": 24, "trade_price": 0}
    found = answered(lambda: post(client, "/preview/trade", sell_all), settings, fake_redis).get_json()["preview"]
    assert found["volume"] == 0 and found["problems"][0]["field"] == "position_pct"  # nothing held: nothing to sell
    assert found["confirm_because"] == "whole_account"

    nhg = {"trader_index": 0, "reserve_amount": 10_000}
    found = answered(lambda: post(client, "/preview/trade/nhg", nhg), settings, fake_redis).get_json()["preview"]
    assert found["symbol"] == "131810.SZ" and found["price"] == 1.8  # R-001 bids more than GC001 (1.75)
    assert found["volume"] == repo_volume(instrument("131810.SZ"), cash, 10_000, FEES) and found["notional"] == found["volume"] * 100
    assert found["lot"]["unit"] == "张" and found["confirm"] is True
    assert order_jobs(fake_redis) == []


def test_a_holding_sold_whole_is_sized_to_what_is_sellable(client, settings, fake_redis):
    jobqueue.enqueue(fake_redis, order_payload(volume=1000, price=10.0), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)  # bought today: none of it sellable (T+1)
    sell_all = {"trader_index": 0, "symbol": "600000", "position_pct": -1, "trade_price": 0}
    found = answered(lambda: post(client, "/preview/trade", sell_all), settings, fake_redis).get_json()["preview"]
    assert found["side"] == 24 and found["volume"] == 0 and "sellable" in found["problems"][0]["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "says"),
    [
        (
            "/preview/trade",
            {"trader_index": 0, "symbol": "600000", "position_pct": 1.5, "trade_price": 0},
            422,
            "position_pct",
            "less than or equal to 1",
        ),
        ("/preview/trade", {"trader_index": 0, "symbol": "600000", "volume": 150, "price": 10.0, "order_type": 23}, 422, "volume", "steps of 100"),
        ("/preview/trade", {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.005, "order_type": 23}, 422, "price", "tick"),
        ("/preview/trade", {"trader_index": 0, "symbol": "999999", "volume": 100, "price": 10.0, "order_type": 23}, 422, "symbol", "999999"),
        ("/preview/trade", {"trader_index": 0, "symbol": "204001", "volume": 10, "price": 1.8, "order_type": 23}, 422, "order_type", "sell"),
        ("/preview/trade", {"trader_index": 9, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23}, 404, "trader_index", "9"),
        ("/preview/trade/allin", {"symbol": "600000", "cur_price": 10.0}, 400, "trader_index", "one account"),
        ("/preview/trade/allin", {"trader_index": 0, "symbol": "600000", "cur_price": 0}, 422, "cur_price", "greater than 0"),
        ("/preview/trade/nhg", {"trader_index": 0, "reserve_amount": -1}, 422, "reserve_amount", "greater than or equal to 0"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_queues_nothing(client, fake_redis, path, body, status, field, says):
    answer = post(client, path, body)
    assert answer.status_code == status and answer.get_json()["field"] == field and says in answer.get_json()["error"], answer.get_json()
    assert queued(fake_redis) == 0 and not fake_redis.keys("rq:job:*")  # not even a quote was asked for


def test_a_preview_needs_the_trade_scope_and_a_signature(settings, fake_redis):
    client = create_app(settings, fake_redis).test_client()
    body = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23}
    unsigned = client.post(API + "/preview/trade", json=body)
    assert unsigned.status_code == 401
    reader = post(client, "/preview/trade", body, client_id="reader", secret="reader-secret-0123456789")
    assert reader.status_code == 403 and "trade" in reader.get_json()["error"]
    assert not fake_redis.keys("rq:job:*")


def test_without_a_worker_a_preview_says_there_is_no_quote(fake_redis):
    client = create_app(make_settings(QUERY_TIMEOUT=0.2), fake_redis).test_client()
    answer = post(client, "/preview/trade", {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23})
    assert answer.status_code == 503 and answer.get_json()["field"] == "symbol" and "no quote" in answer.get_json()["error"]
    assert order_jobs(fake_redis) == []


# -- what an adversarial pass found (each failed before its fix) ----------------------------------------------------------
@pytest.mark.parametrize("symbol,rate", [("131810", 1.8), ("204001", 1.75)])
def test_reverse_repo_lent_by_volume_is_valued_at_its_principal_with_repo_fees_and_confirmed(client, settings, fake_redis, symbol, rate):
    body = {"trader_index": 0, "symbol": symbol, "volume": 20_000, "price": rate, "order_type": 24}  # 20,000 张 lend 2,000,000 yuan
    found = answered(lambda: post(client, "/preview/trade", body), settings, fake_redis).get_json()["preview"]
    assert found["notional"] == 2_000_000.0 and found["price_basis"] == "rate"  # 100 yuan a 张, never volume x rate
    assert found["fees"] == FEES.repo_cost(2_000_000.0) and found["confirm"] is True
    assert order_jobs(fake_redis) == []


def test_a_quote_with_a_field_this_web_does_not_know_is_read_not_a_500(client, monkeypatch):
    """A worker one version ahead (it runs on the Windows machine; the web may be upgraded later) sends a new quote field."""
    from common.desk.submission import Desk

    quote = {"code": "600000.SH", "last": 10.0, "bid": 10.0, "ask": 10.01, "up_limit": 11.0, "down_limit": 9.0, "prev_close": 10.0, "volume": 1}
    monkeypatch.setattr(Desk, "query", lambda self, caller, what, index=None, **kw: quote if what == "quote" else {"cash": 1e6, "total_asset": 1e6})
    answer = post(client, "/preview/trade", {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23})
    assert answer.status_code == 200 and answer.get_json()["preview"]["quote"]["ask"] == 10.01, answer.get_json()


def test_the_sweeps_preview_asks_for_both_repo_quotes_at_once_so_no_worker_costs_one_query_timeout(fake_redis):
    timeout = 1.0
    client = create_app(make_settings(QUERY_TIMEOUT=timeout), fake_redis).test_client()
    started = time.monotonic()
    answer = post(client, "/preview/trade/nhg", {"trader_index": 0, "reserve_amount": 0})
    took = time.monotonic() - started
    assert answer.status_code == 503, answer.get_json()
    assert took < 1.8 * timeout, f"the sweep's preview held a web thread {took:.2f} s: its two quotes were asked one after the other"


def test_a_zero_percent_is_refused_at_its_own_field(client, fake_redis):
    answer = post(client, "/preview/trade", {"trader_index": 0, "symbol": "600000", "position_pct": 0, "trade_price": 10.0})
    assert answer.status_code == 422 and answer.get_json()["field"] == "position_pct", answer.get_json()
    assert order_jobs(fake_redis) == []
