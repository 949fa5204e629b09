"""XtBroker, the xtquant edge: xttype objects become broker_api types, -1/None/non-zero codes become exceptions."""

from __future__ import annotations

from typing import Any

import pytest

from common.rules.exceptions import BrokerTimeout, BrokerUnavailable, CancelRefused, OrderRefused
from tests.worker.fake_xttrader import accepted_order
from worker.broker import BrokerSession
from worker.broker_api import Asset, Broker, Order, Position, Trade
from worker.xt_broker import XtBroker
from worker.xtquant_sdk import xttype

StockAccount, XtAsset, XtPosition, XtTrade = xttype.StockAccount, xttype.XtAsset, xttype.XtPosition, xttype.XtTrade


class ScriptedTrader:
    """Answers each xtquant call with what the test set in `answers`, and records the arguments."""

    def __init__(self, **answers: Any):
        self.answers = answers
        self.calls: list[tuple] = []

    def __getattr__(self, method: str):
        def call(*args):
            self.calls.append((method, *args))
            return self.answers[method]

        return call


class OrderErrors:
    def __init__(self, errors: dict[str, dict] | None = None):
        self.errors = errors or {}

    def order_error(self, tag: str) -> dict | None:
        return self.errors.get(tag)

    def send_answer(self, ticket, timeout):  # async sends are tested with the real recorder below
        return None, None

    def cancel_answer(self, ticket, timeout):
        return None


@pytest.fixture
def session():
    session = BrokerSession("", [], call_timeout=1.0)
    session.mark_online()
    yield session
    session.close()


def broker_on(session, trader, errors=None) -> Broker:
    session.trader = trader
    return XtBroker(session, 3, StockAccount("8881234567"), errors or OrderErrors())


def test_an_order_goes_to_order_stock_with_the_account_and_comes_back_as_its_id(session):
    trader = ScriptedTrader(order_stock=1001)
    assert broker_on(session, trader).place_order("000001.SZ", 23, 300, 11, 11.23, "动量", "o0123456789abcdef") == 1001
    [(method, account, *sent)] = trader.calls
    assert method == "order_stock" and account.account_id == "8881234567"
    assert sent == ["000001.SZ", 23, 300, 11, 11.23, "动量", "o0123456789abcdef"]


def test_order_stock_minus_one_is_a_refusal_with_the_reason_the_broker_pushed(session):
    errors = OrderErrors({"o1": {"error_msg": "可用资金不足"}})
    with pytest.raises(OrderRefused) as caught:
        broker_on(session, ScriptedTrader(order_stock=-1), errors).place_order("600000.SH", 23, 100, 11, 10.0, "", "o1")
    assert caught.value.message == "可用资金不足"
    with pytest.raises(OrderRefused) as caught:
        broker_on(session, ScriptedTrader(order_stock=None)).place_order("600000.SH", 23, 100, 11, 10.0, "", "o2")
    assert "order_stock returned -1" in caught.value.message


def test_a_cancel_code_other_than_zero_is_a_cancel_refusal(session):
    broker_on(session, ScriptedTrader(cancel_order_stock=0)).cancel_order(1001)
    with pytest.raises(CancelRefused) as caught:
        broker_on(session, ScriptedTrader(cancel_order_stock=-1)).cancel_order(1001)
    assert (caught.value.order_id, caught.value.code) == (1001, -1)
    assert caught.value.message == "the broker refused to cancel order 1001 (code -1)"


def test_no_asset_is_broker_unavailable_and_no_list_is_an_empty_one(session):
    broker = broker_on(
        session,
        ScriptedTrader(
            query_stock_asset=None,
            query_stock_positions=None,
            query_stock_orders=None,
            query_stock_trades=None,
            query_stock_order=None,
            query_stock_position=None,
        ),
    )
    with pytest.raises(BrokerUnavailable) as caught:
        broker.query_asset()
    assert "account index 3" in caught.value.message
    assert (broker.query_positions(), broker.query_orders(), broker.query_trades()) == ([], [], [])
    assert broker.query_order(1) is None and broker.query_position("600000.SH") is None


def test_xttype_objects_come_back_as_the_small_types(session):
    xt_order = accepted_order("8881234567", 1001, "600000.SH", 23, 100, 11, 10.0, "s", "o1")
    xt_position = XtPosition("8881234567", "600000.SH", 1000, 600, 9.8, 10_000.0, 400, 0, 1000, 9.9, 48, 10.0, 0.01, "A1", "浦发银行")
    xt_trade = XtTrade("8881234567", "600000.SH", 23, "T1", 1700000000, 10.0, 100, 1000.0, 1001, "sys1", "s", "o1", 48, 48, 5.0, "A1", "浦发银行")
    broker = broker_on(
        session,
        ScriptedTrader(
            query_stock_asset=XtAsset("8881234567", 1.0, 2.0, 3.0, 6.0, 1.0),
            query_stock_positions=[xt_position],
            query_stock_orders=[xt_order],
            query_stock_trades=[xt_trade],
        ),
    )
    assert broker.query_asset() == Asset("8881234567", 1.0, 2.0, 3.0, 6.0, 1.0)
    [position] = broker.query_positions()
    assert isinstance(position, Position) and (position.symbol, position.can_use_volume, position.frozen_volume, position.name) == (
        "600000.SH",
        600,
        400,
        "浦发银行",
    )
    [order] = broker.query_orders(cancelable_only=True)
    assert isinstance(order, Order) and (order.order_id, order.volume, order.order_status, order.order_remark) == (1001, 100, 50, "o1")
    [trade] = broker.query_trades()
    assert isinstance(trade, Trade) and (trade.traded_id, trade.traded_amount, trade.commission) == ("T1", 1000.0, 5.0)


