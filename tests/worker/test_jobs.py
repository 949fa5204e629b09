"""Order, cancel and query jobs run by the real worker loop (burst) against the simulator, on fakeredis."""

from __future__ import annotations

import json
import time

import pytest

from common.store import jobqueue, keys
from common.store.payloads import CancelPayload, QueryPayload
from tests.support import make_settings, sim_prices_file
from tests.support import order_payload as order
from worker import broker as broker_module
from worker.runner import serve


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path), BROKER_CALL_TIMEOUT=0.5)


def run_jobs(settings, connection, *payloads) -> list[str]:
    ids = [jobqueue.enqueue(connection, payload, settings.JOB_TTL) for payload in payloads]
    serve(settings, connection, burst=True)
    return ids


def test_an_order_job_places_one_tagged_order_and_reports_it(settings, fake_redis):
    [job_id] = run_jobs(settings, fake_redis, order())
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished" and view.kind == "order"
    result = view.result
    assert result["outcome"] == "submitted" and result["order_id"] > 0
    assert result["status"] in ("reported", "filled", "part_filled")
    state = json.loads(fake_redis.get(keys.order_state(job_id)))
    assert state["order_id"] == result["order_id"] and state["order_remark"] == job_id
    [listed] = [o for o in _orders(settings, fake_redis) if o["order_remark"] == job_id]
    assert listed["volume"] == 100 and listed["symbol"] == "600000.SH"


def test_an_order_past_its_deadline_is_never_sent(settings, fake_redis):
    [job_id] = run_jobs(settings, fake_redis, order(deadline=time.time() - 1))
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "expired" and view.result["outcome"] == "expired"
    assert "never sent" in view.result["error"]
    assert _orders(settings, fake_redis) == []


def test_an_order_for_an_account_that_changed_index_is_not_sent(settings, fake_redis):
    [job_id] = run_jobs(settings, fake_redis, order(account_id="SOMEONE-ELSE"))
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and view.result["outcome"] == "not_submitted"
    assert "SIM000001" in view.error
    assert _orders(settings, fake_redis) == []


def test_a_broker_refusal_is_a_failed_job_with_the_reason(settings, fake_redis):
    from common.rules import risk
    from common.store import risk_state

    risk_state.save(fake_redis, risk.RiskLimits(max_order_notional=0))  # no cap: let the broker refuse it
    settings = settings.model_copy(update={"MAX_PRICE_DEVIATION_PCT": 0})  # nor the fat-finger guard (100 is far off the quote)
    [job_id] = run_jobs(settings, fake_redis, order(volume=1_000_000, price=100.0))  # 100,000,000 yuan: no cash for it
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and view.result["outcome"] == "rejected"
    assert view.error


def test_an_unanswered_order_call_is_settled_by_its_tag_never_resent(settings, fake_redis, monkeypatch):
    real_make_trader = broker_module.make_trader

    def slow_trader(*args, **kwargs):
        trader = real_make_trader(*args, **kwargs)

        def answering_late(place):
            def order_stock(*call_args):
                order_id = place(*call_args)
                time.sleep(1.0)  # the broker took it but answers after BROKER_CALL_TIMEOUT (0.5 s)
                return order_id

            return order_stock

        trader.order_stock = answering_late(trader.order_stock)
        trader.order_stock_async = answering_late(trader.order_stock_async)  # the pipelined send (BROKER_IN_FLIGHT > 1)
        return trader

    monkeypatch.setattr(broker_module, "make_trader", slow_trader)
    [job_id] = run_jobs(settings, fake_redis, order())
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished" and view.result["outcome"] == "submitted" and view.result["order_id"] > 0
    assert len([o for o in _orders(settings, fake_redis) if o["order_remark"] == job_id]) == 1


class _LosingAnswers:
    """The callback object between the simulator and the worker, losing every on_order_stock_async_response."""

    def __init__(self, callback):
        self._callback = callback

    def on_order_stock_async_response(self, response):
        pass

    def __getattr__(self, name):
        return getattr(self._callback, name)


def test_an_async_send_whose_answer_never_comes_but_whose_order_was_placed_is_found_by_its_tag(settings, fake_redis, monkeypatch):
    real_make_trader = broker_module.make_trader

    def losing(settings_, path, session_id, callback):
        return real_make_trader(settings_, path, session_id, _LosingAnswers(callback))

    monkeypatch.setattr(broker_module, "make_trader", losing)
    [job_id] = run_jobs(settings, fake_redis, order())
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished" and view.result["outcome"] == "submitted" and view.result["order_id"] > 0, view
    assert len([o for o in _orders(settings, fake_redis) if o["order_remark"] == job_id]) == 1


