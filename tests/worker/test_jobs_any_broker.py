"""Order, cancel and query jobs against any worker.broker_api.Broker: the simulator through XtBroker, and a protocol-only fake.

Each test runs twice through RQ (burst), with the same payloads and the same expectations: the job
code may rely on nothing but the protocol.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from rq.serializers import JSONSerializer

from common.config import clock
from common.config.settings import Settings
from common.rules import risk
from common.rules.orders import REPO_CODES
from common.rules.sizing import Fees, allin_volume, pct_buy_volume, repo_volume
from common.rules.symbols import instrument
from common.store import calendar_store, jobqueue, keys, risk_state
from common.store.payloads import CancelPayload, QueryPayload
from tests.support import SIM_PRICES, make_settings, sim_prices_file
from tests.support import order_payload as order
from tests.worker.fake_broker import FakeAccounts, FakeBroker
from worker import broker as broker_module
from worker import runtime, sends
from worker.broker_api import BrokerAccounts
from worker.callbacks import OrderEventRecorder
from worker.runner import RouterWorker, serve
from worker.sim import SimTrader
from worker.xtquant_sdk import xttype

ORDER_KEYS = {
    "order_id",
    "account_id",
    "symbol",
    "name",
    "side",
    "order_type",
    "volume",
    "price",
    "price_type",
    "order_status",
    "status",
    "status_msg",
    "traded_volume",
    "traded_price",
    "strategy_name",
    "order_remark",
    "order_time",
    "updated_at",
}
TRADE_KEYS = {
    "order_id",
    "account_id",
    "symbol",
    "name",
    "side",
    "traded_id",
    "traded_time",
    "traded_volume",
    "traded_price",
    "traded_amount",
    "commission",
    "strategy_name",
    "order_remark",
}
POSITION_KEYS = {
    "symbol",
    "name",
    "volume",
    "can_use_volume",
    "frozen_volume",
    "on_road_volume",
    "yesterday_volume",
    "market_value",
    "avg_price",
    "open_price",
    "current_price",
    "profit",
    "profit_ratio",
}
ASSET_KEYS = {"account_id", "cash", "frozen_cash", "market_value", "total_asset", "fetch_balance", "profit", "profit_ratio", "repo_loans"}
ACCOUNT_KEYS = {"index", "account_id", "nick_name", "account_type", "broker", "connected"}


class SimBackend:
    """The real worker loop (runner.serve) on the simulator: jobs reach SimTrader through XtBroker."""

    def __init__(self, settings, connection, monkeypatch):
        self.settings, self.redis, self._monkeypatch = settings, connection, monkeypatch

    def run(self, *payloads) -> list[str]:
        ids = [jobqueue.enqueue(self.redis, payload, self.settings.JOB_TTL) for payload in payloads]
        serve(self.settings, self.redis, burst=True)
        return ids

    def hold(self, symbol: str, volume: int) -> None:
        """Buy `volume` of `symbol` on the previous trading day: the worker's simulator rolls to today, so it is sellable."""
        yesterday = calendar_store.default().previous_session(clock.today(), weekdays_past_data=True).isoformat()
        trader = SimTrader(
            self.settings.SIM_DATA_DIR,
            1,
            starting_cash=self.settings.SIM_STARTING_CASH,
            prices_file=self.settings.SIM_PRICES_FILE,
            auto_roll=False,
            start_day=yesterday,
        )
        trader.start()
        try:
            assert trader.connect() == 0
            account = xttype.StockAccount("SIM000001")
            trader.subscribe(account)
            assert trader.order_stock(account, symbol, 23, volume, 11, SIM_PRICES[symbol], "", "seed") > 0
        finally:
            trader.stop()

    def lose_next_order_answer(self) -> None:
        """order_stock reaches the simulator but answers after BROKER_CALL_TIMEOUT."""
        real_make_trader = broker_module.make_trader

        def slow_trader(*args, **kwargs):
            trader = real_make_trader(*args, **kwargs)

            def answering_late(place):
                def order_stock(*call_args):
                    order_id = place(*call_args)
                    time.sleep(self.settings.BROKER_CALL_TIMEOUT * 2)  # the terminal is slow, not the test waiting
                    return order_id

                return order_stock

            trader.order_stock = answering_late(trader.order_stock)
            trader.order_stock_async = answering_late(trader.order_stock_async)  # the pipelined send (BROKER_IN_FLIGHT > 1)
            return trader

        self._monkeypatch.setattr(broker_module, "make_trader", slow_trader)


