"""Both public SDKs of the old server, as they are, against the real web and worker processes with the old server's
clients configured as its `.env` had them (QMT_CLIENT_*, OUTER_CLIENT_*) and the default waits left as shipped.

The SDKs cannot poll a job and never look at the HTTP status: what they return is the answer's JSON. So an order's
answer must carry the broker's verdict in the old shape, a refusal must read as a failure with its reason, and an
outcome the wait did not see must read as "not yet known" with the job id, never as success.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import requests

from tests.integration import old_sdks
from tests.integration.conftest import wait_ready
from tests.integration.old_sdks import BatchScript, OrderHelper
from tests.support import CLIENT_ID, CLIENT_SECRET, SignedHttpClient, wait_until

pytestmark = pytest.mark.integration
OUTER = ("outer_client_002", "outer-client-secret-for-tests")


# The old server's .env, as its .env.example lays it out (Chinese comments, LOG_DIR, a quoted multi-line TRADER_CONFIGS
# with account_type and account_name), filled in as a user would: pasted as is into the router's folder.
OLD_DOTENV = f"""# QMT交易系统环境变量配置示例
# Flask应用配置
FLASK_SECRET_KEY=8c1f0a5e2b7d4c6f9a3e1b5d7c9f2a4e
FLASK_DEBUG=true
FLASK_HOST=0.0.0.0
FLASK_PORT=9091

# 日志配置
LOG_LEVEL=INFO
LOG_DIR=logs

# 用户认证配置
ADMIN_PASSWORD=old-admin-password-1
TRADER_PASSWORD=trader-pass-for-tests

# API配置
API_SIGNATURE_TIMEOUT=300
QMT_CLIENT_ACCOUNT={CLIENT_ID}
QMT_CLIENT_SECRET={CLIENT_SECRET}
OUTER_CLIENT_ACCOUNT={OUTER[0]}
OUTER_CLIENT_SECRET={OUTER[1]}

# 交易账号配置
TRADER_CONFIGS="[
  {{
    'account_id': 'SIM000001',
    'account_type': 1001,
    'account_name': '账户1',
    'qmt_path': 'C:/迅投极速策略交易系统交易终端 华鑫证券QMT实盘/userdata_mini',
    'enabled': True
  }},
  {{
    'account_id': 'SIM000002',
    'account_type': 1001,
    'account_name': '账户2',
    'qmt_path': 'D:/迅投极速策略交易系统交易终端 大同证券QMT实盘/userdata_mini',
    'enabled': True
  }}
]"

# 钉钉
DINGTALK_ACCESS_TOKEN=
DINGTALK_SECRET=
DINGTALK_KEYWORD=
"""


@pytest.fixture
def old_env(role_env, tmp_path):
    """The old server's .env pasted as is, with the shipped default waits (the suite's own client answers 202 at once);
    the environment keeps only where this test's Redis and port are (the environment wins over .env)."""
    (tmp_path / ".env").write_text(OLD_DOTENV, encoding="utf-8")
    for key in (
        "QMT_CLIENT_ACCOUNT",
        "QMT_CLIENT_SECRET",
        "QMT_CLIENT_DEFAULT_WAIT",
        "LOGIN_CLIENT_DEFAULT_WAIT",
        "TRADER_CONFIGS",
        "FLASK_SECRET_KEY",
    ):
        role_env.pop(key)
    return role_env


@pytest.fixture
def running(roles, http, old_env):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    return roles


def test_an_order_helper_hears_the_brokers_verdict_in_the_old_shape(running, http):
    helper = OrderHelper(http.base_url, *OUTER, trader_index=0)
    bought = helper.call_trade("600000.SH", 10.0, 0.01, "buy")
    assert helper.last_status == 200, bought
    assert bought["success"] is True and bought["operation"] == "buy" and bought["strategy_name"] == "策略1", bought
    [result] = bought["results"]
    assert (result["trader_index"], result["status"], result["error"]) == (0, "success", None), result
    assert result["result"]["order_id"] > 0 and result["result"]["volume"] == 900, result  # 1% of 1,000,000 at 10.00, less fees

    refused = helper.call_trade("510300.SH", 4.0, 0.5, "sell")  # nothing of it is held: nothing to sell
    assert refused["success"] is False, refused
    [result] = refused["results"]
    assert result["status"] == "failed" and result["error"], result  # the reason, as the old server gave its exceptions'

    assert [a["account_id"] for a in helper.get_accounts()["accounts"]] == ["SIM000001", "SIM000002"]
    assert helper.cash > 0
    orders = helper.query_orders()
    assert any(o["order_id"] == bought["results"][0]["result"]["order_id"] for o in orders["orders"]), orders
    assert helper.query_order(bought["results"][0]["result"]["order_id"])["order"]["symbol"] == "600000.SH"

    resting = helper.call_trade("000001.SZ", 10.5, 0.01, "buy")  # under the last 11.00: it rests, open
    assert resting["results"][0]["status"] == "success", resting
    cancelled = helper.cancel_all_orders_buy()
    assert cancelled["success"] is True and cancelled["results"][0]["result"]["cancelled"], cancelled

    again = helper.call_trade("000001.SZ", 10.6, 0.01, "buy")  # another body: the same one in a second is a replay
    assert again["results"][0]["status"] == "success", again
    assert helper.cancel_order(again["results"][0]["result"]["order_id"])["results"][0]["status"] == "success"
    assert helper.cancel_all_orders_sale()["success"] is True  # none open: nothing to cancel is no failure

    allin = helper.trade_allin("510300.SH", 4.0)
    assert allin["success"] is True and allin["results"][0]["result"]["volume"] > 0, allin
    assert wait_until(lambda: {"600000.SH", "510300.SH"} <= {p["symbol"] for p in helper.hold_positions}, 10), helper.get_positions()
    lent = OrderHelper(http.base_url, *OUTER, trader_index=1).nhg()  # account 1's idle cash: account 0's went all in
    assert lent["success"] is True and lent["results"][0]["result"]["symbol"] in ("131810.SZ", "204001.SH"), lent


