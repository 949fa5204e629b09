"""The xtquant edge: `XtBroker` implements worker.broker_api.Broker over an XtQuantTrader (QMT's or the simulator's).

This is the one place that knows xtquant's calls and conventions: its objects (XtOrder, XtPosition,
XtAsset, XtTrade) become the small types of broker_api here, and its failure codes become the
project's exceptions here — order_stock's -1 is OrderRefused, a non-zero cancel code is
CancelRefused, query_stock_asset's None is BrokerUnavailable, a None list is an empty one.
Each call runs bounded by the session (BrokerUnavailable / BrokerTimeout, see BrokerSession.run).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from common.config import clock
from common.rules.exceptions import BrokerTimeout, BrokerUnavailable, CancelRefused, OrderRefused
from worker.broker_api import Asset, Order, OrderId, Position, RepoLoan, SendTicket, Trade
from worker.quotes import Quote, read_quote
from worker.xtquant_sdk import XtAccount, XtAsset, XtOrder, XtPosition, XtTrade, XtTrader

if TYPE_CHECKING:  # worker.broker builds XtBrokers: a runtime import would be circular
    from worker.broker import BrokerSession


class OrderErrors(Protocol):
    """Where the broker's on_order_error pushes and its answers to async sends are kept (worker.callbacks.OrderEventRecorder)."""

    def order_error(self, tag: str) -> dict | None: ...
    def send_answer(self, ticket: SendTicket, timeout: float) -> tuple[int | None, str | None]: ...
    def cancel_answer(self, ticket: SendTicket, timeout: float) -> int | None: ...


@runtime_checkable
class KeepsHistory(Protocol):
    """A trader that keeps every day's orders (the simulator; QMT's knows today's only)."""

    def query_history_orders(self, account: XtAccount, start_day: str, /) -> list[XtOrder] | None: ...


class LoanRecord(Protocol):
    """One reverse-repo loan as the simulator keeps it (worker.sim.book.Loan)."""

    code: str
    volume: int  # 张 of 100 yuan
    rate: float  # annualised percent
    start: str
    settles: str
    mature: str
    days: int
    principal_back: bool

    @property
    def principal(self) -> float: ...

    @property
    def interest(self) -> float: ...


@runtime_checkable
class KeepsLoans(Protocol):
    """A trader that keeps each reverse-repo loan (the simulator; QMT shows the repo code as a position only)."""

    def query_repo_loans(self, account: XtAccount, /) -> Sequence[LoanRecord]: ...