class FakeBackend:
    """RQ runs the same job functions with a Runtime whose brokers are protocol-only fakes."""

    _names = itertools.count()

    def __init__(self, settings: Settings, connection: Any, monkeypatch: pytest.MonkeyPatch):
        self.settings, self.redis = settings, connection
        self.fakes = [
            FakeBroker(a.account_id, settings.SIM_STARTING_CASH, call_timeout=settings.BROKER_CALL_TIMEOUT) for a in settings.enabled_accounts
        ]
        self.accounts: BrokerAccounts = FakeAccounts(self.fakes)
        monkeypatch.setattr(sends, "ORDER_ACK_WAIT", 0.05)  # the fake pushes no order callbacks: read the order back soon

    def run(self, *payloads) -> list[str]:
        ids = [jobqueue.enqueue(self.redis, payload, self.settings.JOB_TTL) for payload in payloads]
        recorder = OrderEventRecorder(self.redis, self.settings.JOB_TTL)
        runtime.install(runtime.Runtime(settings=self.settings, redis=self.redis, brokers=self.accounts, recorder=recorder))
        try:
            worker = RouterWorker(
                [jobqueue.queue(self.redis, name) for name in keys.QUEUES_BY_PRIORITY],
                connection=self.redis,
                serializer=JSONSerializer,
                name=f"fake-broker-{next(self._names)}",
            )
            worker.work(burst=True, with_scheduler=False)
        finally:
            runtime.install(None)
        return ids

    def hold(self, symbol: str, volume: int) -> None:
        self.fakes[0].hold(symbol, volume, SIM_PRICES[symbol])

    def lose_next_order_answer(self) -> None:
        self.fakes[0].lose_next_answer = True


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path), BROKER_CALL_TIMEOUT=0.5)


@pytest.fixture(params=["sim", "fake"])
def backend(request, settings, fake_redis, monkeypatch):
    return (SimBackend if request.param == "sim" else FakeBackend)(settings, fake_redis, monkeypatch)


def result(backend, job_id: str) -> Any:
    return jobqueue.view(backend.redis, job_id).result


def query(backend, what: Any, **fields):
    [job_id] = backend.run(QueryPayload(what=what, account_index=0, **fields))
    view = jobqueue.view(backend.redis, job_id)
    assert view.status == "finished", view
    return view.result


def fees(backend) -> Fees:
    return Fees.from_settings(backend.settings)


# -- orders ------------------------------------------------------------------------------------
def test_a_limit_order_is_placed_once_with_its_tag(backend):
    [job_id] = backend.run(order())
    placed = result(backend, job_id)
    assert placed["outcome"] == "submitted" and placed["order_id"] > 0 and placed["volume"] == 100
    [listed] = query(backend, "orders")
    assert set(listed) == ORDER_KEYS
    assert (listed["order_id"], listed["order_remark"], listed["symbol"], listed["side"]) == (placed["order_id"], job_id, "600000.SH", "buy")


def test_a_position_pct_buy_is_sized_from_total_asset_and_cash(backend):
    [job_id] = backend.run(order(volume=0, sizing="position_pct", position_pct=0.1))
    cash = backend.settings.SIM_STARTING_CASH
    expected = pct_buy_volume(instrument("600000.SH"), cash, 10.0, 0.1, cash, fees(backend))
    placed = result(backend, job_id)
    assert placed["outcome"] == "submitted" and placed["volume"] == expected and placed["requested_volume"] == 0


def test_a_position_pct_sell_is_sized_from_the_sellable_holding(backend):
    backend.hold("600000.SH", 1_000)
    [job_id] = backend.run(order(order_type=24, volume=0, sizing="position_pct", position_pct=0.5))
    placed = result(backend, job_id)
    assert placed["outcome"] == "submitted" and placed["side"] == "sell" and placed["volume"] == 500


def test_a_position_pct_sell_of_nothing_held_is_never_sent(backend):
    [job_id] = backend.run(order(order_type=24, volume=0, sizing="position_pct", position_pct=0.5))
    assert result(backend, job_id)["outcome"] == "not_submitted" and "can_use_volume 0" in result(backend, job_id)["error"]
    assert query(backend, "orders") == []


def test_an_allin_buy_spends_the_available_cash(backend):
    [job_id] = backend.run(order(volume=0, sizing="allin"))
    expected = allin_volume(instrument("600000.SH"), backend.settings.SIM_STARTING_CASH, 10.0, fees(backend))
    placed = result(backend, job_id)
    assert placed["outcome"] == "submitted" and placed["volume"] == expected


