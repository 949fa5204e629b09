"""Hostile input at the door: malformed bodies, odd timestamps, client enumeration, lax types, contradictory sides,
login lockouts and sessions that outlive their logout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from api import create_app
from api.signing import string_to_sign
from common.store import audit, jobqueue, keys
from tests.support import CLIENT_ID, CLIENT_SECRET, make_settings, signed_headers

API = "/qmt/trade/api"
TRADE = f"{API}/trade"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.5, "order_type": 23}


@pytest.fixture
def client(fake_redis):
    settings = make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw")
    return create_app(settings, fake_redis).test_client()


def post(client, path, body, **sign_kwargs):
    return client.post(path, data=json.dumps(body), headers=signed_headers("POST", path, body, **sign_kwargs), content_type="application/json")


def post_raw_signed(client, path, raw: str):
    """A body a client signs as it sent it: `raw` is already canonical (sorted keys, no spaces)."""
    stamp = str(int(time.time()))
    message = string_to_sign("POST", path, "", raw, stamp, CLIENT_ID)
    signature = hmac.new(CLIENT_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Client-ID": CLIENT_ID, "X-Timestamp": stamp, "X-Signature": signature}
    return client.post(path, data=raw, headers=headers, content_type="application/json")


def queued(connection) -> int:
    return sum(jobqueue.queue(connection, name).count for name in keys.QUEUES_BY_PRIORITY)


# -- 6. malformed bodies are 400 naming what is wrong ------------------------------------------------
DEEP = "[" * 900 + "]" * 900
MALFORMED = {
    "900-deep array": (DEEP, "deeper than"),
    "30000-deep array": ("[" * 30_000, "deeper than"),  # deep enough for RecursionError, within MAX_BODY_BYTES
    "5000-digit integer": ("1" * 5000, "digits"),
    "NaN": ("NaN", "finite"),
    "overflowing number": ("1e999", "finite"),
    "lone surrogate": ('"\\ud800"', "Unicode"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_login_body_is_400_naming_the_problem(client, case):
    value, words = MALFORMED[case]
    answer = client.post("/login", data=f'{{"password":"x","username":{value}}}', content_type="application/json")
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["field"] == "body" and words in answer.get_json()["error"]


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_signed_body_is_400_and_never_a_job(client, fake_redis, case):
    value, words = MALFORMED[case]
    raw = f'{{"order_type":23,"price":10.5,"strategy_name":{value},"symbol":"600000","trader_index":0,"volume":100}}'
    answer = post_raw_signed(client, TRADE, raw)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["field"] == "body" and words in answer.get_json()["error"]
    assert queued(fake_redis) == 0


def test_a_whole_body_nested_too_deep_is_400(client):
    answer = client.post("/login", data=DEEP, content_type="application/json")
    assert answer.status_code == 400 and "deeper than" in answer.get_json()["error"]


def test_a_login_form_without_a_password_is_422_naming_it(client, fake_redis):
    answer = client.post("/login", data={"username": "admin"})
    assert answer.status_code == 422 and answer.get_json()["field"] == "password"


def test_a_login_body_that_is_neither_json_nor_a_form_is_400(client):
    answer = client.post("/login", data="username=admin", content_type="text/plain")
    assert answer.status_code == 400 and answer.get_json()["field"] == "body"
    assert "JSON or a form" in answer.get_json()["error"]


# -- 7. X-Timestamp: whole unix seconds only -----------------------------------------------------------
@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "{now}.0", "{now}.5", "{now}e0", " {now}", "+{now}", "-1", "١٧٠٠٠٠٠٠٠٠"])
def test_a_timestamp_that_is_not_whole_seconds_is_401(client, fake_redis, stamp):
    stamp = stamp.format(now=int(time.time()))
    message = string_to_sign("POST", TRADE, "", json.dumps(ORDER, sort_keys=True, separators=(",", ":")), stamp, CLIENT_ID)
    signature = hmac.new(CLIENT_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Client-ID": CLIENT_ID, "X-Timestamp": stamp, "X-Signature": signature}
    answer = client.post(TRADE, data=json.dumps(ORDER), headers=headers, content_type="application/json")
    assert answer.status_code == 401, answer.get_json()
    assert "X-Timestamp" in answer.get_json()["error"]
    assert queued(fake_redis) == 0


# -- 8. an unknown client and a wrong secret look the same ----------------------------------------------
def test_an_unknown_client_and_a_wrong_secret_get_the_same_answer_and_the_audit_tells_them_apart(client, fake_redis):
    unknown = post(client, TRADE, ORDER, client_id="nobody")
    wrong = post(client, TRADE, ORDER, secret="not-the-secret")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    newest, older = audit.recent(fake_redis, 2)
    assert "unknown client 'nobody'" in older["error"] and older["client_id"] == "unverified:nobody"
    assert "signature does not match" in newest["error"] and "unknown client" not in newest["error"]
    assert queued(fake_redis) == 0


def test_an_expired_timestamp_answers_the_same_for_an_unknown_client(client):
    old = time.time() - 400
    unknown = post(client, TRADE, ORDER, client_id="nobody", timestamp=old)
    known = post(client, TRADE, ORDER, timestamp=old)
    assert unknown.status_code == known.status_code == 401
    assert "old" in known.get_json()["error"]
    assert unknown.get_json()["error"].replace("nobody", CLIENT_ID) == known.get_json()["error"]


def test_a_malformed_body_answers_the_same_for_an_unknown_client(client):
    raw = '{"symbol": '
    unknown = client.post(TRADE, data=raw, headers=signed_headers("POST", TRADE, None, client_id="nobody"), content_type="application/json")
    known = client.post(TRADE, data=raw, headers=signed_headers("POST", TRADE, None), content_type="application/json")
    assert unknown.status_code == known.status_code == 400 and unknown.get_json() == known.get_json()


# -- 9. a boolean is never a number, a number in a string is refused --------------------------------------
PCT = {"symbol": "600000", "trade_price": 10.0, "position_pct": 0.1, "pricetype": 0}
SHARES = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}
OUTER = {"trader_index": 0, "symbol": "600000", "trade_price": 10.0, "order_num": 100}
LAX = [
    ("/trade", ORDER, "trader_index", True),
    ("/trade", ORDER, "price", True),
    ("/trade", ORDER, "volume", "100"),
    ("/trade", ORDER, "volume", True),
    ("/trade", ORDER, "price", "10.5"),
    ("/trade", ORDER, "price_type", True),
    ("/trade", ORDER, "price_type", "1"),
    ("/trade", PCT, "position_pct", "0.1"),
    ("/trade", PCT, "trade_price", True),
    ("/trade", PCT, "pricetype", True),
    ("/trade", PCT, "trader_index", "0"),
    ("/buy", SHARES, "shares", "100"),
    ("/sell", SHARES, "trader_index", False),
    ("/outer/trade/buy", OUTER, "order_num", "100"),
    ("/outer/trade/buy", {**OUTER, "order_num": None, "position_pct": 0.1}, "position_pct", True),
    ("/trade/allin", {"trader_index": 0, "symbol": "600000", "cur_price": 10.0}, "cur_price", "10"),
    ("/trade/nhg", {"trader_index": 0}, "reserve_amount", True),
    ("/cancel_order", {"trader_index": 0, "order_id": 1}, "order_id", "1"),
    ("/cancel_order", {"trader_index": 0, "order_id": 1}, "trader_index", True),
    ("/cancel_orders/buy", {}, "trader_index", True),
    ("/order", {"trader_index": 0, "order_id": 1}, "order_id", True),
    ("/orders", {"trader_index": 0}, "cancelable_only", "yes"),
]


@pytest.mark.parametrize(("path", "body", "field", "value"), LAX)
def test_a_boolean_or_a_number_in_a_string_is_422_naming_the_field(client, fake_redis, path, body, field, value):
    body = {k: v for k, v in {**body, field: value}.items() if v is not None}
    answer = post(client, API + path, body)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == field
    assert answer.get_json()["error"].startswith(f"{field}: ")
    assert queued(fake_redis) == 0


@pytest.mark.parametrize("change", [{"volume": 100.0}, {"price": 10}, {"trader_index": 0.0}])
def test_json_numbers_of_either_kind_are_still_accepted(client, change):
    """Old clients send JSON numbers; a strategy's arithmetic may give 100.0 shares or an integer price."""
    assert post(client, TRADE, {**ORDER, **change}).status_code == 202