class XtBroker:
    """One account (`account`, an xttype.StockAccount) on one broker session; satisfies broker_api.Broker."""

    def __init__(self, session: BrokerSession, index: int, account: XtAccount, order_errors: OrderErrors):
        self._session = session
        self._index = index
        self._account = account
        self._order_errors = order_errors

    @property
    def account_id(self) -> str:
        return str(self._account.account_id)

    @property
    def connected(self) -> bool:
        return self._session.connected

    @property
    def call_timeout(self) -> float:
        return self._session.call_timeout

    def wait_online(self, timeout: float) -> bool:
        return self._session.wait_online(timeout)

    def place_order(self, symbol: str, order_type: int, volume: int, price_type: int, price: float, strategy_name: str, order_remark: str) -> OrderId:
        """xtquant order_stock; -1 (or no answer) is OrderRefused with the reason its on_order_error gave, if any."""
        order_id = self._session.run(
            lambda trader: trader.order_stock(self._account, symbol, order_type, volume, price_type, price, strategy_name, order_remark),
            "order_stock",
        )
        if order_id is None or order_id < 0:
            refusal = self._order_errors.order_error(order_remark)
            raise OrderRefused(refusal["error_msg"] if refusal else "the broker refused the order (order_stock returned -1)")
        return OrderId(int(order_id))

    def send_order(
        self, symbol: str, order_type: int, volume: int, price_type: int, price: float, strategy_name: str, order_remark: str
    ) -> SendTicket:
        """xtquant order_stock_async: the call's seq at once (worker.broker_api.SendsAsync); a negative seq was never sent."""
        seq = self._session.run(
            lambda trader: trader.order_stock_async(self._account, symbol, order_type, volume, price_type, price, strategy_name, order_remark),
            "order_stock_async",
        )
        if seq is None or seq < 0:
            raise BrokerUnavailable(f"the terminal did not take the order (order_stock_async returned {seq})")
        return SendTicket(self._session.path, int(seq), order_remark)

    def order_answer(self, ticket: SendTicket, timeout: float) -> OrderId:
        """The order id from on_order_stock_async_response (matched by seq, or by the tag: an answer, a pushed order, an
        on_order_error); OrderRefused with the broker's reason; BrokerTimeout when nothing came within `timeout` s."""
        order_id, reason = self._order_errors.send_answer(ticket, timeout)
        if reason is not None or (order_id is not None and order_id <= 0):
            raise OrderRefused(reason or f"the broker refused the order (order_stock_async answered order id {order_id})")
        if order_id is None:
            raise BrokerTimeout(f"broker did not answer order_stock_async (seq {ticket.seq}) within {timeout:g} s")
        return OrderId(order_id)

    def send_cancel(self, order_id: OrderId) -> SendTicket:
        """xtquant cancel_order_stock_async: the call's seq at once; a negative seq was never asked."""
        seq = self._session.run(lambda trader: trader.cancel_order_stock_async(self._account, order_id), "cancel_order_stock_async")
        if seq is None or seq < 0:
            raise BrokerUnavailable(f"the terminal did not take the cancel of order {order_id} (cancel_order_stock_async returned {seq})")
        return SendTicket(self._session.path, int(seq), str(order_id))

    def cancel_answer(self, ticket: SendTicket, timeout: float) -> None:
        """on_cancel_order_stock_async_response's cancel_result: 0 accepted, any other code CancelRefused."""
        code = self._order_errors.cancel_answer(ticket, timeout)
        if code is None:
            raise BrokerTimeout(f"broker did not answer cancel_order_stock_async (seq {ticket.seq}) within {timeout:g} s")
        if code != 0:
            raise CancelRefused(OrderId(int(ticket.tag)), code)

    def cancel_order(self, order_id: OrderId) -> None:
        """xtquant cancel_order_stock; any code but 0 is CancelRefused."""
        code = self._session.run(lambda trader: trader.cancel_order_stock(self._account, order_id), "cancel_order_stock")
        if code != 0:
            raise CancelRefused(order_id, code)

    def query_asset(self) -> Asset:
        found = self._session.run(lambda trader: trader.query_stock_asset(self._account), "query_stock_asset")
        if found is None:
            raise BrokerUnavailable(f"the broker returned no asset for account index {self._index}")
        return asset_from_xt(found)

    def query_positions(self) -> list[Position]:
        found = self._session.run(lambda trader: trader.query_stock_positions(self._account), "query_stock_positions")
        return [position_from_xt(p) for p in found or []]

    def query_position(self, symbol: str) -> Position | None:
        found = self._session.run(lambda trader: trader.query_stock_position(self._account, symbol), "query_stock_position")
        return position_from_xt(found) if found else None

    def query_orders(self, cancelable_only: bool = False) -> list[Order]:
        found = self._session.run(lambda trader: trader.query_stock_orders(self._account, cancelable_only), "query_stock_orders")
        return [order_from_xt(o) for o in found or []]

    def query_order(self, order_id: int) -> Order | None:
        found = self._session.run(lambda trader: trader.query_stock_order(self._account, order_id), "query_stock_order")
        return order_from_xt(found) if found else None

    def query_trades(self) -> list[Trade]:
        found = self._session.run(lambda trader: trader.query_stock_trades(self._account), "query_stock_trades")
        return [trade_from_xt(t) for t in found or []]

    def orders_since(self, day: date) -> list[Order] | None:
        """Today's orders when `day` is today; the simulator keeps every day's (query_history_orders); a real terminal
        answers for today only, so None for earlier days: the caller must not conclude an order was never sent."""
        if day >= clock.today():
            return self.query_orders()
        if not isinstance(self._session.trader, KeepsHistory):
            return None
        found = self._session.run(lambda trader: _history(trader, self._account, day), "query_history_orders")
        return None if found is None else [order_from_xt(o) for o in found]

    def repo_loans(self) -> list[RepoLoan] | None:
        """The simulator's reverse-repo loans; None on a real terminal, whose answer has no loans (worker.broker_api.LendsRepo)."""
        if not isinstance(self._session.trader, KeepsLoans):
            return None
        found = self._session.run(lambda trader: _loans(trader, self._account), "query_repo_loans")
        return None if found is None else [loan_from_record(loan) for loan in found]

    def quote(self, symbol: str) -> Quote | None:
        """The trader's own price source (the simulator) or xtdata; None when unanswered in time (a quote is only a read)."""
        try:
            return self._session.run(lambda trader: read_quote(trader, symbol), "quote")
        except BrokerUnavailable:
            return None


