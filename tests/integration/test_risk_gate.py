"""The one risk gate, through real HTTP, a real worker process and the real Redis (issue: one risk gate, one access table).

Each test is a way an order got past the limits, or did something other than what was asked, before the gate priced
orders at what they can cost: market orders at the day's upper limit (from the broker's instrument detail), at the
door with the last quote the router has and again in the worker with a fresh one; repo amounts at the door; the
routine's repo codes; limits changed atomically; a "sent" event only once the broker has the order.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest

from common.config import clock
from common.config.clock import SHANGHAI
from common.rules import risk
from common.store import jobqueue, quotes, risk_state
from common.store.payloads import QueryPayload
from tests.integration.conftest import wait_ready
from tests.support import SignedHttpClient, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
OFFICER = {"client_id": "risk-officer", "secret": "officer-secret-0123456789", "scopes": ["trade", "cancel", "query", "admin"]}
NARROW = {"client_id": "narrow", "secret": "narrow-secret-0123456789", "scopes": ["trade", "cancel", "query", "admin"], "accounts": [0]}
TUESDAY_AFTERNOON = datetime(2026, 12, 1, 14, 0, 0, tzinfo=SHANGHAI)  # a session, in continuous trading


def _client(http: SignedHttpClient, client: dict) -> SignedHttpClient:
    return SignedHttpClient(http.base_url, client_id=client["client_id"], secret=client["secret"])


def _start(roles, http, role_env, worker: bool = True, **env: str) -> None:
    role_env.update(
        API_CLIENTS=json.dumps([OFFICER, NARROW]),
        CLOCK_OFFSET_SECONDS=str(TUESDAY_AFTERNOON.timestamp() - time.time()),
        **env,
    )
    roles.start("api")
    if worker:
        roles.start("worker")
        wait_ready(http, roles)
    else:
        assert wait_until(lambda: _answers(http), 30), roles.log("api")


def _answers(http: SignedHttpClient) -> bool:
    try:
        return http.get(f"{API}/health").status in (200, 503)
    except OSError:
        return False


def _ended(real_redis, job_id: str, timeout: float = 20) -> dict:
    assert wait_until(lambda: jobqueue.view(real_redis, job_id).status in ("finished", "failed"), timeout), jobqueue.view(real_redis, job_id)
    return jobqueue.view(real_redis, job_id).result


def _orders(real_redis, account: int) -> list[dict]:
    return jobqueue.wait(real_redis, jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=account), 600), 10).result


def test_a_market_buy_is_priced_at_the_upper_limit_at_the_door_and_again_in_the_worker(roles, http, role_env, real_redis):
    """price 0.01 with a market price_type, 100,000 shares of a 10-yuan stock, cap 10,000 yuan: refused, never sent."""
    _start(roles, http, role_env)
    risk_state.save(real_redis, risk.RiskLimits(max_order_notional=10_000))
    token = {"trader_index": 0, "symbol": "600000.SH", "volume": 100_000, "price": 0.01, "order_type": 23, "price_type": 1}
    refused = http.post(f"{API}/trade", token)
    assert refused.status == 403, refused.body
    assert "1,100,000.00 yuan (100000 x 11.0 yuan, the day's upper limit)" in refused.body["error"]  # 600000.SH closed at 10.00
    assert real_redis.llen("rq:queue:order") == 0

    # the door priced it with the quote the worker read for it; a stale one that passes the door meets a fresh one in the worker
    quotes.remember(real_redis, quotes.Quote("600000.SH", 0.01, 0.01, up_limit=0.02, down_limit=0.01))
    passed = http.post(f"{API}/trade", {**token, "volume": 100})  # 100 x 0.02 at the door; 100 x 11.0 = 1,100 in the worker
    assert passed.status == 202, passed.body
    risk_state.save(real_redis, risk.RiskLimits(max_order_notional=1_000))
    result = _ended(real_redis, passed.body["job_id"])
    assert result["outcome"] == "not_submitted" and "1,100.00 yuan (100 x 11.0 yuan, the day's upper limit)" in result["error"], result
    assert _orders(real_redis, 0) == []

    limit = http.post(f"{API}/trade", {**token, "volume": 100, "price": 10.0, "price_type": 0})  # a limit order: at its limit
    assert limit.status == 202 and _ended(real_redis, limit.body["job_id"])["outcome"] == "submitted"


def test_a_market_order_with_no_quote_is_refused_with_the_reason(roles, http, role_env, real_redis):
    _start(roles, http, role_env, worker=False, QUERY_TIMEOUT="1")
    answer = http.post(f"{API}/trade", {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 0, "order_type": 23, "price_type": 1})
    assert answer.status == 503 and "no quote for 600000.SH to price a market order at its upper limit" in answer.body["error"], answer.body
    assert real_redis.llen("rq:queue:order") == 0


def test_a_percent_market_buy_is_sized_at_the_price_the_broker_freezes_cash_at(roles, http, role_env, real_redis):
    """All of the cash of a market buy at 10.00 would be frozen at the 11.00 upper limit: sized at 10.00 it is refused."""
    _start(roles, http, role_env, SIM_STARTING_CASH="100000")
    answer = http.post(
        f"{API}/outer/trade/buy", {"trader_index": 0, "symbol": "600000.SH", "trade_price": 10.0, "price_type": 1, "position_pct": 1.0}
    )
    assert answer.status == 202, answer.body
    result = _ended(real_redis, answer.body["job_id"])
    assert result["outcome"] == "submitted" and result["status"] == "filled", result
    assert result["volume"] == 9000  # 100,000 yuan / 11.00 (and fees), in lots; sized at 10.00 it was 9,900 and rejected for cash


def test_repo_amounts_are_checked_at_the_door(roles, http, role_env, real_redis):
    _start(roles, http, role_env, worker=False)
    odd = http.post(f"{API}/sell", {"trader_index": 0, "symbol": "204001.SH", "shares": 15, "price": 1.75})
    assert odd.status == 422 and "steps of 10" in odd.body["error"], odd.body
    small = http.post(f"{API}/sell", {"trader_index": 0, "symbol": "131810.SZ", "shares": 5, "price": 1.8})
    assert small.status == 422 and "below the minimum of 10" in small.body["error"], small.body
    assert real_redis.llen("rq:queue:order") == 0


def test_a_sweep_limited_to_one_repo_code_lends_at_that_code(roles, http, role_env, real_redis):
    """R-001 (131810.SZ) quotes 1.80, GC001 (204001.SH) 1.75: a routine limited to GC001 must still lend GC001."""
    routine = {"name": "gc001-only", "kind": "nhg", "time": "14:57", "accounts": [0], "reserve_amount": 0, "repo_codes": ["204001.SH"]}
    _start(roles, http, role_env, SIM_STARTING_CASH="50000", ROUTINES=json.dumps([routine]))
    answer = _client(http, OFFICER).post(f"{API}/routines/gc001-only/run", {})
    assert answer.status == 202, answer.body
    [job_id] = answer.body["job_ids"]
    result = _ended(real_redis, job_id)
    assert result["outcome"] == "submitted" and result["symbol"] == "204001.SH", result
    assert [o["symbol"] for o in _orders(real_redis, 0)] == ["204001.SH"]


def test_concurrent_kill_switch_and_limit_changes_lose_no_update(roles, http, role_env, real_redis):
    """100 pairs, each a kill-switch request and a cap change sent at once: the switch is always as its request set it."""
    _start(roles, http, role_env, worker=False)
    officer = _client(http, OFFICER)
    wrong = []

    def switch(pair: int, on: bool, answers: dict[str, int]) -> None:
        # the query string varies the signature, so no request of the pair is a replay of an earlier one
        answers["switch"] = officer.request("POST", f"{API}/risk/kill_switch", {"on": on}, query=f"n={pair}").status

    def cap(pair: int, answers: dict[str, int]) -> None:
        answers["cap"] = officer.request("PUT", f"{API}/risk", {"max_order_notional": 100_000 + pair}).status

    for pair in range(100):
        on = pair % 2 == 0
        answers: dict[str, int] = {}
        sent = [threading.Thread(target=switch, args=(pair, on, answers)), threading.Thread(target=cap, args=(pair, answers))]
        for thread in sent:
            thread.start()
        for thread in sent:
            thread.join(30)
        assert answers == {"switch": 200, "cap": 200}, answers
        stored = risk_state.load(real_redis)
        if stored.kill_switch != on or stored.max_order_notional != 100_000 + pair:
            wrong.append((pair, on, stored))
    assert wrong == []


def test_a_client_sees_and_counts_only_its_own_accounts(roles, http, role_env, real_redis):
    routines = [
        {"name": "mine", "kind": "nhg", "time": "14:57", "accounts": [0]},
        {"name": "both", "kind": "nhg", "time": "14:57", "accounts": "all"},
    ]
    _start(roles, http, role_env, ROUTINES=json.dumps(routines))
    narrow, officer = _client(http, NARROW), _client(http, OFFICER)
    for index in (0, 1):
        assert (
            officer.post(f"{API}/trade", {"trader_index": index, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23}).status == 202
        )
    with clock.travel_to(TUESDAY_AFTERNOON):  # the roles count on the day their clock (CLOCK_OFFSET_SECONDS) reads
        assert wait_until(lambda: risk_state.actions_today(real_redis, 1) == 1, 10)

    counts = narrow.get(f"{API}/risk").body["actions_today"]
    assert counts == {"0": 1}, counts
    assert [r["name"] for r in narrow.get(f"{API}/routines").body["routines"]] == ["mine"]
    assert sorted(r["name"] for r in officer.get(f"{API}/routines").body["routines"]) == ["both", "mine"]
    seen = narrow.get(f"{API}/events", query="last=200").body["events"]
    assert seen, "the narrow client sees its own account's events"
    assert all(e["account_id"] in ("", "SIM***001") for e in seen), [(e["kind"], e["account_id"]) for e in seen]
    assert any(e["kind"] == "account_status" for e in seen)
    every = officer.get(f"{API}/events", query="last=200").body["events"]
    assert {e["account_id"] for e in every if e["kind"] == "account_status"} == {"SIM***001", "SIM***002"}  # masked for everyone


def test_the_kill_switchs_cancels_touch_only_the_callers_accounts(roles, http, role_env, real_redis):
    _start(roles, http, role_env)
    officer, narrow = _client(http, OFFICER), _client(http, NARROW)
    resting = {"symbol": "600000.SH", "volume": 100, "price": 9.5, "order_type": 23}  # under the last price: it rests
    for index in (0, 1):
        job = officer.post(f"{API}/trade", {**resting, "trader_index": index}).body["job_id"]
        assert _ended(real_redis, job)["outcome"] == "submitted"
    thrown = narrow.post(f"{API}/risk/kill_switch", {"on": True, "cancel_open": True})
    assert thrown.status == 200, thrown.body
    for job_id in thrown.body["job_ids"]:
        _ended(real_redis, job_id)
    assert [o["status"] for o in _orders(real_redis, 0)] == ["cancelled"]
    assert [o["status"] for o in _orders(real_redis, 1)] == ["reported"], "account 1 is not the narrow client's"
    assert risk_state.load(real_redis).kill_switch  # throwing it stops everyone


def test_no_sent_event_for_an_order_whose_check_answer_was_lost(roles, http, role_env, real_redis):
    """The check before the send runs in Redis, its answer is lost: the order is never sent, and no event says it was."""
    prelude = (
        "import redis\n"
        "from worker import fence\n"
        "checked = fence.before_send\n"
        "def lost(*args):\n"
        "    checked(*args)\n"
        "    return 'unanswered', 'TimeoutError'\n"
        "fence.before_send = lost\n"
    )
    role_env.update(API_CLIENTS=json.dumps([OFFICER, NARROW]), CLOCK_OFFSET_SECONDS=str(TUESDAY_AFTERNOON.timestamp() - time.time()))
    roles.start("api")
    roles.start("worker", prelude=prelude)
    wait_ready(http, roles)
    answer = http.post(f"{API}/trade", {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23})
    assert answer.status == 202, answer.body
    job_id = answer.body["job_id"]
    result = _ended(real_redis, job_id)
    assert result["outcome"] == "not_submitted" and "Redis did not answer" in result["error"], result
    stages = [e.get("stage") for e in http.get(f"{API}/events", query="last=100").body["events"] if e.get("job_id") == job_id]
    assert stages == ["accepted", "not_submitted"], stages
    assert _orders(real_redis, 0) == []


def test_a_retry_after_the_kill_switch_hears_of_its_order_and_no_client_sees_another_accounts_job(roles, http, role_env, real_redis):
    """Found by the review of this change: a keyed retry of an accepted order answered 423 once the switch was thrown
    (the client would think it unsent), and an admin limited to account 0 could read account 1's jobs."""
    _start(roles, http, role_env)
    officer, narrow = _client(http, OFFICER), _client(http, NARROW)
    order = {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23, "client_order_id": "retry-me-1"}
    first = http.post(f"{API}/trade", order)
    assert first.status == 202 and _ended(real_redis, first.body["job_id"])["outcome"] == "submitted"
    assert officer.post(f"{API}/risk/kill_switch", {"on": True}).status == 200
    again = http.post(f"{API}/trade", order)
    assert again.status == 202 and again.body["job_id"] == first.body["job_id"], again.body
    assert http.post(f"{API}/trade", {**order, "client_order_id": "a-new-one"}).status == 423  # a new order is refused
    assert officer.post(f"{API}/risk/kill_switch", {"on": False}).status == 200

    theirs = officer.post(f"{API}/trade", {**order, "trader_index": 1, "client_order_id": "account-1"}).body["job_id"]
    assert narrow.get(f"{API}/jobs/{theirs}").status == 404  # an admin of account 0 only
    assert officer.get(f"{API}/jobs/{theirs}").status == 200
