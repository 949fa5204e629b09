"""Idempotency-Key and client_order_id: a retry returns the original job; the same key for another request is 409."""

from __future__ import annotations

import json

import pytest

from common.store import jobqueue, keys
from tests.support import signed_headers

BUY = "/qmt/trade/api/buy"
ORDER = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}


def post(client, body, path=BUY, headers=None, timestamp=None):
    signed = signed_headers("POST", path, body, timestamp=timestamp)
    return client.post(path, data=json.dumps(body), headers={**signed, **(headers or {})}, content_type="application/json")


def orders_queued(connection) -> int:
    return jobqueue.queue(connection, keys.ORDER_QUEUE).count


def test_a_retry_with_the_same_key_returns_the_original_job(client, fake_redis):
    first = post(client, ORDER, headers={"Idempotency-Key": "signal-2026-11-24-0001"})
    retry = post(client, ORDER, headers={"Idempotency-Key": "signal-2026-11-24-0001"}, timestamp=1 + int(__import__("time").time()))
    assert first.status_code == retry.status_code == 202
    assert retry.get_json()["job_id"] == first.get_json()["job_id"] and retry.headers["Idempotent-Replayed"] == "true"
    assert orders_queued(fake_redis) == 1


def test_client_order_id_in_the_body_works_like_the_header(client, fake_redis):
    body = {**ORDER, "client_order_id": "cid-42"}
    first = post(client, body)
    retry = post(client, body, timestamp=int(__import__("time").time()) - 1)  # a new signature: not a replay
    assert retry.get_json()["job_id"] == first.get_json()["job_id"] and orders_queued(fake_redis) == 1


def test_the_same_key_with_a_different_body_is_409(client, fake_redis):
    post(client, ORDER, headers={"Idempotency-Key": "k1"})
    other = post(client, {**ORDER, "shares": 200}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409 and "was used for a different request" in other.get_json()["error"]
    assert orders_queued(fake_redis) == 1


def test_keys_are_per_client(client, fake_redis, app):
    from api import create_app
    from tests.support import make_settings

    settings = make_settings(API_CLIENTS=[{"client_id": "other", "secret": "other-secret"}])
    both = create_app(settings, fake_redis).test_client()
    a = post(both, ORDER, headers={"Idempotency-Key": "same"})
    signed = signed_headers("POST", BUY, ORDER, client_id="other", secret="other-secret")
    b = both.post(BUY, data=json.dumps(ORDER), headers={**signed, "Idempotency-Key": "same"}, content_type="application/json")
    assert a.get_json()["job_id"] != b.get_json()["job_id"] and orders_queued(fake_redis) == 2


def test_a_fanned_out_order_is_idempotent_per_account(client, fake_redis):
    body = {k: v for k, v in ORDER.items() if k != "trader_index"}
    first = post(client, body, headers={"Idempotency-Key": "fan"})
    retry = post(client, body, headers={"Idempotency-Key": "fan"}, timestamp=int(__import__("time").time()) + 2)
    assert retry.get_json()["job_ids"] == first.get_json()["job_ids"] and len(set(first.get_json()["job_ids"])) == 2
    assert orders_queued(fake_redis) == 2


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"Idempotency-Key": "x" * 65}, ORDER, "Idempotency-Key"),
        ({}, {**ORDER, "client_order_id": "y" * 25}, "client_order_id"),
        ({}, {**ORDER, "client_order_id": "中文"}, "client_order_id"),
        ({}, {**ORDER, "client_order_id": 42}, "client_order_id"),
    ],
)
def test_malformed_keys_are_422_and_never_a_job(client, fake_redis, headers, body, field):
    answer = post(client, body, headers=headers)
    assert answer.status_code == 422 and answer.get_json()["field"] == field
    assert orders_queued(fake_redis) == 0
