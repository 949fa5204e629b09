"""BROKER=qmt: the worker's real adapter path against a recording stand-in for xtquant.xttrader."""

from __future__ import annotations

import sys
import threading
from datetime import datetime

import pytest

from common.config import clock
from common.rules import risk
from common.rules.exceptions import BrokerTimeout, BrokerUnavailable
from common.store import jobqueue, keys, risk_state
from common.store.payloads import JOB_TAG_MAX_BYTES, CancelPayload
from tests.support import make_settings, wait_until
from tests.support import order_payload as order
from tests.worker import fake_xttrader
from worker import broker as broker_module
from worker import runner
from worker.broker import Brokers, BrokerSession
from worker.prior_sends import PriorSends
from worker.runner import serve
from worker.xtquant_sdk import xtconstant


@pytest.fixture(autouse=True)
def fake_trader_module(monkeypatch):
    """The stand-in for xttrader, with short backoffs; the router's clock on a Tuesday, so the weekend's long
    backoff (OFF_DAY_BACKOFF) never stands in a reconnect test run on a Saturday in Shanghai."""
    fake_xttrader.reset()
    monkeypatch.setitem(sys.modules, "xtquant.xttrader", fake_xttrader)
    monkeypatch.setitem(sys.modules, "xtquant.xtdata", fake_xttrader.xtdata)
    monkeypatch.setattr(broker_module, "BACKOFF_SECONDS", (0.05, 0.05))
    with clock.travel_to(datetime(2026, 12, 1, 10, 0, tzinfo=clock.SHANGHAI)):
        yield fake_xttrader
    fake_xttrader.reset()


@pytest.fixture
def settings():
    return make_settings(
        BROKER="qmt",
        TRADER_CONFIGS=[
            {"account_id": "8881234567", "qmt_path": r"D:\qmt\userdata_mini", "session_id": 424242},
            {"account_id": "8889999999", "qmt_path": r"D:\qmt\userdata_mini"},
        ],
    )


SENDS = ("order_stock", "order_stock_async")


@pytest.mark.parametrize(("in_flight", "call"), [(32, "order_stock_async"), (1, "order_stock")])
def test_an_order_reaches_order_stock_with_exact_xtquant_arguments(settings, fake_redis, in_flight, call):
    """Pipelined (BROKER_IN_FLIGHT > 1) the order goes out by order_stock_async and its answer comes by
    on_order_stock_async_response; with 1 by order_stock. The same arguments, the same result."""
    settings = settings.model_copy(update={"BROKER_IN_FLIGHT": in_flight})
    job_id = jobqueue.enqueue(
        fake_redis, order(account_id="8881234567", symbol="000001.SZ", volume=300, price=11.23, strategy_name="动量"), settings.JOB_TTL
    )
    serve(settings, fake_redis, burst=True)

    [trader] = fake_xttrader.created  # one trader per qmt_path, both accounts on it
    assert (trader.path, trader.session) == (r"D:\qmt\userdata_mini", 424242)
    assert ("set_timeout", 10_000) in trader.calls
    assert [c for c in trader.calls if c[0] == "subscribe"] == [("subscribe", "8881234567"), ("subscribe", "8889999999")]
    [sent] = [c for c in trader.calls if c[0] in SENDS]
    assert sent == (call, "8881234567", xtconstant.SECURITY_ACCOUNT, "000001.SZ", 23, 300, 11, 11.23, "动量", job_id)
    assert len(job_id.encode("ascii")) <= JOB_TAG_MAX_BYTES == 24
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished" and view.result["order_id"] == 1001 and view.result["status"] == "reported"


def test_a_cancel_is_asked_by_cancel_order_stock_async_and_its_answer_heard(settings, fake_redis):
    cancels = [
        jobqueue.enqueue(fake_redis, CancelPayload(account_index=0, account_id="8881234567", order_id=order_id), settings.JOB_TTL)
        for order_id in (1001, 1002)
    ]
    serve(settings, fake_redis, burst=True)
    asked = [c for t in fake_xttrader.created for c in t.calls if c[0].startswith("cancel_order_stock")]
    assert asked == [("cancel_order_stock_async", "8881234567", 1001), ("cancel_order_stock_async", "8881234567", 1002)]
    for job_id, order_id in zip(cancels, (1001, 1002), strict=True):
        result = jobqueue.view(fake_redis, job_id).result
        assert result["accepted"] is True and result["cancelled"] == [order_id] and result["refused"] == []