def test_an_offline_session_never_reaches_the_trader(session):
    trader = ScriptedTrader(order_stock=1001)
    broker = broker_on(session, trader)
    session.mark_offline()
    with pytest.raises(BrokerUnavailable):
        broker.place_order("600000.SH", 23, 100, 11, 10.0, "", "o1")
    assert trader.calls == [] and broker.quote("600000.SH") is None


# -- async sends: the seq at once, the answer by callback (OrderEventRecorder keeps it) ---------------------------------


@pytest.fixture
def recorder(fake_redis):
    from worker.callbacks import OrderEventRecorder

    return OrderEventRecorder(fake_redis, 86_400)


def test_an_async_order_is_sent_with_its_tag_and_answered_by_its_seq(session, recorder):
    trader = ScriptedTrader(order_stock_async=7)
    broker = broker_on(session, trader, recorder)
    ticket = broker.send_order("600000.SH", 23, 100, 11, 10.0, "s", "o0123456789abcdef")
    method, account, *args = trader.calls[0]
    assert method == "order_stock_async" and account.account_id == "8881234567" and args == ["600000.SH", 23, 100, 11, 10.0, "s", "o0123456789abcdef"]
    assert (ticket.seq, ticket.tag) == (7, "o0123456789abcdef")
    recorder.on_send_answer("", xttype.XtOrderResponse("8881234567", 1001, "s", "o0123456789abcdef", "", 7))
    assert broker.order_answer(ticket, 1.0) == 1001


def test_an_answer_for_another_tag_under_the_same_seq_is_a_former_sessions_and_is_not_taken(session, recorder):
    broker = broker_on(session, ScriptedTrader(order_stock_async=7), recorder)
    recorder.on_send_answer("", xttype.XtOrderResponse("8881234567", 999, "", "o_other_session__", "", 7))
    ticket = broker.send_order("600000.SH", 23, 100, 11, 10.0, "", "o0123456789abcdef")
    with pytest.raises(BrokerTimeout):
        broker.order_answer(ticket, 0.05)
    recorder.on_send_answer("", xttype.XtOrderResponse("8881234567", 1002, "", "o0123456789abcdef", "", 7))
    assert broker.order_answer(ticket, 1.0) == 1002


def test_an_async_refusal_comes_by_the_answer_or_by_on_order_error(session, recorder):
    broker = broker_on(session, ScriptedTrader(order_stock_async=8), recorder)
    ticket = broker.send_order("600000.SH", 23, 100, 11, 10.0, "", "o1111111111111111")
    recorder.on_send_answer("", xttype.XtOrderResponse("8881234567", -1, "", "o1111111111111111", "资金不足", 8))
    with pytest.raises(OrderRefused, match="资金不足"):
        broker.order_answer(ticket, 1.0)
    ticket = broker.send_order("600000.SH", 23, 100, 11, 10.0, "", "o2222222222222222")
    recorder.on_order_error(xttype.XtOrderError("8881234567", 55, 1, "超出涨跌停", "", "o2222222222222222"))
    with pytest.raises(OrderRefused, match="超出涨跌停"):
        broker.order_answer(ticket, 1.0)


def test_a_negative_seq_was_never_sent_and_no_answer_is_a_timeout_not_a_refusal(session, recorder):
    with pytest.raises(BrokerUnavailable, match="order_stock_async returned -1") as caught:
        broker_on(session, ScriptedTrader(order_stock_async=-1), recorder).send_order("600000.SH", 23, 100, 11, 10.0, "", "o3")
    assert not isinstance(caught.value, BrokerTimeout)
    ticket = broker_on(session, ScriptedTrader(order_stock_async=9), recorder).send_order("600000.SH", 23, 100, 11, 10.0, "", "o4")
    with pytest.raises(BrokerTimeout, match="seq 9"):
        broker_on(session, ScriptedTrader(), recorder).order_answer(ticket, 0.05)


def test_an_async_cancel_is_answered_by_its_seq_for_its_order(session, recorder):
    trader = ScriptedTrader(cancel_order_stock_async=11)
    broker = broker_on(session, trader, recorder)
    ticket = broker.send_cancel(1001)
    assert trader.calls[0][0] == "cancel_order_stock_async" and trader.calls[0][2] == 1001
    recorder.on_cancel_answer("", xttype.XtCancelOrderResponse("8881234567", 0, 1001, "sys", 11, ""))
    broker.cancel_answer(ticket, 1.0)
    refused = broker.send_cancel(1002)
    recorder.on_cancel_answer("", xttype.XtCancelOrderResponse("8881234567", -1, 1002, "sys", 11, "撤单失败"))
    with pytest.raises(CancelRefused):
        broker.cancel_answer(refused, 1.0)
