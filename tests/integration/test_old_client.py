"""A client written for the old server drives every route against real web and worker processes."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.integration.conftest import wait_ready
from tests.support import signed_headers, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
TERMINAL = {"finished", "failed", "expired"}


def finish(http, answer) -> list[dict]:
    """Every job of a 202 answer (one, or one per account), waited until it ends."""
    assert answer.status == 202, answer.body
    ids = answer.body.get("job_ids") or [answer.body["job_id"]]
    jobs = [http.get(f"{API}/jobs/{job_id}", query="wait=10").body for job_id in ids]
    assert all(job["status"] in TERMINAL for job in jobs), jobs
    return jobs


def test_every_route_with_the_old_protocol(roles, http):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)

    accounts = http.get(f"{API}/accounts")
    assert [a["account_id"] for a in accounts.body["accounts"]] == ["SIM000001", "SIM000002"]
    # a GET with an empty query string ("...?"), signed with an empty QUERY_STRING
    bare = urllib.request.Request(f"{http.base_url}{API}/positions/0?", headers=signed_headers("GET", f"{API}/positions/0"))
    with urllib.request.urlopen(bare, timeout=10) as answer:
        assert answer.status == 200 and json.loads(answer.read())["positions"] == []

    [bought] = finish(
        http,
        http.post(
            f"{API}/trade", {"trader_index": 0, "symbol": "600000", "volume": 1000, "price": 10.0, "order_type": 23, "strategy_name": "双均线"}
        ),
    )
    assert bought["status"] == "finished" and bought["result"]["status"] in ("reported", "filled")  # the job ends at the first status

    def filled() -> dict:
        return http.get(f"{API}/jobs/{bought['job_id']}").body["result"]

    assert wait_until(lambda: filled()["status"] == "filled", 10, 0.05)  # the fill follows a moment later
    assert filled()["traded_volume"] == 1000
    pct = finish(
        http, http.post(f"{API}/trade", {"symbol": "510300.SH", "trade_price": 4.0, "position_pct": 0.01, "pricetype": 0, "strategy_name": "轮动"})
    )
    assert [j["result"]["volume"] for j in pct] == [2_400, 2_400]  # 1% of ~1,000,000 = 10,000 yuan at 4.000 less fees: 2,400 shares

    assert (
        finish(
            http,
            http.post(f"{API}/buy", {"trader_index": 1, "symbol": "sz000001", "price": 11.0, "shares": 200, "price_type": 0, "strategy_name": "s"}),
        )[0]["status"]
        == "finished"
    )
    [sold] = finish(
        http, http.post(f"{API}/sell", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100, "price_type": 0, "strategy_name": "s"})
    )
    assert sold["status"] == "failed" and "可用股份不足" in sold["error"]  # bought today: T+1

    [outer] = finish(
        http,
        http.post(
            f"{API}/outer/trade/buy",
            {"trader_index": 1, "symbol": "688981", "trade_price": 50.0, "price_type": 0, "position_pct": 0.02, "strategy_name": "外部"},
        ),
    )
    assert outer["result"]["volume"] == 399  # 2% of ~1,000,000 at 50.00 less fees: STAR steps of 1
    finish(
        http, http.post(f"{API}/outer/trade/sell", {"trader_index": 1, "symbol": "688981", "trade_price": 50.0, "price_type": 0, "order_num": 200})
    )
    [allin] = finish(http, http.post(f"{API}/trade/allin", {"trader_index": 1, "symbol": "000001", "cur_price": 11.0}))
    assert allin["status"] == "finished" and allin["result"]["volume"] > 80_000
    nhg = finish(http, http.post(f"{API}/trade/nhg", {"trader_index": 0, "reserve_amount": 10_000}))
    assert nhg[0]["result"]["symbol"] == "131810.SZ" and nhg[0]["result"]["price"] == 1.8  # the better rate: 1.80 over 1.75

    portfolio = http.get(f"{API}/portfolio/0").body["portfolio"]
    assert portfolio["total_asset"] == pytest.approx(1_000_000, rel=0.001) and portfolio["cash"] < 12_000
    positions = {p["symbol"]: p for p in http.get(f"{API}/positions/0").body["positions"]}
    assert positions["600000.SH"]["volume"] == 1000 and positions["600000.SH"]["can_use_volume"] == 0

    order_id = bought["result"]["order_id"]
    one = http.post(f"{API}/order", {"trader_index": 0, "order_id": order_id})
    assert one.body["order"]["strategy_name"] == "双均线" and one.body["order"]["status"] == "filled"
    resting = finish(http, http.post(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 9.5, "shares": 100}))[0]
    open_orders = http.post(f"{API}/orders", {"trader_index": 0, "cancelable_only": True}).body["orders"]
    assert [o["order_id"] for o in open_orders] == [resting["result"]["order_id"]]

    [cancelled] = finish(http, http.post(f"{API}/cancel_order", {"trader_index": 0, "order_id": resting["result"]["order_id"]}))
    assert cancelled["status"] == "finished" and cancelled["result"]["cancelled"] == [resting["result"]["order_id"]]
    assert all(j["status"] == "finished" for j in finish(http, http.post(f"{API}/cancel_orders/buy", {})))
    assert finish(http, http.post(f"{API}/cancel_orders/sale", {"trader_index": 1}))[0]["status"] == "finished"
    assert http.get(f"{API}/jobs/{bought['job_id']}").body["order"]["status"] == "filled"
