"""Risk controls at the door: kill switch, notional cap, per-second and daily caps, block list; admin only; audited."""

from __future__ import annotations

import json

import pytest

from api import create_app
from common.config import clock
from common.rules import masking, risk
from common.store import audit, jobqueue, keys, risk_state
from tests.support import make_settings, signed_headers

API = "/qmt/trade/api"
BUY = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}


@pytest.fixture
def client(fake_redis):
    settings = make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw")
    return create_app(settings, fake_redis).test_client()


def post(client, path, body, **kwargs):
    path = API + path
    return client.post(path, data=json.dumps(body), headers=signed_headers("POST", path, body, **kwargs), content_type="application/json")


def admin(client):
    assert client.post("/login", json={"username": "admin", "password": "admin-pw"}).status_code == 200
    return client


def orders(connection) -> int:
    return jobqueue.queue(connection, keys.ORDER_QUEUE).count


def test_the_kill_switch_halts_orders_with_423_and_cancels_still_run(client, fake_redis):
    admin(client)
    thrown = client.post(f"{API}/risk/kill_switch", json={"on": True})
    assert thrown.status_code == 200 and thrown.get_json()["limits"]["kill_switch"] is True
    client.get("/logout")
    halted = post(client, "/buy", {**BUY, "strategy_name": "a"})
    assert halted.status_code == 423 and "kill switch" in halted.get_json()["error"]
    assert post(client, "/cancel_order", {"trader_index": 0, "order_id": 5}).status_code == 202
    assert orders(fake_redis) == 0
    admin(client).post(f"{API}/risk/kill_switch", json={"on": False})
    assert post(client, "/buy", {**BUY, "strategy_name": "b"}).status_code == 202


def test_throwing_the_switch_can_cancel_every_open_order(client, fake_redis):
    answer = admin(client).post(f"{API}/risk/kill_switch", json={"on": True, "cancel_open": True})
    assert len(answer.get_json()["job_ids"]) == 4  # buys and sells of both accounts
    assert jobqueue.queue(fake_redis, keys.CANCEL_QUEUE).count == 4


def test_notional_cap_and_block_list(client, fake_redis):
    admin(client).put(f"{API}/risk", json={"max_order_notional": 50_000, "blocked_symbols": ["sz000001"]})
    client.get("/logout")
    over = post(client, "/buy", {**BUY, "shares": 5_100})
    assert over.status_code == 403 and "exceeds the per-order cap of 50,000.00" in over.get_json()["error"]
    blocked = post(client, "/buy", {**BUY, "symbol": "000001"})
    assert blocked.status_code == 403 and "000001.SZ is on the block list" in blocked.get_json()["error"]
    assert post(client, "/buy", {**BUY, "shares": 5_000}).status_code == 202


def test_per_second_cap_counts_orders_and_cancels(client, fake_redis, monkeypatch):
    risk_state.save(fake_redis, risk.RiskLimits(max_actions_per_second=3))
    now = clock.time()
    monkeypatch.setattr(clock, "time", lambda: now)  # the router's clock stands still: four requests in one counting second
    answers = [post(client, "/buy", {**BUY, "strategy_name": str(i)}).status_code for i in range(2)]
    answers.append(post(client, "/cancel_order", {"trader_index": 0, "order_id": 9}).status_code)
    answers.append(post(client, "/buy", {**BUY, "strategy_name": "4"}).status_code)
    assert answers[:3] == [202, 202, 202] and answers[3] == 429


def test_daily_cap_refuses_a_whole_fan_out(client, fake_redis):
    risk_state.save(fake_redis, risk.RiskLimits(max_actions_per_day=1))
    assert post(client, "/buy", {**BUY, "trader_index": 1}).status_code == 202  # account 1 at its cap
    fan = post(client, "/buy", {k: v for k, v in BUY.items() if k != "trader_index"})
    assert fan.status_code == 429 and "daily cap" in fan.get_json()["error"]
    assert orders(fake_redis) == 1 and risk_state.actions_today(fake_redis, 0) == 0  # account 0 was not charged


def test_only_admins_change_limits_and_bad_limits_are_422(client, fake_redis):
    assert client.post("/login", json={"username": "trader", "password": "trader-pw"}).status_code == 200
    assert client.put(f"{API}/risk", json={"kill_switch": True}).status_code == 403
    admin(client)
    assert client.put(f"{API}/risk", json={"max_actions_per_second": -1}).status_code == 422
    assert client.put(f"{API}/risk", json={"blocked_symbols": ["AAPL"]}).status_code == 422
    assert client.put(f"{API}/risk", json={"nonsense": 1}).status_code == 422
    assert risk_state.load(fake_redis) == risk.RiskLimits()


def test_the_audit_trail_has_accepted_and_rejected_requests_without_passwords(client, fake_redis):
    post(client, "/buy", BUY)
    post(client, "/buy", {**BUY, "shares": 150})
    client.post("/login", json={"username": "admin", "password": "admin-pw"})
    client.put(f"{API}/risk", json={"max_order_notional": 1})
    entries = audit.recent(fake_redis)
    assert [(e["action"], e["outcome"], e["status"]) for e in entries] == [
        ("risk_api.put_risk", "accepted", 200),
        ("auth.login", "accepted", 200),
        ("trade_api.buy", "rejected", 422),
        ("trade_api.buy", "accepted", 202),
    ]
    accepted = entries[-1]
    assert accepted["client_id"] == "test-client" and accepted["job_ids"] and accepted["payload"]["shares"] == 100
    assert "admin-pw" not in json.dumps(entries)
    assert entries[0]["client_id"] == "user:admin" and entries[0]["payload"] == {"max_order_notional": 1}


def test_account_numbers_are_masked():
    assert masking.mask_account("8881234567") == "888****567"
    assert masking.mask_account("12345") == "*****"