def test_an_async_send_never_answered_and_never_placed_is_unknown_never_not_sent(settings, fake_redis, monkeypatch):
    real_make_trader = broker_module.make_trader

    def swallowing(*args, **kwargs):
        trader = real_make_trader(*args, **kwargs)
        trader.order_stock_async = lambda *call_args: 41  # the terminal took the request and was never heard of again
        return trader

    monkeypatch.setattr(broker_module, "make_trader", swallowing)
    [job_id] = run_jobs(settings, fake_redis, order())
    view = jobqueue.view(fake_redis, job_id)
    assert view.result["outcome"] == "unknown" and f"order_remark {job_id}" in view.result["error"], view
    assert "never sent" not in view.result["error"]


def test_cancel_runs_before_order_before_query(settings, fake_redis):
    query_id, order_id, cancel_id = run_jobs(
        settings,
        fake_redis,
        QueryPayload(what="accounts"),
        order(),
        CancelPayload(account_index=0, account_id="SIM000001", order_id=999_999),
    )
    started = {job_id: jobqueue.view(fake_redis, job_id).started_at for job_id in (query_id, order_id, cancel_id)}
    assert started[cancel_id] < started[order_id] < started[query_id]
    cancel = jobqueue.view(fake_redis, cancel_id)
    assert cancel.status == "failed" and cancel.result["accepted"] is False  # no such order: the broker refused
    assert "refused to cancel order 999999" in cancel.error


def test_queries_read_the_simulator(settings, fake_redis):
    accounts_id, asset_id = run_jobs(settings, fake_redis, QueryPayload(what="accounts"), QueryPayload(what="asset", account_index=1))
    accounts = jobqueue.view(fake_redis, accounts_id).result
    assert [a["account_id"] for a in accounts] == ["SIM000001", "SIM000002"] and all(a["connected"] for a in accounts)
    asset = jobqueue.view(fake_redis, asset_id).result
    assert asset["account_id"] == "SIM000002" and asset["total_asset"] == pytest.approx(settings.SIM_STARTING_CASH)


def test_the_worker_records_its_heartbeat_and_broker_connection(settings, fake_redis):
    run_jobs(settings, fake_redis)
    assert fake_redis.hget(keys.WORKER_HEARTBEAT, "broker") == b"sim"
    assert fake_redis.hget(keys.broker_connection(1), "connected") == b"1"


def _orders(settings, connection) -> list[dict]:
    [job_id] = run_jobs(settings, connection, QueryPayload(what="orders", account_index=0))
    view = jobqueue.view(connection, job_id)
    assert view.status == "finished", view
    return view.result


def test_cancel_all_buys_cancels_only_open_buys(settings, fake_redis):
    resting, filled = run_jobs(settings, fake_redis, order(price=9.5), order(price=10.0))  # 600000.SH trades at 10.00
    [cancel_id] = run_jobs(settings, fake_redis, CancelPayload(account_index=0, account_id="SIM000001", side="buy"))
    cancel = jobqueue.view(fake_redis, cancel_id)
    resting_id = jobqueue.view(fake_redis, resting).result["order_id"]
    assert cancel.status == "finished" and cancel.result["cancelled"] == [resting_id]
    states = {o["order_id"]: o["status"] for o in _orders(settings, fake_redis)}
    assert states[resting_id] == "cancelled" and states[jobqueue.view(fake_redis, filled).result["order_id"]] == "filled"
    # the job shows the order's latest broker state, updated by the callback after the order job ended
    assert jobqueue.view(fake_redis, resting).order["status"] == "cancelled"


def test_the_kill_switch_halts_orders_already_queued(settings, fake_redis):
    from common.rules import risk
    from common.store import audit, risk_state

    job_id = jobqueue.enqueue(fake_redis, order(), settings.JOB_TTL)
    risk_state.save(fake_redis, risk.RiskLimits(kill_switch=True))
    serve(settings, fake_redis, burst=True)
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and "kill switch" in view.error and view.result["outcome"] == "not_submitted"
    risk_state.save(fake_redis, risk.RiskLimits())
    assert _orders(settings, fake_redis) == []
    [entry] = [e for e in audit.recent(fake_redis) if e["action"] == "order.outcome"]
    assert entry["job_ids"] == [job_id] and entry["outcome"] == "not_submitted"


