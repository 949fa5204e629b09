"""The broker as job code sees it: the `Broker` protocol of one account, and the small values it answers with.

Jobs and recovery speak only this interface. `worker.xt_broker` implements it over an
XtQuantTrader (QMT's, or the simulator's); tests implement it with a plain fake. Nothing here
knows xtquant: its objects and its failure codes (-1, None) end at the adapter.

Every broker call may raise BrokerUnavailable (it never reached the broker: nothing happened) or
BrokerTimeout (it was running when time ran out: whether it took effect is unknown until checked).
Money in yuan (repo: rate in percent), volumes in shares (张 for bonds and repo).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NewType, Protocol, runtime_checkable

from common.rules.quote import Quote

OrderId = NewType("OrderId", int)  # the broker's order number (xtquant's order_id), > 0


@dataclass(frozen=True)
class Asset:
    """An account's money (yuan)."""

    account_id: str
    cash: float  # available to trade
    frozen_cash: float  # held by open buys
    market_value: float  # of the positions
    total_asset: float
    fetch_balance: float  # may be withdrawn


@dataclass(frozen=True)
class Position:
    """A holding of one symbol (volumes in shares or 张, prices in yuan)."""

    account_id: str
    symbol: str
    name: str
    volume: int
    can_use_volume: int  # sellable now (T+1, not frozen by an open sell)
    frozen_volume: int
    on_road_volume: int
    yesterday_volume: int
    market_value: float
    avg_price: float  # cost per share
    open_price: float
    last_price: float


@dataclass(frozen=True)
class Order:
    """An order of the day as the broker reports it."""

    order_id: OrderId
    account_id: str
    symbol: str
    name: str
    order_type: int  # common.rules.orders.BUY or SELL
    volume: int  # shares or 张
    price: float  # yuan; 0 for market types
    price_type: int  # xtquant's price type code
    order_status: int  # xtquant's order status (common.rules.orders.STATUS_NAMES)
    status_msg: str  # the broker's words, e.g. why it was rejected
    traded_volume: int
    traded_price: float  # average fill price, yuan
    strategy_name: str
    order_remark: str  # the job tag of orders the router placed
    order_time: int  # unix seconds


@dataclass(frozen=True)
class Trade:
    """One fill of an order."""

    order_id: OrderId
    account_id: str
    symbol: str
    name: str
    order_type: int  # common.rules.orders.BUY or SELL
    traded_id: str
    traded_time: int  # unix seconds
    traded_volume: int  # shares or 张
    traded_price: float  # yuan
    traded_amount: float  # yuan
    commission: float  # yuan
    strategy_name: str
    order_remark: str


@dataclass(frozen=True)
class RepoLoan:
    """Cash lent in reverse repo: `volume` 张 of 100 yuan at `rate` (annualised percent) for `days` days of interest.

    The principal is usable again on `usable_on` (the first settlement day) and, with the interest, can leave the
    account on `withdrawable_on` (maturity); dates ISO, Shanghai. `interest` is the expected interest in yuan.
    """

    symbol: str
    volume: int
    amount: float  # yuan lent
    rate: float
    days: int
    interest: float
    traded_on: str
    usable_on: str
    withdrawable_on: str
    principal_back: bool  # the principal is back in cash already; the interest follows on withdrawable_on


@runtime_checkable
class LendsRepo(Protocol):
    """A broker that can list its account's reverse-repo loans (an addition to Broker, which old fakes lack)."""

    def repo_loans(self) -> list[RepoLoan] | None:
        """Each loan not yet repaid in full; None when the broker does not say (QMT shows a repo position only)."""
        ...