def test_market_orders_send_price_zero_except_star_protective_price(settings, fake_redis):
    fake_xttrader.ticks.update({"600000.SH": {"lastPrice": 10.0, "lastClose": 9.9}, "688981.SH": {"lastPrice": 49.0, "lastClose": 48.0}})
    fake_xttrader.details.update(
        {"600000.SH": {"UpStopPrice": 10.89, "DownStopPrice": 8.91}, "688981.SH": {"UpStopPrice": 57.6, "DownStopPrice": 38.4}}
    )
    jobqueue.enqueue(fake_redis, order(account_id="8881234567", price_type=2, xt_price_type=42, price=10.0), settings.JOB_TTL)
    jobqueue.enqueue(
        fake_redis, order(account_id="8881234567", symbol="688981.SH", volume=200, price_type=2, xt_price_type=42, price=50.0), settings.JOB_TTL
    )
    serve(settings, fake_redis, burst=True)
    sent = [(c[3], c[6], c[7]) for c in fake_xttrader.created[0].calls if c[0] in SENDS]
    assert sent == [("600000.SH", 42, 0.0), ("688981.SH", 42, 50.0)]


def test_a_market_order_is_priced_at_the_terminals_upper_limit_and_never_sent_without_one(settings, fake_redis):
    """The real adapter reads the day's upper limit from xtdata.get_instrument_detail; the cap meets 100 x 10.89, not 100 x 10."""
    risk_state.save(fake_redis, risk.RiskLimits(max_order_notional=1_050))
    fake_xttrader.ticks.update({"600000.SH": {"lastPrice": 10.0, "lastClose": 9.9}, "000001.SZ": {"lastPrice": 11.0, "lastClose": 11.0}})
    fake_xttrader.details.update({"600000.SH": {"UpStopPrice": 10.89, "DownStopPrice": 8.91}})  # none for 000001.SZ
    over = jobqueue.enqueue(fake_redis, order(account_id="8881234567", price_type=2, xt_price_type=42, price=0.01), settings.JOB_TTL)
    unpriced = jobqueue.enqueue(
        fake_redis, order(account_id="8881234567", symbol="000001.SZ", price_type=2, xt_price_type=44, price=0.01), settings.JOB_TTL
    )
    serve(settings, fake_redis, burst=True)
    assert not [c for c in fake_xttrader.created[0].calls if c[0] in SENDS]
    refused = jobqueue.view(fake_redis, over).result
    assert refused["outcome"] == "not_submitted" and "1,089.00 yuan (100 x 10.89 yuan, the day's upper limit)" in refused["error"]
    assert "no upper price limit known for 000001.SZ" in jobqueue.view(fake_redis, unpriced).result["error"]


def _open_brokers(settings, fake_redis):
    recorder = type("Recorder", (), {"on_disconnected": lambda self: None, "on_stock_order": lambda self, o: None})()
    brokers = Brokers(settings, fake_redis, recorder)
    brokers.open()
    return brokers


def test_a_disconnect_reconnects_then_replaces_the_trader_with_a_new_session(settings, fake_redis):
    brokers = _open_brokers(settings, fake_redis)
    try:
        session, _ = brokers.session(0)
        first = fake_xttrader.created[0]
        fake_xttrader.connect_codes.extend([-1, -1])  # connect() on the old trader fails twice
        first.callback.on_disconnected()
        assert not session.connected
        assert fake_redis.hget(keys.broker_connection(0), "connected") == b"0"
        assert wait_until(lambda: session.connected, 5)
        assert len(fake_xttrader.created) == 2 and session.trader is fake_xttrader.created[1]
        assert session.trader.session != 424242
        assert ("stop",) in first.calls and [c[0] for c in first.calls].count("connect") == 3
        assert [c for c in session.trader.calls if c[0] == "subscribe"] == [("subscribe", "8881234567"), ("subscribe", "8889999999")]
        state = fake_redis.hgetall(keys.broker_connection(1))
        assert state[b"connected"] == b"1" and state[b"session_id"] == str(session.trader.session).encode()
    finally:
        brokers.close()