def test_two_identical_signals_in_one_second_say_the_second_was_a_repeat_in_the_old_error_shape(running, http, monkeypatch):
    helper = OrderHelper(http.base_url, *OUTER, trader_index=0)
    # the two must fall in one second (the signature covers the whole-second timestamp): the old client's clock stands
    # still, so they do however long each takes on a loaded machine
    now = time.time()
    monkeypatch.setattr(old_sdks, "time", SimpleNamespace(time=lambda: now))
    first = helper.call_trade("600000.SH", 9.6, 0.001, "buy")
    stamp = helper.last_timestamp
    second = helper.call_trade("600000.SH", 9.6, 0.001, "buy")
    assert helper.last_timestamp == stamp
    assert first["success"] is True, first
    assert helper.last_status == 401 and second["success"] is False, second
    assert "already received" in second["error"] and "not an authentication failure" in second["error"], second


def test_the_batch_script_trades_every_account_and_says_which_failed(running, http):
    script = BatchScript(http.base_url, CLIENT_ID, CLIENT_SECRET)
    bought = script.call_buy("600000", 10.0, 0.01)
    assert script.last_status == 200 and bought["success"] is True, bought
    assert [(r["trader_index"], r["status"]) for r in bought["results"]] == [(0, "success"), (1, "success")], bought
    sold = script.call_sell("510300", 4.0, 0.5)
    assert sold["success"] is False and [r["status"] for r in sold["results"]] == ["failed", "failed"], sold


def test_a_verdict_the_wait_did_not_see_is_not_yet_known_with_the_job_id_never_success(roles, http, old_env, real_redis):
    old_env["OUTER_CLIENT_DEFAULT_WAIT"] = "2"  # settable; the worker is not running, so no verdict can come
    roles.start("api")

    def listening() -> bool:
        try:
            return http.get("/healthz").status == 200
        except OSError:
            return False

    assert wait_until(listening, 30), roles.log("api")
    helper = OrderHelper(http.base_url, *OUTER, trader_index=1)
    answer = helper.call_trade("600000.SH", 10.0, 0.01, "buy")
    assert helper.last_status == 202, answer
    assert answer["success"] is False and "outcome not yet known" in answer["error"], answer
    [result] = answer["results"]
    job_id = result["job_id"]
    assert result["status"] == "failed" and result["outcome"] == "not_yet_known" and job_id in result["error"], result
    assert answer["job_ids"] == [job_id]

    roles.start("worker")  # the job was queued all along: it may still be placed, as the answer said
    owner = SignedHttpClient(http.base_url, client_id=OUTER[0], secret=OUTER[1])
    assert wait_until(lambda: (owner.get(f"/qmt/trade/api/jobs/{job_id}").body.get("result") or {}).get("outcome") == "submitted", 30)


def test_a_script_logged_in_by_the_login_route_waits_for_the_verdict(roles, http, old_env):
    """The old server's /trade, /buy, /sell were for logged-in users; a script that logs in as they did waits too."""
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    script = requests.Session()
    assert script.post(f"{http.base_url}/login", json={"username": "trader", "password": "trader-pass-for-tests"}, timeout=10).ok
    answer = script.post(
        f"{http.base_url}/qmt/trade/api/sell", json={"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}, timeout=30
    )
    body = answer.json()
    assert answer.status_code == 200 and body["success"] is False, body  # nothing held: the broker refused it
    [result] = body["results"]
    assert result["status"] == "failed" and "可用股份不足" in result["error"], result  # the simulator's reason, as QMT words it
    answer = script.post(f"{http.base_url}/qmt/trade/api/buy", json={"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}, timeout=30)
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "success", answer.json()