@runtime_checkable
class SendsAsync(Protocol):
    """A broker whose orders go out with the terminal's async call (xtquant's order_stock_async): the call answers at
    once with a ticket, the broker's answer (the order id, or a refusal) comes later by callback. Old fakes lack it:
    the worker then sends with place_order."""

    def send_order(
        self, symbol: str, order_type: int, volume: int, price_type: int, price: float, strategy_name: str, order_remark: str
    ) -> SendTicket:
        """Send one order without waiting for the broker's answer. Raises BrokerUnavailable when it was never sent."""
        ...

    def order_answer(self, ticket: SendTicket, timeout: float) -> OrderId:
        """The id of the order `ticket` sent, once the broker answered (up to `timeout` s). Raises OrderRefused when the
        broker refused it, BrokerTimeout when no answer came in time (it may still be placed: look for its tag)."""
        ...

    def send_cancel(self, order_id: OrderId) -> SendTicket:
        """Ask for a cancel without waiting for the broker's answer (cancel_order_stock_async). Raises BrokerUnavailable."""
        ...

    def cancel_answer(self, ticket: SendTicket, timeout: float) -> None:
        """Once the broker accepted the cancel `ticket` asked for. Raises CancelRefused with its code when it refused,
        BrokerTimeout when no answer came in time (cancels are safe to ask again)."""
        ...


@dataclass(frozen=True)
class SendTicket:
    """An async send: the terminal it went to (its path), the call's seq, and the tag it carries in order_remark (a
    cancel: the order id it cancels)."""

    terminal: str
    seq: int
    tag: str


class Broker(Protocol):
    """One account at the broker, reached through its (possibly shared) terminal session."""

    @property
    def account_id(self) -> str:
        """The broker's account number this object trades on."""
        ...

    @property
    def connected(self) -> bool:
        """True while the terminal session is online."""
        ...

    @property
    def call_timeout(self) -> float:
        """Seconds one broker call may take before it counts as unanswered."""
        ...

    def wait_online(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for the session to be online; True when it is."""
        ...

    def place_order(self, symbol: str, order_type: int, volume: int, price_type: int, price: float, strategy_name: str, order_remark: str) -> OrderId:
        """Send one order of `volume` shares (张) at `price` yuan (xtquant `price_type`); its id.

        Raises OrderRefused when the broker refused it outright (the reason when it gave one).
        """
        ...

    def cancel_order(self, order_id: OrderId) -> None:
        """Ask the broker to cancel `order_id`. Raises CancelRefused when it will not."""
        ...

    def query_asset(self) -> Asset:
        """The account's money. Raises BrokerUnavailable when the broker has no answer."""
        ...

    def query_positions(self) -> list[Position]: ...

    def query_position(self, symbol: str) -> Position | None:
        """The holding of `symbol`, or None when there is none."""
        ...

    def query_orders(self, cancelable_only: bool = False) -> list[Order]:
        """Today's orders; only those still open when `cancelable_only`."""
        ...

    def query_order(self, order_id: int) -> Order | None:
        """Today's order `order_id`, or None when the broker has no such order."""
        ...

    def query_trades(self) -> list[Trade]:
        """Today's fills."""
        ...

    def orders_since(self, day: date) -> list[Order] | None:
        """The orders of every trading day from `day` (a date in Shanghai) to today; None when the broker cannot say
        for the days before today (QMT's query_stock_orders knows today's only)."""
        ...

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of `symbol`, or None when there is none (or no answer in time)."""
        ...


class BrokerAccounts(Protocol):
    """Every account this worker trades on, by trader_index."""

    def broker(self, index: int) -> Broker:
        """The broker of trader_index `index`. Raises UnknownAccount when it selects no enabled account."""
        ...

    def indexes(self) -> list[int]:
        """The trader_index of every enabled account, ascending."""
        ...

    def sim_day_after(self, days: int) -> str:
        """The simulator only: the trading day (ISO) `days` sessions after the simulator's day.

        Raises SimulatorOnly on a real terminal.
        """
        ...

    def roll_sim_until(self, day: str) -> str:
        """The simulator only: settle trading days (T+1, repo, open orders end) until the simulator's day is `day`
        (ISO; a day reached already settles nothing); the day now, ISO. Raises SimulatorOnly on a real terminal.
        """
        ...