def test_a_worker_started_while_qmt_is_down_connects_when_it_comes_up(settings, fake_redis):
    fake_xttrader.connect_codes.extend([-1, -1, -1])
    brokers = _open_brokers(settings, fake_redis)
    try:
        session, _ = brokers.session(0)
        assert not session.connected
        assert wait_until(lambda: session.connected, 5)
    finally:
        brokers.close()


def test_an_order_while_disconnected_waits_then_expires_never_sent(settings, fake_redis, monkeypatch):
    fake_xttrader.connect_codes.extend([-1] * 1000)  # QMT stays down
    now = clock.time()
    # the router's clock stands still: however long the worker takes to start, the job starts before its deadline and
    # waits its 0.5 s for the broker (a real wait), rather than finding itself already late
    monkeypatch.setattr(clock, "time", lambda: now)
    # a job this worker saw queued (one queued before it started may have been sent by the worker before, which a broker
    # that stays down cannot rule out: that one is `unknown`, see tests/worker/test_recovery.py)
    monkeypatch.setattr(runner, "prior_sends", lambda *_: PriorSends(0.0, skew=0.0))
    job_id = jobqueue.enqueue(fake_redis, order(account_id="8881234567", deadline=now + 0.5), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "expired" and "disconnected" in view.result["error"]
    assert not [c for t in fake_xttrader.created for c in t.calls if c[0] in SENDS]


class _Hanging:
    def __init__(self):
        self.release = threading.Event()
        self.ran: list[str] = []

    def order_stock(self, tag):
        self.ran.append(tag)
        self.release.wait(5)
        return 1


def test_a_call_that_never_started_is_withdrawn_and_can_never_reach_the_broker():
    session = BrokerSession("", [], call_timeout=0.2)
    session.trader = _Hanging()
    session.mark_online()
    try:
        for tag in ("a", "b"):  # both call threads hang inside the broker
            with pytest.raises(BrokerTimeout):
                session.run(lambda trader, tag=tag: trader.order_stock(tag), "order_stock")
        with pytest.raises(BrokerUnavailable) as caught:
            session.run(lambda trader: trader.order_stock("c"), "order_stock")
        assert not isinstance(caught.value, BrokerTimeout) and "not sent" in caught.value.message
        session.trader.release.set()
        session.run(lambda trader: trader.order_stock("d"), "order_stock")  # queued behind "c", had "c" still been waiting
        assert session.trader.ran == ["a", "b", "d"]  # "c" was withdrawn, never sent late
    finally:
        session.trader.release.set()
        session.close()


def test_a_market_order_on_a_symbol_without_a_quote_fails_clearly_and_is_never_sent(settings, fake_redis):
    job_id = jobqueue.enqueue(fake_redis, order(account_id="8881234567", price_type=5, xt_price_type=44, price=0), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and "no quote for 600000.SH" in view.error
    assert not [c for c in fake_xttrader.created[0].calls if c[0] in SENDS]


def test_reconnect_backoff_grows_and_slows_down_on_weekends(monkeypatch):
    monkeypatch.setattr(broker_module, "BACKOFF_SECONDS", (1, 2, 4, 8, 16, 30))  # the real schedule, not the fixture's

    from worker.broker import reconnect_delay

    tuesday, saturday = datetime(2026, 11, 24, 10), datetime(2026, 11, 28, 10)
    assert [reconnect_delay(n, tuesday) for n in (1, 2, 3, 6, 50)] == [1, 2, 4, 30, 30]
    assert [reconnect_delay(n, saturday) for n in (1, 5, 6, 50)] == [1, 16, 300, 300]
