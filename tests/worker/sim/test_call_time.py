"""The simulator costs what a terminal costs: SIM_CALL_MS per broker call, SIM_CALL_CONCURRENCY calls at once,
pushes batched every SIM_PUSH_MS. Durations are asserted only where the time is the promise, as lower bounds."""

from __future__ import annotations

import random
import statistics
import threading
import time

import pytest

from common.config import clock
from common.config.settings import load_settings
from common.rules.call_time import CallTime
from common.rules.exceptions import ConfigError
from tests.support import wait_until
from worker.xtquant_sdk import xtconstant as xc
from worker.xtquant_sdk import xttype

CODE = "600000.SH"


def _account(trader):
    account = xttype.StockAccount("8880001")
    assert trader.subscribe(account) == 0
    return account


def _buy(trader, account, price=10.0):
    return trader.order_stock(account, CODE, xc.STOCK_BUY, 100, xc.FIX_PRICE, price, "s", "r")


def test_a_fixed_call_time_makes_one_order_take_at_least_that_long(make_trader):
    trader = make_trader(call_ms="50")
    account = _account(trader)
    trader.set_price(CODE, 10.0)
    started = time.monotonic()
    assert _buy(trader, account) > 0
    assert time.monotonic() - started >= 0.050


@pytest.mark.parametrize("concurrency", [1, 3])
def test_calls_beyond_the_concurrency_wait_their_turn(make_trader, monkeypatch, concurrency):
    """Counted by the simulator's own waits, not by a stopwatch: never more than SIM_CALL_CONCURRENCY calls spend their
    time at once, and that many do (each call waits until the room is full, so calls that never overlapped would hang)."""
    trader = make_trader(call_ms="50", call_concurrency=concurrency)
    account = _account(trader)
    trader.set_price(CODE, 10.0)
    inside = threading.Condition()
    now_in: list[int] = [0]
    most: list[int] = []

    def counted(seconds):
        with inside:
            now_in[0] += 1
            most.append(now_in[0])
            inside.notify_all()
            inside.wait_for(lambda: now_in[0] >= concurrency or most.count(concurrency) > 0, 5)
        try:
            time.sleep(seconds)
        finally:
            with inside:
                now_in[0] -= 1

    monkeypatch.setattr(clock, "sleep", counted)
    ids: list[int] = []
    threads = [threading.Thread(target=lambda: ids.append(_buy(trader, account, 9.0))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(ids)) == 6 and all(i > 0 for i in ids)
    assert len(most) == 6 and max(most) == concurrency


def test_the_drawn_quantiles_match_the_asked_ones():
    call_time = CallTime.parse("p50=40,p99=120")
    rng = random.Random(7)
    draws = sorted(call_time.draw(rng) for _ in range(2000))
    p50, p99 = statistics.median(draws), draws[int(0.99 * len(draws))]
    assert abs(p50 - 40) <= 0.15 * 40
    assert abs(p99 - 120) <= 0.15 * 120
    assert CallTime.parse("50").draw(rng) == 50.0 and CallTime.parse("0").free


def test_one_terminal_draws_the_same_call_times_each_run(make_trader, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(clock, "sleep", waits.append)
    trader = make_trader(call_ms="p50=40,p99=120")
    account = _account(trader)
    for _ in range(5):
        trader.query_stock_asset(account)
    first = list(waits)
    trader.stop()
    waits.clear()
    again = make_trader(call_ms="p50=40,p99=120")  # the same folder: the same terminal
    for _ in range(5):
        again.query_stock_asset(account)
    assert waits == first and len(set(first)) == 5


def test_an_async_order_returns_its_seq_at_once_and_answers_after_the_call_time(make_trader, recorder, monkeypatch):
    """The seq comes back while the terminal is still spending the call's time (held here until released), and the
    answer only after it: shown by the simulator's own wait, not by a stopwatch."""
    release, spending = threading.Event(), threading.Event()

    def held(seconds):
        spending.set()
        assert release.wait(5)

    trader = make_trader(call_ms="100")
    account = _account(trader)
    trader.set_price(CODE, 10.0)
    monkeypatch.setattr(clock, "sleep", held)
    seq = trader.order_stock_async(account, CODE, xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0, "s", "r")
    assert seq > 0 and spending.wait(5)
    assert not [name for name, _, _ in recorder.pushes if name == "order_response"]  # not answered while the call runs
    release.set()
    response = recorder.wait_for("order_response")
    assert response.seq == seq and response.order_id > 0
    release.clear()
    spending.clear()
    cancel_seq = trader.cancel_order_stock_async(account, response.order_id)
    assert spending.wait(5)
    assert not [name for name, _, _ in recorder.pushes if name == "cancel_response"]
    release.set()
    cancelled = recorder.wait_for("cancel_response")
    assert (cancelled.seq, cancelled.cancel_result) == (cancel_seq, 0)


def test_async_calls_are_served_in_the_order_they_were_made(make_trader, recorder):
    trader = make_trader(call_ms="10", call_concurrency=1)
    account = _account(trader)
    trader.set_price(CODE, 10.0)
    seqs = [trader.order_stock_async(account, CODE, xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0 + n / 100) for n in range(8)]
    recorder.wait_for("order_response", lambda r: r.seq == seqs[-1])
    responses = [item for name, item, _ in recorder.pushes if name == "order_response"]
    assert [r.seq for r in responses] == seqs
    assert [r.order_id for r in responses] == sorted(r.order_id for r in responses)


def test_every_socket_call_spends_the_call_time_and_zero_spends_none(make_trader, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(clock, "sleep", waits.append)

    def every_call(trader):
        account = _account(trader)
        trader.set_price(CODE, 10.0)
        order_id = _buy(trader, account, 9.0)
        trader.cancel_order_stock(account, order_id)
        trader.order_stock_async(account, CODE, xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0)
        trader.cancel_order_stock_async(account, order_id)
        trader.query_stock_asset(account)
        trader.query_stock_order(account, order_id)
        trader.query_stock_orders(account)
        trader.query_stock_trades(account)
        trader.query_stock_positions(account)
        return 9

    trader = make_trader()  # SIM_CALL_MS=0, the default
    every_call(trader)
    assert waits == []  # not even a zero sleep
    trader.stop()
    timed = make_trader(call_ms="50")
    calls = every_call(timed)
    wait_until(lambda: len(waits) == calls, 5)
    assert waits == [0.05] * calls


def test_the_call_time_holds_no_state_lock(make_trader, monkeypatch, recorder):
    release = threading.Event()
    sleeping = threading.Event()

    def stuck(seconds):
        sleeping.set()
        release.wait(5)

    trader = make_trader(call_ms="50")
    account = _account(trader)
    trader.set_price(CODE, 10.0)
    monkeypatch.setattr(clock, "sleep", stuck)
    caller = threading.Thread(target=lambda: _buy(trader, account, 10.5))
    caller.start()
    assert sleeping.wait(5)
    assert trader.get_full_tick([CODE])[CODE]["lastPrice"] == 10.0  # the books are free while the terminal works
    trader.set_price(CODE, 10.5)  # and the callback thread goes on (nothing was pushed yet to hold it)
    release.set()
    caller.join(5)
    recorder.wait_for("trade")


def test_pushes_batched_every_push_ms_arrive_in_order(make_trader, recorder):
    trader = make_trader(push_ms=100)
    account = _account(trader)
    trader.set_price(CODE, 10.0)
    started = time.monotonic()
    ids = [_buy(trader, account, 9.0) for _ in range(5)]
    first = recorder.wait_for("order", lambda o: o.order_id == ids[0])
    assert time.monotonic() - started >= 0.100  # the first batch waited its push time
    recorder.wait_for("order", lambda o: o.order_id == ids[-1])
    pushed = [item.order_id for name, item, _ in recorder.pushes if name == "order"]
    assert first.order_id == ids[0] and pushed == ids


def test_a_bad_call_time_is_one_line_naming_the_key():
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, SIM_CALL_MS="fast")
    assert "SIM_CALL_MS" in str(error.value) and "p50=40,p99=120" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError):
        load_settings(_env_file=None, SIM_CALL_MS="p50=120,p99=40")
    assert load_settings(_env_file=None, SIM_CALL_MS="p50=40, p99=120").SIM_CALL_MS == "p50=40,p99=120"
    assert load_settings(_env_file=None).SIM_CALL_MS == "0"