def test_a_market_order_meets_the_notional_cap_at_the_quote(settings, fake_redis):
    from common.rules import risk
    from common.store import risk_state

    risk_state.save(fake_redis, risk.RiskLimits(max_order_notional=5_000))
    [job_id] = run_jobs(settings, fake_redis, order(volume=1_000, price=0, price_type=5, xt_price_type=44))  # 1,000 at the 10.00 quote
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and "exceeds the per-order cap of 5,000.00" in view.error
    assert _orders(settings, fake_redis) == []


def test_a_side_cancel_whose_later_send_fails_still_reports_the_cancels_it_sent(settings, fake_redis, monkeypatch):
    """Pipelined cancels (cancel_order_stock_async): when the terminal refuses to take one cancel of a side cancel, the
    cancels sent before it went out and are answered; the job says so, as a sync side cancel does, rather than report
    none cancelled while the broker cancelled them."""
    first, second = run_jobs(settings, fake_redis, order(price=9.6), order(price=9.7))  # both rest: 600000.SH trades at 10.00
    real_make_trader = broker_module.make_trader

    def refusing_the_second_cancel(*args, **kwargs):
        trader = real_make_trader(*args, **kwargs)
        send = trader.cancel_order_stock_async
        sent = []

        def cancel_order_stock_async(account, order_id):
            sent.append(order_id)
            return send(account, order_id) if len(sent) == 1 else -1  # the terminal took the first, not the second

        trader.cancel_order_stock_async = cancel_order_stock_async
        return trader

    monkeypatch.setattr(broker_module, "make_trader", refusing_the_second_cancel)
    [cancel_id] = run_jobs(settings, fake_redis, CancelPayload(account_index=0, account_id="SIM000001", side="buy"))
    monkeypatch.undo()
    result = jobqueue.view(fake_redis, cancel_id).result
    states = {o["order_id"]: o["status"] for o in _orders(settings, fake_redis)}
    cancelled_at_broker = [o for o, status in states.items() if status == "cancelled"]
    assert len(cancelled_at_broker) == 1, states
    assert result["cancelled"] == cancelled_at_broker, result
    assert result["accepted"] is False and "did not take the cancel" in result["error"], result
    assert {jobqueue.view(fake_redis, j).result["order_id"] for j in (first, second)} == set(states)


def test_a_side_cancel_taken_while_sends_are_in_flight_cancels_the_orders_sent_before_it(tmp_path, fake_redis):
    """A cancel of every open buy (the kill switch's too) reads the open orders, then cancels them. With one send at a
    time every order taken before the cancel was at the broker when it read them; with sends in flight up to
    BROKER_IN_FLIGHT orders sent before it may not be listed yet (a terminal working on several calls at once answers
    the query before the sends it was given earlier), and they stay open after the cancel-all."""
    from datetime import datetime

    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    from common.rules import risk
    from common.store import risk_state
    from tests.support import wait_until, while_worker_runs

    settings = make_settings(
        SIM_DATA_DIR=str(tmp_path / "sim"),
        SIM_PRICES_FILE=sim_prices_file(tmp_path),
        SIM_CALL_MS="p50=40,p99=200",
        SIM_CALL_CONCURRENCY=8,
        BROKER_IN_FLIGHT=32,
    )
    risk_state.save(fake_redis, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=0))
    order_ids = [jobqueue.enqueue(fake_redis, order(price=round(9.6 + n % 20 / 100, 2)), settings.JOB_TTL) for n in range(80)]
    in_flight = StartedJobRegistry(keys.ORDER_QUEUE, connection=fake_redis, serializer=JSONSerializer)

    def cancel_all_buys_while_orders_are_in_flight() -> str:
        assert wait_until(lambda: len(in_flight.get_job_ids(cleanup=False)) >= 8, 10, 0.002)
        return jobqueue.enqueue(fake_redis, CancelPayload(account_index=0, account_id="SIM000001", side="buy"), settings.JOB_TTL)

    cancel_id = while_worker_runs(cancel_all_buys_while_orders_are_in_flight, settings, fake_redis, expect_jobs=80)
    cancel = jobqueue.view(fake_redis, cancel_id)
    cancel_started = datetime.fromisoformat(cancel.started_at)
    views = [jobqueue.view(fake_redis, job_id) for job_id in order_ids]
    before = [v.result["order_id"] for v in views if v.result["outcome"] == "submitted" and datetime.fromisoformat(v.started_at) < cancel_started]
    states = {o["order_id"]: o["status"] for o in _orders(settings, fake_redis)}
    left_open = [order_id for order_id in before if states[order_id] != "cancelled"]
    assert before and not left_open, f"{len(left_open)} of {len(before)} orders sent before the cancel-all stayed open"
