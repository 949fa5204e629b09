"""The web pages over Flask's test client: who sees which page, the login form and its lockout, the CSRF rule."""

from __future__ import annotations

import re

import pytest

from api import create_app
from tests.support import make_settings, signed_headers

BUY = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def client(fake_redis):
    return create_app(make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw"), fake_redis).test_client()


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def meta_token(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def page_login(client, user: str = "trader", password: str | None = None):
    token = form_token(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password or f"{user}-pw", "csrf_token": token}, headers=BROWSER)


@pytest.mark.parametrize("path", ["/", "/trade", "/config", "/job/o0123456789abcdef"])
def test_logged_out_every_page_sends_to_the_login_page(client, path):
    answer = client.get(path, headers=BROWSER)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"


def test_the_login_page_logs_in_and_sends_to_the_status_page(client):
    form = client.get("/login")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text and "no-store" in form.headers["Cache-Control"]
    wrong = page_login(client, password="nope")
    assert wrong.status_code == 401 and "用户名或密码错误。" in wrong.text  # Chinese first
    answer = page_login(client)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    status = client.get("/")
    assert status.status_code == 200 and meta_token(status.text)
    assert client.get("/login").headers["Location"] == "/"  # logged in already


def test_the_eleventh_wrong_password_is_429_and_the_page_says_when_to_try_again(client):
    for _ in range(10):
        assert page_login(client, password="guess").status_code == 401
    locked = page_login(client, password="guess")
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "300"
    assert re.search(r"请在 5 分 0 秒 后（北京时间 \d\d:\d\d:\d\d 之后）再试", locked.text), locked.text
    assert page_login(client).status_code == 429  # the right password too, until the window ends
    assert client.get("/", headers=BROWSER).status_code == 303


def test_a_login_form_without_the_token_logs_no_one_in(client):
    client.get("/login")
    answer = client.post("/login", data={"username": "trader", "password": "trader-pw"}, headers=BROWSER)
    assert answer.status_code == 400 and "登录表单已过期" in answer.text
    assert client.get("/", headers=BROWSER).status_code == 303


def test_a_page_session_changes_state_only_with_its_csrf_token_and_from_its_own_origin(client):
    page_login(client)
    token = meta_token(client.get("/").text)
    missing = client.post("/qmt/trade/api/buy", json=BUY)
    assert missing.status_code == 403 and "CSRF token" in missing.get_json()["error"]
    wrong = client.post("/qmt/trade/api/buy", json=BUY, headers={"X-CSRFToken": "not-the-token"})
    assert wrong.status_code == 403
    cross_site = client.post("/qmt/trade/api/buy", json=BUY, headers={"X-CSRFToken": token, "Origin": "https://evil.example"})
    assert cross_site.status_code == 403 and "cross-site" in cross_site.get_json()["error"]
    assert client.post("/qmt/trade/api/buy", json=BUY, headers={"X-CSRFToken": token, "Origin": "http://localhost"}).status_code == 202
    assert client.get("/qmt/trade/api/risk/kill_switch").status_code == 200  # reading needs no token


def test_signed_clients_and_sdk_logins_need_no_token(client, fake_redis):
    path = "/qmt/trade/api/buy"
    assert client.post(path, json=BUY, headers=signed_headers("POST", path, BUY)).status_code == 202
    sdk = create_app(make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw"), fake_redis).test_client()
    assert sdk.post("/login", json={"username": "trader", "password": "trader-pw"}).get_json() == {"success": True}
    assert sdk.post(path, json={**BUY, "strategy_name": "sdk"}).status_code == 202


def test_a_trader_is_refused_the_config_page_and_sees_no_link_to_it(client):
    page_login(client)
    assert 'href="/config"' not in client.get("/").text and 'href="/trade"' in client.get("/").text
    refused = client.get("/config")
    assert refused.status_code == 403 and "此页面需要管理员权限" in refused.text


def test_an_admin_sees_every_page(client):
    page_login(client, "admin")
    assert 'href="/config"' in client.get("/").text
    for path in ("/", "/trade", "/config", "/job/o0123456789abcdef"):
        assert client.get(path).status_code == 200, path


def test_logging_out_from_a_page_goes_back_to_the_login_page(client):
    page_login(client)
    answer = client.get("/logout", headers=BROWSER)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login?out=1"
    assert "您已退出登录。" in client.get("/login?out=1").text
    assert client.get("/", headers=BROWSER).status_code == 303
    assert client.get("/qmt/trade/api/risk/kill_switch").status_code == 401


def test_bootstrap_is_served_from_the_package(client):
    page_login(client)
    [css] = re.findall(r'<link rel="stylesheet" href="([^"]*bootstrap[^"]*)"', client.get("/").text)
    assert css.startswith("/")  # local: no CDN
    with client.get(css) as served:  # a file answer: closed here, or its open file leaks
        assert served.status_code == 200 and served.mimetype == "text/css"
