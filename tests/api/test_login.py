"""Web login: admin and trader, form or JSON; a session calls the API without a signature, same-origin only."""

from __future__ import annotations

import pytest

from api import create_app
from tests.support import make_settings

BUY = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}


@pytest.fixture
def client(fake_redis):
    settings = make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw")
    return create_app(settings, fake_redis).test_client()


def test_json_login_lets_the_session_trade_without_a_signature(client):
    assert client.post("/qmt/trade/api/buy", json=BUY).status_code == 401
    answer = client.post("/login", json={"username": "trader", "password": "trader-pw"})
    assert answer.status_code == 200 and answer.get_json() == {"success": True}
    assert client.post("/qmt/trade/api/buy", json=BUY).status_code == 202
    assert client.get("/logout").get_json() == {"success": True}
    assert client.post("/qmt/trade/api/buy", json=BUY).status_code == 401


def test_form_login(client):
    answer = client.post("/login", data={"username": "admin", "password": "admin-pw"})
    assert answer.status_code == 200 and answer.get_json()["success"] is True
    assert client.post("/qmt/trade/api/cancel_orders/buy", json={}).status_code == 202


@pytest.mark.parametrize(("username", "password"), [("trader", "wrong"), ("nobody", "trader-pw"), ("admin", "")])
def test_wrong_credentials_are_401(client, username, password):
    answer = client.post("/login", json={"username": username, "password": password or "x"})
    assert answer.status_code == 401 and answer.get_json()["error"] == "wrong username or password"


def test_an_empty_password_setting_disables_that_user(fake_redis):
    client = create_app(make_settings(ADMIN_PASSWORD=""), fake_redis).test_client()
    assert client.post("/login", json={"username": "admin", "password": "\0"}).status_code == 401


def test_login_attempts_are_rate_limited(client):
    for _ in range(10):
        assert client.post("/login", json={"username": "admin", "password": "guess"}).status_code == 401
    answer = client.post("/login", json={"username": "admin", "password": "admin-pw"})
    assert answer.status_code == 429 and "too many login attempts" in answer.get_json()["error"]


def test_a_cross_site_request_cannot_ride_the_session(client):
    client.post("/login", json={"username": "trader", "password": "trader-pw"})
    answer = client.post("/qmt/trade/api/buy", json=BUY, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "cross-site" in answer.get_json()["error"]
    assert client.post("/qmt/trade/api/buy", json=BUY, headers={"Origin": "http://localhost"}).status_code == 202


def test_the_session_cookie_is_httponly_and_samesite_strict(client):
    answer = client.post("/login", json={"username": "trader", "password": "trader-pw"})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