def test_the_repo_sweep_lends_idle_cash_above_the_reserve(backend):
    [job_id] = backend.run(order(symbol="131810.SZ", order_type=24, volume=0, price=0, sizing="repo", reserve_amount=100_000))
    placed = result(backend, job_id)
    assert placed["outcome"] == "submitted" and placed["side"] == "sell" and placed["symbol"] in REPO_CODES
    assert placed["volume"] == repo_volume(instrument(placed["symbol"]), backend.settings.SIM_STARTING_CASH, 100_000, fees(backend))


def test_a_refused_order_is_rejected_with_the_brokers_reason(backend):
    risk_state.save(backend.redis, risk.RiskLimits(max_order_notional=0))  # no cap: let the broker refuse it
    [job_id] = backend.run(order(volume=1_000_000))  # 10,000,000 yuan: more than the cash
    view = jobqueue.view(backend.redis, job_id)
    assert view.status == "failed" and view.result["outcome"] == "rejected" and "可用资金不足" in view.error


def test_an_unanswered_order_is_found_by_its_tag_never_resent(backend):
    backend.lose_next_order_answer()
    [job_id] = backend.run(order())
    placed = result(backend, job_id)
    assert placed["outcome"] == "submitted" and placed["order_id"] > 0
    assert [o["order_id"] for o in query(backend, "orders") if o["order_remark"] == job_id] == [placed["order_id"]]


def test_an_order_past_its_deadline_is_never_sent(backend):
    [job_id] = backend.run(order(deadline=time.time() - 1))
    assert jobqueue.view(backend.redis, job_id).status == "expired" and result(backend, job_id)["outcome"] == "expired"
    assert query(backend, "orders") == []


# -- cancels -----------------------------------------------------------------------------------
def test_cancel_one_order_then_again_is_refused(backend):
    [resting] = backend.run(order(price=9.5))  # 600000.SH trades at 10.00: the buy rests
    order_id = result(backend, resting)["order_id"]
    first, again = backend.run(
        CancelPayload(account_index=0, account_id="SIM000001", order_id=order_id),
        CancelPayload(account_index=0, account_id="SIM000001", order_id=order_id),
    )
    assert result(backend, first) == {"order_id": order_id, "side": None, "accepted": True, "cancelled": [order_id], "refused": [], "error": None}
    refused = result(backend, again)
    assert refused["accepted"] is False and refused["cancelled"] == [] and [r["order_id"] for r in refused["refused"]] == [order_id]
    assert f"the broker refused to cancel order {order_id} (code" in refused["error"]
    assert query(backend, "order", order_id=order_id)["status"] == "cancelled"


def test_cancel_all_buys_cancels_only_open_buys(backend):
    resting, filled = backend.run(order(price=9.5), order(price=10.0))
    [cancel] = backend.run(CancelPayload(account_index=0, account_id="SIM000001", side="buy"))
    resting_id, filled_id = result(backend, resting)["order_id"], result(backend, filled)["order_id"]
    assert result(backend, cancel)["cancelled"] == [resting_id] and result(backend, cancel)["accepted"] is True
    states = {o["order_id"]: o["status"] for o in query(backend, "orders")}
    assert states == {resting_id: "cancelled", filled_id: "filled"}


# -- queries -----------------------------------------------------------------------------------
def test_each_query_answers_in_the_old_servers_shapes(backend):
    [bought] = backend.run(order(price=10.0))  # fills at once
    order_id = result(backend, bought)["order_id"]

    accounts = query(backend, "accounts")
    assert [(a["index"], a["account_id"], a["connected"]) for a in accounts] == [(0, "SIM000001", True), (1, "SIM000002", True)]
    assert all(set(a) == ACCOUNT_KEYS for a in accounts)

    asset = query(backend, "asset")
    assert set(asset) == ASSET_KEYS and asset["account_id"] == "SIM000001"
    assert asset["cash"] < backend.settings.SIM_STARTING_CASH - 999 and asset["total_asset"] == pytest.approx(
        backend.settings.SIM_STARTING_CASH, abs=10
    )

    [position] = query(backend, "positions")
    assert set(position) == POSITION_KEYS and (position["symbol"], position["volume"]) == ("600000.SH", 100)

    [listed] = query(backend, "orders", cancelable_only=False)
    assert query(backend, "orders", cancelable_only=True) == []
    one = query(backend, "order", order_id=order_id)
    assert set(one) == ORDER_KEYS and one["order_id"] == order_id == listed["order_id"] and one["status"] == "filled"
    assert query(backend, "order", order_id=987_654) is None

    [trade] = query(backend, "trades")
    assert set(trade) == TRADE_KEYS and (trade["order_id"], trade["traded_volume"], trade["order_remark"]) == (order_id, 100, bought)
