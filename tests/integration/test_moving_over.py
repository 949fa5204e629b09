"""An old client moves over: waiting answers with the broker's verdict, repeated reads, old units, the next trading day."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import ROOT, wait_ready
from tests.support import SignedHttpClient, signed_headers, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
# the verdict comes with the broker's first status (reported); the simulator's fill follows a moment later
ACCEPTED = ("reported", "filled")


def assert_fills(client: SignedHttpClient, job_id: str) -> None:
    """The job's order reaches `filled` (its latest broker state, as GET /jobs shows it)."""
    assert wait_until(lambda: (client.get(f"{API}/jobs/{job_id}").body.get("order") or {}).get("status") == "filled", 10, 0.05), job_id


class WaitingClient(SignedHttpClient):
    """The old SDKs' calls, plus `Prefer: wait=N` on every request."""

    def post_waiting(self, path: str, body: dict, wait: float):
        import json
        import urllib.error
        import urllib.request

        headers = {
            **signed_headers("POST", path, body, client_id=self.client_id, secret=self.secret),
            "Content-Type": "application/json",
            "Prefer": f"wait={wait:g}",
        }
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=40) as answer:
                return answer.status, dict(answer.headers), json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def started(roles, http, role_env):
    role_env["ADMIN_PASSWORD"] = "admin-pass-for-tests"
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    return WaitingClient(http.base_url)


def test_a_waiting_order_answers_the_broker_verdict_in_the_old_shape(started):
    status, headers, body = started.post_waiting(
        f"{API}/sell", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100, "strategy_name": "nothing-held"}, wait=5
    )
    assert status == 200 and headers["Preference-Applied"] == "wait=5"
    [result] = body["results"]
    assert result["trader_index"] == 0 and result["status"] == "failed" and "可用股份不足" in result["error"]  # the simulator's reason
    assert body["job_ids"] and set(body) >= {"message", "results", "job_ids"}

    status, _, body = started.post_waiting(
        f"{API}/outer/trade/buy",
        {"trader_index": 0, "symbol": "600000", "trade_price": 10.0, "price_type": 0, "order_num": 300, "strategy_name": "外部"},
        wait=5,
    )
    [result] = body["results"]
    assert status == 200 and result["status"] == "success" and result["error"] is None
    assert result["result"]["order_id"] > 0 and result["result"]["volume"] == 300 and result["result"]["status"] in ACCEPTED
    assert_fills(started, body["job_ids"][0])
    assert (body["operation"], body["trade_mode"], body["trade_param"], body["strategy_name"]) == ("buy", "order_num", 300, "外部")

    status, headers, body = started.post_waiting(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 9.5, "shares": 100}, wait=0)
    assert status == 202 and body["job_id"] and "Preference-Applied" not in headers  # wait=0: fire and forget


def test_identical_queries_are_never_replays_and_a_replayed_order_says_what_to_do(started):
    body = {"trader_index": 0, "cancelable_only": False}
    headers = signed_headers("POST", f"{API}/orders", body)  # one signature, five sends in the same second

    def send(_):
        import json
        import urllib.request

        request = urllib.request.Request(
            started.base_url + f"{API}/orders", data=json.dumps(body).encode(), method="POST", headers={**headers, "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status

    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(send, range(5))) == [200] * 5

    order = {"trader_index": 0, "symbol": "600000", "price": 9.5, "shares": 100}
    first = started.request("POST", f"{API}/buy", order)
    again = started.request("POST", f"{API}/buy", order)  # same second, same body: the same signature
    assert first.status == 202
    assert again.status == 401 and "replayed" in again.body["error"]
    # its own words: when it was first received, that it is no authentication failure, and how to place it again
    assert re.search(r"already received at \d\d:\d\d:\d\d \(Shanghai time\)", again.body["error"]), again.body
    assert "not an authentication failure" in again.body["error"] and "new client_order_id" in again.body["error"]
    assert all(word in again.body["error"] for word in ("strategy_name", "client_order_id"))


def test_positions_keep_the_old_percent_and_a_day_roll_lets_todays_buy_be_sold(started, role_env):
    bought = started.post_waiting(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 1000}, wait=5)[2]
    assert bought["results"][0]["result"]["status"] in ACCEPTED
    assert_fills(started, bought["job_ids"][0])
    [held] = started.get(f"{API}/positions/0").body["positions"]
    cost = held["volume"] * held["avg_price"]
    assert held["profit"] != 0 and held["profit_ratio"] == pytest.approx(held["profit"] / cost * 100, abs=1e-4)  # percent, as the old server

    refused = started.post_waiting(f"{API}/sell", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 1000}, wait=5)[2]
    assert refused["results"][0]["status"] == "failed"  # T+1: bought today

    rolled = subprocess.run([sys.executable, str(ROOT / "run.py"), "next-day"], env=role_env, capture_output=True, text=True, timeout=60)
    assert rolled.returncode == 0, rolled.stderr
    assert "the simulator is now on" in rolled.stdout

    sold = started.post_waiting(
        f"{API}/sell", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 1000, "strategy_name": "next day"}, wait=5
    )[2]
    assert sold["results"][0]["status"] == "success" and sold["results"][0]["result"]["status"] in ACCEPTED
    assert_fills(started, sold["job_ids"][0])
    assert all(p["volume"] == 0 for p in started.get(f"{API}/positions/0").body["positions"])


def test_the_next_day_route_is_for_admins_only(started):
    refused = started.post(f"{API}/sim/next_day", {"days": 1})  # the old server's client may trade, cancel and query only
    assert refused.status == 403 and "admin" in refused.body["error"]
