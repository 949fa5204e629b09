"""Orders and risk against hostile or careless input: per-terminal simulator books, cancel-alls counted per
cancel sent, and the fat-finger guard on limit prices. The real worker loop runs the jobs (tests/worker)."""

from __future__ import annotations

import json
import logging

import pytest

from common.config import clock
from common.desk.callers import Caller
from common.desk.submission import Desk
from common.rules import risk
from common.store import jobqueue, risk_state
from common.store.payloads import CancelPayload, QueryPayload
from tests.support import make_settings, sim_prices_file
from tests.support import order_payload as order
from tests.worker.test_jobs_any_broker import FakeBackend, SimBackend
from worker import jobs
from worker.sim import SimTrader
from worker.xtquant_sdk import xttype

ADMIN = Caller("admin-test", ("trade", "cancel", "query", "admin"))


def _settings(tmp_path, **change):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path), BROKER_CALL_TIMEOUT=0.5, **change)


def _result(backend, job_id: str) -> dict:
    return jobqueue.view(backend.redis, job_id).result


def _orders(backend, index: int) -> list[dict]:
    [job_id] = backend.run(QueryPayload(what="orders", account_index=index))
    return _result(backend, job_id)


# -- 13: one simulator state per terminal (qmt_path) ----------------------------------------------
TWO_TERMINALS = [  # two QMT installations (qmt_path) that one worker serves: grouped under one terminal name
    {"account_id": "SIM000001", "qmt_path": "D:/qmt-a/userdata_mini", "nick_name": "a", "terminal": "one-machine"},
    {"account_id": "SIM000002", "qmt_path": "D:\\qmt-b\\userdata_mini", "nick_name": "b", "terminal": "one-machine"},
]


def test_two_terminals_keep_their_own_books_across_a_worker_restart(tmp_path, fake_redis, monkeypatch):
    backend = SimBackend(_settings(tmp_path, TRADER_CONFIGS=TWO_TERMINALS), fake_redis, monkeypatch)
    first, second = backend.run(order(account_index=0, account_id="SIM000001"), order(account_index=1, account_id="SIM000002"))
    assert _result(backend, first)["outcome"] == _result(backend, second)["outcome"] == "submitted"
    # each run of the loop opens the brokers afresh: a worker restart reading the books back from disk
    seen = {index: _orders(backend, index) for index in (0, 1)}
    assert [o["order_remark"] for o in seen[0]] == [first], seen
    assert [o["order_remark"] for o in seen[1]] == [second], seen
    folders = sorted(p for p in (tmp_path / "sim").iterdir() if p.is_dir())
    assert len(folders) == 2, folders  # each terminal's own state, as each QMT keeps its own userdata_mini (ids are per terminal)
    assert [sorted(json.loads((f / "sim_state.json").read_text())["accounts"]) for f in folders] in (
        [["SIM000001"], ["SIM000002"]],
        [["SIM000002"], ["SIM000001"]],
    )


def test_the_default_terminal_keeps_todays_state_file(tmp_path, fake_redis, monkeypatch):
    """qmt_path "" (the default) keeps SIM_DATA_DIR/sim_state.json, so existing simulator state carries over."""
    backend = SimBackend(_settings(tmp_path), fake_redis, monkeypatch)
    backend.run(order())
    assert (tmp_path / "sim" / "sim_state.json").exists()


def test_two_processes_on_one_terminal_never_overwrite_each_other(tmp_path):
    """A standby worker of the same terminal (another process: its own memory) takes over without losing orders."""
    path = str(tmp_path / "sim")
    account = xttype.StockAccount("SIM000001")
    traders = [SimTrader(path, session, prices_file=sim_prices_file(tmp_path)) for session in (1, 2)]  # both load the empty book
    try:
        for trader in traders:
            trader.start()
            assert trader.connect() == 0
            trader.subscribe(account)
        ids = [trader.order_stock(account, "600000.SH", 23, 100, 11, 9.5, "", f"tag{n}") for n, trader in enumerate(traders)]
        assert ids[0] != ids[1], "order ids repeat"
        for trader in traders:
            assert sorted(o.order_remark for o in trader.query_stock_orders(account)) == ["tag0", "tag1"]
    finally:
        for trader in traders:
            trader.stop()
    reread = SimTrader(path, 3, prices_file=sim_prices_file(tmp_path))
    assert sorted(o.order_remark for o in reread.query_stock_orders(account)) == ["tag0", "tag1"]


# -- 14: a cancel-all counts each cancel it sends ---------------------------------------------------
def _resting_buys(backend, count: int) -> list[int]:
    ids = backend.run(*[order(price=9.5, strategy_name=f"rest{n}") for n in range(count)])  # below the price of 10: they rest
    return [_result(backend, job_id)["order_id"] for job_id in ids]