def _history(trader: XtTrader, account: XtAccount, day: date) -> list[XtOrder] | None:
    """The trader's orders from `day` on; only a trader that keeps them (KeepsHistory) is asked."""
    return trader.query_history_orders(account, day.isoformat()) if isinstance(trader, KeepsHistory) else None


def _loans(trader: XtTrader, account: XtAccount) -> Sequence[LoanRecord] | None:
    """The trader's loans; only a trader that keeps them (KeepsLoans) is asked."""
    return trader.query_repo_loans(account) if isinstance(trader, KeepsLoans) else None


def loan_from_record(loan: LoanRecord) -> RepoLoan:
    """A simulator's loan as a RepoLoan (a book written before `settles` was kept returns everything on `mature`)."""
    return RepoLoan(
        symbol=loan.code,
        volume=loan.volume,
        amount=round(loan.principal, 2),
        rate=loan.rate,
        days=loan.days,
        interest=loan.interest,
        traded_on=loan.start,
        usable_on=loan.settles or loan.mature,
        withdrawable_on=loan.mature,
        principal_back=loan.principal_back,
    )


def order_from_xt(order: XtOrder) -> Order:
    """An xttype.XtOrder (or its like) as an Order."""
    return Order(
        order_id=OrderId(order.order_id),
        account_id=order.account_id,
        symbol=order.stock_code,
        name=getattr(order, "instrument_name", "") or "",
        order_type=order.order_type,
        volume=order.order_volume,
        price=order.price,
        price_type=order.price_type,
        order_status=order.order_status,
        status_msg=order.status_msg,
        traded_volume=order.traded_volume,
        traded_price=order.traded_price,
        strategy_name=order.strategy_name,
        order_remark=order.order_remark,
        order_time=order.order_time,
    )


def trade_from_xt(trade: XtTrade) -> Trade:
    """An xttype.XtTrade as a Trade."""
    return Trade(
        order_id=OrderId(trade.order_id),
        account_id=trade.account_id,
        symbol=trade.stock_code,
        name=getattr(trade, "instrument_name", "") or "",
        order_type=trade.order_type,
        traded_id=trade.traded_id,
        traded_time=trade.traded_time,
        traded_volume=trade.traded_volume,
        traded_price=trade.traded_price,
        traded_amount=trade.traded_amount,
        commission=getattr(trade, "commission", 0.0),
        strategy_name=trade.strategy_name,
        order_remark=trade.order_remark,
    )


def position_from_xt(position: XtPosition) -> Position:
    """An xttype.XtPosition as a Position."""
    return Position(
        account_id=position.account_id,
        symbol=position.stock_code,
        name=getattr(position, "instrument_name", "") or "",
        volume=position.volume,
        can_use_volume=position.can_use_volume,
        frozen_volume=position.frozen_volume,
        on_road_volume=position.on_road_volume,
        yesterday_volume=position.yesterday_volume,
        market_value=position.market_value,
        avg_price=position.avg_price,
        open_price=position.open_price,
        last_price=position.last_price,
    )


def asset_from_xt(asset: XtAsset) -> Asset:
    """An xttype.XtAsset as an Asset (fetch_balance is the cash when the terminal leaves it out)."""
    return Asset(
        account_id=asset.account_id,
        cash=asset.cash,
        frozen_cash=asset.frozen_cash,
        market_value=asset.market_value,
        total_asset=asset.total_asset,
        fetch_balance=getattr(asset, "fetch_balance", asset.cash),
    )
