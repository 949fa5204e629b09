"""Every order and cancel route of the old server: the jobs they queue, fan-out, scopes, validation."""

from __future__ import annotations

import json

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from api import create_app
from common.store import jobqueue, keys
from tests.support import make_settings, signed_headers

API = "/qmt/trade/api"


def post(client, path, body, **sign_kwargs):
    path = API + path
    # an old client: json.dumps with its default separators, signed over the canonical form
    return client.post(path, data=json.dumps(body), headers=signed_headers("POST", path, body, **sign_kwargs), content_type="application/json")


def payload(connection, job_id) -> dict:
    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).kwargs["payload"]


def queued(connection) -> int:
    return sum(jobqueue.queue(connection, name).count for name in keys.QUEUES_BY_PRIORITY)


@pytest.mark.parametrize(("path", "order_type"), [("/buy", 23), ("/sell", 24)])
def test_buy_and_sell_with_shares_on_one_account(client, fake_redis, path, order_type):
    answer = post(client, path, {"trader_index": 1, "symbol": "sz000001", "price": 9.8, "shares": 300, "price_type": 0, "strategy_name": "均线"})
    assert answer.status_code == 202 and answer.get_json()["status"] == "queued"
    sent = payload(fake_redis, answer.get_json()["job_id"])
    assert (sent["account_id"], sent["symbol"], sent["order_type"], sent["volume"], sent["strategy_name"]) == (
        "SIM000002",
        "000001.SZ",
        order_type,
        300,
        "均线",
    )


def test_without_trader_index_an_order_fans_out_to_every_enabled_account(client, fake_redis):
    answer = post(client, "/buy", {"symbol": "600000", "price": 10.0, "shares": 100})
    body = answer.get_json()
    assert answer.status_code == 202 and len(body["job_ids"]) == 2
    assert [(j["trader_index"], j["job_id"]) for j in body["jobs"]] == [(0, body["job_ids"][0]), (1, body["job_ids"][1])]
    assert [payload(fake_redis, j)["account_id"] for j in body["job_ids"]] == ["SIM000001", "SIM000002"]


def test_outer_trade_by_position_pct_or_order_num(client, fake_redis):
    pct = post(client, "/outer/trade/buy", {"trader_index": 0, "symbol": "510300", "trade_price": 4.012, "price_type": 0, "position_pct": 0.25})
    num = post(client, "/outer/trade/sell", {"trader_index": 0, "symbol": "510300", "trade_price": 4.012, "price_type": 0, "order_num": 500})
    assert pct.status_code == num.status_code == 202
    sized = payload(fake_redis, pct.get_json()["job_id"])
    assert (sized["sizing"], sized["position_pct"], sized["volume"], sized["order_type"]) == ("position_pct", 0.25, 0, 23)
    given = payload(fake_redis, num.get_json()["job_id"])
    assert (given["sizing"], given["volume"], given["order_type"]) == ("volume", 500, 24)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"position_pct": 0.25, "order_num": 100}, "body", "exactly one of position_pct and order_num"),
        ({}, "body", "exactly one of position_pct and order_num"),
        ({"position_pct": 25}, "position_pct", "less than or equal to 1"),
        ({"order_num": 150}, "volume", "not a legal lot"),
    ],
)
def test_outer_trade_validation(client, fake_redis, body, field, words):
    answer = post(client, "/outer/trade/buy", {"trader_index": 0, "symbol": "600000", "trade_price": 10.0, **body})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == field and words in answer.get_json()["error"]
    assert queued(fake_redis) == 0


def test_trade_second_form_sizes_by_position_pct_and_sells_with_a_negative_pct(client, fake_redis):
    buy = post(client, "/trade", {"symbol": "600000", "trade_price": 10.0, "position_pct": 0.1, "pricetype": 0, "strategy_name": "s"})
    sell = post(client, "/trade", {"trader_index": 1, "symbol": "600000", "trade_price": 10.0, "position_pct": -0.5, "pricetype": 0})
    assert buy.status_code == sell.status_code == 202
    assert len(buy.get_json()["job_ids"]) == 2  # no trader_index: every account
    sold = payload(fake_redis, sell.get_json()["job_id"])
    assert (sold["order_type"], sold["position_pct"], sold["sizing"]) == (24, 0.5, "position_pct")


