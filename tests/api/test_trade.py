"""POST /qmt/trade/api/trade: signed orders become jobs; anything bad gets a precise error and never a job."""

from __future__ import annotations

import json
import time

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from common.store import jobqueue, keys, quotes
from tests.support import signed_headers

TRADE = "/qmt/trade/api/trade"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.5, "order_type": 23}


def post(client, body, *, raw: str | None = None, headers=None, **sign_kwargs):
    headers = headers if headers is not None else signed_headers("POST", TRADE, body, **sign_kwargs)
    data = raw if raw is not None else json.dumps(body)
    return client.post(TRADE, data=data, headers=headers, content_type="application/json")


def queued_jobs(connection) -> int:
    return sum(jobqueue.queue(connection, name).count for name in keys.QUEUES_BY_PRIORITY) + len(connection.keys("rq:job:*"))


def test_signed_order_is_accepted_as_a_queued_job(client, fake_redis):
    answer = post(client, ORDER)
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["success"] is True and body["status"] == "queued"
    assert body["status_url"] == f"/qmt/trade/api/jobs/{body['job_id']}"
    job = Job.fetch(body["job_id"], connection=fake_redis, serializer=JSONSerializer)
    assert job.origin == keys.ORDER_QUEUE
    payload = job.kwargs["payload"]
    assert payload["symbol"] == "600000.SH" and payload["volume"] == 100 and payload["account_id"] == "SIM000001"
    assert payload["xt_price_type"] == 11  # FIX_PRICE
    assert payload["deadline"] == pytest.approx(time.time() + 60, abs=5)
    assert payload["meta"]["client_id"] == "test-client"


def test_body_with_spaces_and_unsorted_keys_is_verified_against_its_canonical_form(client):
    raw = '{ "order_type" : 24,  "volume": 100, "symbol": "sz000001", "price": 9.87, "trader_index": 1 }'
    answer = post(client, json.loads(raw), raw=raw)
    assert answer.status_code == 202, answer.get_json()


@pytest.mark.parametrize(
    ("sign_kwargs", "reason"),
    [
        ({"secret": "not-the-secret"}, "signature does not match"),
        ({"timestamp": time.time() - 301}, "old"),
        ({"timestamp": time.time() + 400}, "in the future"),
        ({"client_id": "nobody"}, "signature does not match"),  # the same answer as a wrong secret
    ],
)
def test_bad_signatures_are_401_with_the_reason(client, fake_redis, sign_kwargs, reason):
    answer = post(client, ORDER, **sign_kwargs)
    assert answer.status_code == 401
    assert answer.get_json()["success"] is False
    assert reason in answer.get_json()["error"]
    assert queued_jobs(fake_redis) == 0


def test_tampered_body_is_401(client, fake_redis):
    headers = signed_headers("POST", TRADE, ORDER)
    answer = post(client, {**ORDER, "volume": 10_000}, headers=headers)
    assert answer.status_code == 401 and "signature does not match" in answer.get_json()["error"]
    assert queued_jobs(fake_redis) == 0


def test_missing_headers_are_401_naming_them(client):
    answer = client.post(TRADE, json=ORDER)
    assert answer.status_code == 401
    assert "X-Client-ID, X-Timestamp, X-Signature" in answer.get_json()["error"]


def test_a_replayed_order_is_refused_and_never_becomes_a_second_job(client, fake_redis):
    headers = signed_headers("POST", TRADE, ORDER)
    assert post(client, ORDER, headers=headers).status_code == 202
    again = post(client, ORDER, headers=headers)
    assert again.status_code == 401 and "replayed" in again.get_json()["error"]
    assert jobqueue.queue(fake_redis, keys.ORDER_QUEUE).count == 1