# -- 10. position_pct's sign and order_type agree ----------------------------------------------------------
def test_a_negative_position_pct_with_a_buy_order_type_is_422_naming_both(client, fake_redis):
    answer = post(client, TRADE, {**PCT, "trader_index": 0, "position_pct": -0.5, "order_type": 23})
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()
    assert error["field"] == "order_type" and "position_pct" in error["error"] and "order_type" in error["error"]
    assert queued(fake_redis) == 0


@pytest.mark.parametrize("body", [{"position_pct": -0.5, "order_type": 24}, {"position_pct": -0.5}, {"position_pct": 0.5, "order_type": 24}])
def test_a_sell_by_position_pct_is_still_a_sell(client, fake_redis, body):
    from rq.job import Job
    from rq.serializers import JSONSerializer

    answer = post(client, TRADE, {**PCT, "trader_index": 0, **body})
    assert answer.status_code == 202, answer.get_json()
    payload = Job.fetch(answer.get_json()["job_id"], connection=fake_redis, serializer=JSONSerializer).kwargs["payload"]
    assert (payload["order_type"], payload["position_pct"]) == (24, 0.5)


# -- 11. login failures count per user and address ------------------------------------------------------
def login(client, username, password, address="10.0.0.1", forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", json={"username": username, "password": password}, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_right_passwords_are_never_counted_as_attempts(client):
    for _ in range(15):
        assert login(client, "trader", "trader-pw").status_code == 200


def test_another_users_failures_do_not_lock_out_a_right_password(client):
    for _ in range(12):
        login(client, "trader", "guess")
    assert login(client, "admin", "admin-pw").status_code == 200


def test_the_eleventh_failure_is_429_with_retry_after_and_locks_only_that_user_and_address(client):
    for _ in range(10):
        assert login(client, "admin", "guess").status_code == 401
    locked = login(client, "admin", "admin-pw")
    assert locked.status_code == 429 and "too many" in locked.get_json()["error"]
    assert 0 < int(locked.headers["Retry-After"]) <= 300
    assert login(client, "admin", "admin-pw", address="10.0.0.2").status_code == 200


def test_behind_a_trusted_proxy_failures_count_per_forwarded_address(fake_redis):
    client = create_app(make_settings(ADMIN_PASSWORD="admin-pw", TRUSTED_PROXIES=1), fake_redis).test_client()
    for _ in range(11):
        login(client, "admin", "guess", address="127.0.0.1", forwarded_for="203.0.113.9")
    assert login(client, "admin", "admin-pw", address="127.0.0.1", forwarded_for="203.0.113.9").status_code == 429
    assert login(client, "admin", "admin-pw", address="127.0.0.1", forwarded_for="198.51.100.7").status_code == 200


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(client):
    for n in range(10):
        login(client, "admin", "guess", forwarded_for=f"198.51.100.{n}")
    assert login(client, "admin", "admin-pw", forwarded_for="198.51.100.99").status_code == 429


# -- 12. logout ends the session; the cookie can be Secure --------------------------------------------
def test_the_cookie_of_a_logged_out_session_no_longer_authenticates(client):
    assert login(client, "trader", "trader-pw").status_code == 200
    saved = client.get_cookie("session").value
    assert client.get("/logout").status_code == 200
    client.set_cookie("session", saved)  # a copy of the cookie taken before logout
    answer = client.post(f"{API}/cancel_orders/buy", json={})
    assert answer.status_code == 401, answer.get_json()
    assert login(client, "trader", "trader-pw").status_code == 200
    assert client.post(f"{API}/cancel_orders/buy", json={}).status_code == 202


def test_the_session_cookie_is_secure_when_configured(fake_redis):
    secure = create_app(make_settings(TRADER_PASSWORD="trader-pw", SESSION_COOKIE_SECURE=True), fake_redis).test_client()
    assert "Secure" in login(secure, "trader", "trader-pw").headers["Set-Cookie"]
    plain = create_app(make_settings(TRADER_PASSWORD="trader-pw"), fake_redis).test_client()
    assert "Secure" not in login(plain, "trader", "trader-pw").headers["Set-Cookie"]
