"""A started, connected simulator on a fixed Tuesday, with a callback recorder."""

from __future__ import annotations

import threading

import pytest

from worker.sim import SimTrader, XtQuantTraderCallback
from worker.xtquant_sdk import xttype

TUESDAY = "2026-11-24"


class Recorder(XtQuantTraderCallback):
    """Every push, with the thread it arrived on; `wait_for` blocks until a matching push came."""

    def __init__(self):
        self.pushes: list[tuple[str, object, str]] = []
        self._changed = threading.Condition()

    def _push(self, name, item=None):
        with self._changed:
            self.pushes.append((name, item, threading.current_thread().name))
            self._changed.notify_all()

    def on_stock_order(self, order):
        self._push("order", order)

    def on_stock_trade(self, trade):
        self._push("trade", trade)

    def on_stock_position(self, position):
        self._push("position", position)

    def on_stock_asset(self, asset):
        self._push("asset", asset)

    def on_order_error(self, error):
        self._push("order_error", error)

    def on_cancel_error(self, error):
        self._push("cancel_error", error)

    def on_order_stock_async_response(self, response):
        self._push("order_response", response)

    def on_cancel_order_stock_async_response(self, response):
        self._push("cancel_response", response)

    def on_disconnected(self):
        self._push("disconnected")

    def wait_for(self, name, predicate=lambda item: True, timeout=2.0):
        with self._changed:
            found = self._changed.wait_for(lambda: [i for n, i, _ in self.pushes if n == name and predicate(i)], timeout)
            assert found, f"no {name} push; got {[n for n, _, _ in self.pushes]}"
            return found[-1]

    def orders(self, order_id):
        return [i for n, i, _ in self.pushes if n == "order" and i.order_id == order_id]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def make_trader(tmp_path, recorder):
    started = []

    def make(**config):
        trader = SimTrader(str(tmp_path / "userdata"), 1, recorder, auto_roll=False, start_day=TUESDAY, **config)
        trader.start()
        assert trader.connect() == 0
        started.append(trader)
        return trader

    yield make
    for trader in started:
        trader.stop()


@pytest.fixture
def trader(make_trader):
    return make_trader()


@pytest.fixture
def account(trader):
    account = xttype.StockAccount("8880001")
    assert trader.subscribe(account) == 0
    return account