@pytest.mark.parametrize(
    ("change", "status", "field", "words"),
    [
        ({"volume": 150}, 422, "volume", "not a legal lot"),
        ({"volume": -100}, 422, "volume", "greater than 0"),
        ({"volume": 0}, 422, "volume", "greater than 0"),
        ({"volume": "lots"}, 422, "volume", "JSON number"),
        ({"symbol": "999999"}, 422, "symbol", "not a known"),
        ({"symbol": "AAPL"}, 422, "symbol", "6-digit"),
        ({"symbol": "600000.HK"}, 422, "symbol", "unknown market"),
        ({"order_type": 25}, 422, "order_type", "23"),
        ({"price": 10.555}, 422, "price", "tick"),
        ({"price": 0}, 422, "price", "limit order needs a price"),
        ({"price_type": 4}, 422, "price_type", "0, 1, 2, 3 or 5"),
        ({"trader_index": 7}, 404, "trader_index", "selects no enabled account"),
        ({"symbol": "131810", "order_type": 24, "volume": 10, "price_type": 5, "price": 0}, 422, "price_type", "limit rate"),
    ],
)
def test_bad_orders_name_the_field_and_never_become_jobs(client, fake_redis, change, status, field, words):
    body = {**ORDER, **change}
    answer = post(client, body)
    assert answer.status_code == status, answer.get_json()
    error = answer.get_json()
    assert error["success"] is False and error["field"] == field
    assert words in error["error"]
    assert queued_jobs(fake_redis) == 0


def test_a_missing_field_is_named(client, fake_redis):
    body = {k: v for k, v in ORDER.items() if k != "symbol"}
    answer = post(client, body)
    assert answer.status_code == 422 and answer.get_json()["field"] == "symbol"
    assert queued_jobs(fake_redis) == 0


@pytest.mark.parametrize("raw", ['{"trader_index": 0, "symbol": ', "volume=100", "\xff\xfe"])
def test_malformed_json_is_400_and_never_a_job(client, fake_redis, raw):
    headers = signed_headers("POST", TRADE, None)
    answer = client.post(TRADE, data=raw, headers=headers, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["field"] == "body" and "not valid JSON" in answer.get_json()["error"]
    assert queued_jobs(fake_redis) == 0


def test_a_json_array_body_is_422_not_a_crash(client, fake_redis):
    answer = post(client, [ORDER])
    assert answer.status_code == 422
    assert queued_jobs(fake_redis) == 0


def test_market_price_type_is_mapped_per_exchange(client, fake_redis):
    for code in ("600000.SH", "000001.SZ"):  # the worker's last quotes, which price a market order at its upper limit
        quotes.remember(fake_redis, quotes.Quote(code, 10.0, 10.0, up_limit=11.0, down_limit=9.0))
    sh = post(client, {**ORDER, "price_type": 2, "price": 0})
    sz = post(client, {**ORDER, "symbol": "000001", "price_type": 2, "price": 0})
    assert sh.status_code == sz.status_code == 202
    xt = [Job.fetch(a.get_json()["job_id"], connection=fake_redis, serializer=JSONSerializer).kwargs["payload"]["xt_price_type"] for a in (sh, sz)]
    assert xt == [42, 47]  # SH best-five-then-cancel, SZ best-five-then-cancel


def test_a_client_limited_to_other_accounts_is_403(fake_redis):
    from api import create_app
    from tests.support import make_settings

    settings = make_settings(API_CLIENTS='[{"client_id": "narrow", "secret": "narrow-secret", "scopes": ["trade"], "accounts": [1]}]')
    client = create_app(settings, fake_redis).test_client()
    answer = post(client, ORDER, client_id="narrow", secret="narrow-secret")
    assert answer.status_code == 403 and answer.get_json()["field"] == "trader_index"
    assert queued_jobs(fake_redis) == 0
    assert post(client, {**ORDER, "trader_index": 1}, client_id="narrow", secret="narrow-secret").status_code == 202


def test_redis_down_is_503_and_says_nothing_was_queued():
    from api import create_app
    from tests.support import make_settings

    client = create_app(make_settings(REDIS_URL="redis://127.0.0.1:1/0")).test_client()
    answer = post(client, ORDER)
    assert answer.status_code == 503
    assert "nothing was queued" in answer.get_json()["error"]