@pytest.fixture(params=["sim", "fake"])
def backend(request, tmp_path, fake_redis, monkeypatch):
    return (SimBackend if request.param == "sim" else FakeBackend)(_settings(tmp_path), fake_redis, monkeypatch)


def test_a_cancel_all_counts_each_cancel_and_stops_at_the_cap(backend):
    resting = _resting_buys(backend, 5)
    risk_state.save(backend.redis, risk.RiskLimits(max_actions_per_day=3, max_actions_per_second=0))
    [job_id] = backend.run(CancelPayload(account_index=0, account_id="SIM000001", side="buy"))
    done = _result(backend, job_id)
    assert len(done["cancelled"]) == 3 and len(done["refused"]) == 2, done
    assert all("daily cap" in r["error"] for r in done["refused"]), done
    assert {r["order_id"] for r in done["refused"]} | set(done["cancelled"]) == set(resting)
    assert done["accepted"] is False and "daily cap" in done["error"]
    assert risk_state.actions_today(backend.redis, 0) == 3
    still_open = [o for o in _orders(backend, 0) if o["order_status"] == 50]
    assert len(still_open) == 2, "a refused cancel reached the broker"


def test_the_per_second_cap_stops_a_cancel_all_too(backend, monkeypatch):
    _resting_buys(backend, 4)
    risk_state.save(backend.redis, risk.RiskLimits(max_actions_per_second=2, max_actions_per_day=0))
    now = clock.time()
    monkeypatch.setattr(clock, "time", lambda: now)  # the router's clock stands still: every cancel counts in one second
    [job_id] = backend.run(CancelPayload(account_index=0, account_id="SIM000001", side="buy"))
    done = _result(backend, job_id)
    assert len(done["cancelled"]) == 2, done
    assert done["refused"] and all("in one second" in r["error"] for r in done["refused"]), done


def test_the_kill_switch_cancels_everything_past_the_caps(backend):
    resting = _resting_buys(backend, 5)
    risk_state.save(backend.redis, risk.RiskLimits(max_actions_per_day=3, max_actions_per_second=1))
    _, queued = Desk(backend.settings, backend.redis).kill_switch(ADMIN, True, cancel_open=True)
    payloads = [jobqueue.queue(backend.redis, "cancel").fetch_job(job_id).kwargs["payload"] for job_id in queued.job_ids]
    assert payloads and all(p["kill_switch"] is True for p in payloads), payloads
    backend.run()
    cancelled = [o for job_id in queued.job_ids for o in _result(backend, job_id)["cancelled"]]
    assert sorted(cancelled) == sorted(resting)
    assert all(_result(backend, job_id)["refused"] == [] for job_id in queued.job_ids)


def test_cancel_payloads_queued_before_the_change_stay_valid():
    old = {"kind": "cancel", "account_index": 0, "account_id": "SIM000001", "side": "buy", "meta": {"client_id": "c"}}
    assert CancelPayload.model_validate(old).kill_switch is False


# -- 15: the fat-finger guard -----------------------------------------------------------------------
def test_a_limit_price_far_from_the_quote_is_never_sent(backend):
    far_buy, far_sell, near = backend.run(order(price=10.6), order(order_type=24, price=9.4, volume=100), order(price=10.4))
    for job_id in (far_buy, far_sell):
        done = _result(backend, job_id)
        assert done["outcome"] == "not_submitted" and "MAX_PRICE_DEVIATION_PCT" in done["error"], done
    assert _result(backend, near)["outcome"] == "submitted"
    assert [o["order_remark"] for o in _orders(backend, 0)] == [near], "a far-off price reached the broker"


def test_the_guard_can_be_switched_off(tmp_path, fake_redis, monkeypatch):
    backend = SimBackend(_settings(tmp_path, MAX_PRICE_DEVIATION_PCT=0), fake_redis, monkeypatch)
    [job_id] = backend.run(order(price=10.6))
    assert _result(backend, job_id)["outcome"] == "submitted"


def test_reverse_repo_rates_are_exempt(backend):
    [job_id] = backend.run(order(symbol="131810.SZ", order_type=24, volume=10, price=3.0, strategy_name="repo"))  # quote 1.8%
    assert _result(backend, job_id)["outcome"] != "not_submitted", _result(backend, job_id)


def test_a_missing_quote_does_not_block_a_limit_order(tmp_path, fake_redis, monkeypatch, caplog):
    backend = FakeBackend(_settings(tmp_path), fake_redis, monkeypatch)
    monkeypatch.setattr(type(backend.fakes[0]), "quote", lambda self, symbol: None)
    with caplog.at_level(logging.WARNING, logger=jobs.log.name):
        [job_id] = backend.run(order(price=10.6))
    assert _result(backend, job_id)["outcome"] == "submitted"
    assert any("no quote" in record.getMessage() for record in caplog.records), caplog.text