def test_allin_and_nhg(client, fake_redis):
    allin = post(client, "/trade/allin", {"trader_index": 0, "symbol": "600000", "cur_price": 10.01})
    nhg = post(client, "/trade/nhg", {"reserve_amount": 5000})
    assert allin.status_code == nhg.status_code == 202
    bought = payload(fake_redis, allin.get_json()["job_id"])
    assert (bought["sizing"], bought["price"], bought["order_type"]) == ("allin", 10.01, 23)
    lent = [payload(fake_redis, j) for j in nhg.get_json()["job_ids"]]
    assert [(p["sizing"], p["order_type"], p["reserve_amount"]) for p in lent] == [("repo", 24, 5000.0)] * 2


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/trade/allin", {"symbol": "600000", "cur_price": 0}, 422, "cur_price"),
        ("/trade/allin", {"symbol": "600000", "cur_price": 10.001}, 422, "price"),
        ("/trade/nhg", {"reserve_amount": -1}, 422, "reserve_amount"),
        ("/trade/nhg", {"trader_index": 5}, 404, "trader_index"),
        ("/buy", {"symbol": "600000", "price": 10, "shares": 100, "price_type": 9}, 422, "price_type"),
        ("/cancel_order", {"trader_index": 0}, 422, "order_id"),
        ("/trade/allin", {"symbol": "131810", "cur_price": 1.5}, 422, "order_type"),  # buying repo is borrowing
        ("/buy", {"symbol": "204001", "price": 1.5, "shares": 10}, 422, "order_type"),
        ("/cancel_order", {"trader_index": 0, "order_id": 0}, 422, "order_id"),
    ],
)
def test_route_validation_never_queues(client, fake_redis, path, body, status, field):
    answer = post(client, path, body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["field"] == field
    assert queued(fake_redis) == 0


def test_cancels_go_to_the_cancel_queue(client, fake_redis):
    one = post(client, "/cancel_order", {"trader_index": 0, "order_id": 1234})
    all_buys = post(client, "/cancel_orders/buy", {})
    all_sells = post(client, "/cancel_orders/sale", {"trader_index": 1})
    assert one.status_code == all_buys.status_code == all_sells.status_code == 202
    assert payload(fake_redis, one.get_json()["job_id"])["order_id"] == 1234
    assert [payload(fake_redis, j)["side"] for j in all_buys.get_json()["job_ids"]] == ["buy", "buy"]
    assert payload(fake_redis, all_sells.get_json()["job_id"])["side"] == "sell"
    assert jobqueue.queue(fake_redis, keys.CANCEL_QUEUE).count == 4 and jobqueue.queue(fake_redis, keys.ORDER_QUEUE).count == 0


def test_a_signal_provider_limited_to_account_0_and_trading(fake_redis):
    settings = make_settings(API_CLIENTS=[{"client_id": "signals", "secret": "sig-secret", "scopes": ["trade", "query"], "accounts": [0]}])
    client = create_app(settings, fake_redis).test_client()
    as_signals = {"client_id": "signals", "secret": "sig-secret"}
    fanned = post(client, "/buy", {"symbol": "600000", "price": 10.0, "shares": 100}, **as_signals)
    assert fanned.status_code == 202 and [j["trader_index"] for j in fanned.get_json()["jobs"]] == [0]
    assert post(client, "/buy", {"trader_index": 1, "symbol": "600000", "price": 10.0, "shares": 100}, **as_signals).status_code == 403
    denied = post(client, "/cancel_orders/buy", {}, **as_signals)
    assert denied.status_code == 403 and "lacks the 'cancel' scope" in denied.get_json()["error"]


def test_openapi_documents_every_api_route_with_its_models(client, app):
    document = client.get("/openapi.json").get_json()
    not_api = (
        "assets.asset",
        "assets.favicon",
        "i18n.switch",
        "openapi.openapi_json",
    )  # files, the language switch, the document itself, and the HTML pages (api.pages)
    routes = {
        (r.rule, m)
        for r in app.url_map.iter_rules()
        for m in r.methods - {"HEAD", "OPTIONS"}
        if r.endpoint not in not_api and r.endpoint != "metrics.scrape" and not r.endpoint.startswith("pages.")  # /metrics is Prometheus' text
    }
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    # 24 of the API (with /trades/<i>, GET /jobs, GET /risk/kill_switch and the old batch route), 3 of the routines,
    # /events, the simulator's next_day (BROKER=sim only), /healthz and /readyz
    assert len(documented) == len(routes) == 34  # with the three order previews
    assert "/qmt/trade/api/sim/next_day" in document["paths"]
    real = create_app(make_settings(BROKER="qmt"), app.extensions["router"].redis).test_client()
    assert "/qmt/trade/api/sim/next_day" not in real.get("/openapi.json").get_json()["paths"]
    outer = document["paths"]["/qmt/trade/api/outer/trade/{side}"]["post"]
    assert outer["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OuterTradeRequest"}
    assert set(document["components"]["schemas"]["OuterTradeRequest"]["properties"]) >= {"position_pct", "order_num", "trade_price"}
    assert outer["security"] == [{"signature": []}, {"session": []}]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/trade/allin", {"symbol": "600000", "cur_price": 5e-324}, "price"),  # found by schemathesis: sized to infinity
        ("/trade/allin", {"symbol": "600000", "cur_price": 1e300}, "cur_price"),
        ("/buy", {"symbol": "600000", "price": 0.001, "shares": 100}, "price"),
        ("/outer/trade/buy", {"symbol": "600000", "trade_price": 1e-9, "position_pct": 0.5}, "price"),
    ],
)
def test_prices_below_one_tick_or_absurdly_high_are_refused(client, fake_redis, path, body, field):
    answer = post(client, path, body)
    assert answer.status_code == 422 and answer.get_json()["field"] == field, answer.get_json()
    assert queued(fake_redis) == 0
