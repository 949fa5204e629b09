"""The simulated exchange: order checks as QMT and the exchanges make them, matching against the price source.

Accepted orders are reported (50) and fill at the quote when marketable: a buy at or above it, a
sell at or below it, market types always. A quote with limited `available` volume fills partly
(55) and the rest waits for more. Every change is returned as callback events for the trader's
dispatcher thread: (callback name, xttype object).
"""

from __future__ import annotations

import time
from datetime import date

from common.config import clock
from common.rules.calendar import TradingCalendar, cancels_allowed, in_continuous_session
from common.rules.exceptions import InvalidSymbol, LotSizeViolation
from common.rules.orders import OPEN_STATUSES
from common.rules.sizing import Fees
from common.rules.symbols import Board, check_volume, instrument, is_on_tick, price_limits
from worker.sim import views
from worker.sim.book import Account, Book, Holding, Loan
from worker.sim.market import PriceSource, SimPrice
from worker.xtquant_sdk import xtconstant as xc
from worker.xtquant_sdk import xttype

Events = list[tuple[str, object]]
OPEN = OPEN_STATUSES  # the statuses an order can still fill or be cancelled in
PRICE_TYPES = {  # what each exchange accepts
    "SH": {
        xc.FIX_PRICE,
        xc.LATEST_PRICE,
        xc.MARKET_SH_CONVERT_5_CANCEL,
        xc.MARKET_SH_CONVERT_5_LIMIT,
        xc.MARKET_PEER_PRICE_FIRST,
        xc.MARKET_MINE_PRICE_FIRST,
    },
    "SZ": {
        xc.FIX_PRICE,
        xc.LATEST_PRICE,
        xc.MARKET_PEER_PRICE_FIRST,
        xc.MARKET_MINE_PRICE_FIRST,
        xc.MARKET_SZ_INSTBUSI_RESTCANCEL,
        xc.MARKET_SZ_CONVERT_5_CANCEL,
        xc.MARKET_SZ_FULL_OR_CANCEL,
    },
}
PRICE_TYPES["BJ"] = PRICE_TYPES["SH"]
CANCEL_REST = {xc.MARKET_SH_CONVERT_5_CANCEL, xc.MARKET_SZ_INSTBUSI_RESTCANCEL, xc.MARKET_SZ_CONVERT_5_CANCEL}


def _known(code: str) -> bool:
    try:
        instrument(code)
        return True
    except InvalidSymbol:
        return False


class Rejected(Exception):
    """An order the exchange or the broker refuses (status 57, the reason in status_msg)."""


class Exchange:
    """`calendar` decides trading days (the day roll, T+1, repo days); with `hours`, the exchanges' hours hold:
    no fills outside continuous trading, no cancels in the call auctions' last minutes."""

    def __init__(self, book: Book, prices: PriceSource, fees: Fees, calendar: TradingCalendar, hours: bool = False):
        self.book = book
        self.prices = prices
        self.fees = fees
        self.calendar = calendar
        self.hours = hours

    @property
    def day(self) -> date:
        return date.fromisoformat(self.book.day)

    def quote(self, code: str) -> SimPrice:
        return self.prices.quote(code, self.day, self.previous_session())

    def next_session(self) -> date:
        """The trading day after the simulator's (weekdays past the calendar's data: a simulator keeps going)."""
        following = self.calendar.next_session(self.day, weekdays_past_data=True)
        assert following is not None  # weekdays_past_data always finds a weekday
        return following

    def previous_session(self) -> date:
        before = self.calendar.previous_session(self.day, weekdays_past_data=True)
        assert before is not None
        return before

    # -- placing --------------------------------------------------------------------------------
    def place(
        self, account_id: str, code: str, order_type: int, volume: int, price_type: int, price: float, strategy_name: str, order_remark: str
    ) -> tuple[int, Events]:
        account = self.book.account(account_id)
        order = {
            "order_id": self.book.order_id(),
            "order_sysid": "",
            "order_time": int(time.time()),
            "day": self.book.day,
            "code": code,
            "order_type": order_type,
            "volume": int(volume),
            "price_type": price_type,
            "price": float(price),
            "traded_volume": 0,
            "traded_amount": 0.0,
            "fees": 0.0,
            "frozen_cash": 0.0,
            "status": xc.ORDER_REPORTED,
            "status_msg": "",
            "strategy_name": strategy_name or "",
            "order_remark": order_remark or "",
            "name": self.prices.name_of(code) if _known(code) else "",
        }
        order["order_sysid"] = str(100_000_000 + order["order_id"])
        account.orders[order["order_id"]] = order
        try:
            self._check_and_freeze(account, order)
        except Rejected as refusal:
            order.update(status=xc.ORDER_JUNK, status_msg=str(refusal))
            error = views.order_error(account_id, order)
            return order["order_id"], [("on_stock_order", views.xt_order(account_id, order)), ("on_order_error", error)]
        events: Events = [("on_stock_order", views.xt_order(account_id, order))]
        events += self._match(account_id, account, order)
        return order["order_id"], events

    def _check_and_freeze(self, account: Account, order: dict) -> None:
        try:
            inst = instrument(order["code"])
        except InvalidSymbol:
            raise Rejected(f"证券代码不存在 {order['code']}") from None
        if order["order_type"] not in (xc.STOCK_BUY, xc.STOCK_SELL):
            raise Rejected(f"不支持的委托类型 {order['order_type']}")
        allowed = {xc.FIX_PRICE} if inst.board is Board.REPO else PRICE_TYPES[inst.exchange]
        if order["price_type"] not in allowed:
            raise Rejected(f"该市场不支持此报价方式 price_type {order['price_type']} on {inst.exchange}")
        quote = self.quote(inst.code)
        limit = order["price_type"] == xc.FIX_PRICE
        if limit and not is_on_tick(inst, order["price"]):
            raise Rejected(f"委托价格 {order['price']} 不是最小变动价位 {inst.tick} 的整数倍")
        band = self.limits(inst.code, quote)
        if limit and band and not band[0] <= order["price"] <= band[1]:
            raise Rejected(f"委托价格 {order['price']} 超出涨跌停范围 [{band[0]}, {band[1]}]")
        if not limit and inst.board is Board.STAR and order["price"] <= 0:
            raise Rejected("科创板市价委托须填写保护价格")
        holding = account.holding(inst.code)
        lending = inst.board is Board.REPO
        if lending and order["order_type"] == xc.STOCK_BUY:
            raise Rejected(f"逆回购只能融出(卖出) {inst.code}: a retail account lends with a sell")
        try:
            check_volume(inst, order["order_type"], order["volume"], holding.can_use_volume if holding.can_use_volume >= order["volume"] else None)
        except LotSizeViolation as error:
            raise Rejected(f"委托数量不符合交易规则: {error.message}") from None
        if lending:
            order["frozen_cash"] = order["volume"] * 100.0 + self.fees.repo_cost(order["volume"] * 100.0)
        elif order["order_type"] == xc.STOCK_BUY:
            cap = order["price"] if limit else (band[1] if band else quote.last * 1.1)
            amount = order["volume"] * cap
            order["frozen_cash"] = round(amount + self.fees.buy_cost(amount), 2)
        else:
            if holding.can_use_volume < order["volume"]:
                raise Rejected(f"可用股份不足: {inst.code} 可用 {holding.can_use_volume}, 委托 {order['volume']}")
            holding.can_use_volume -= order["volume"]
            holding.frozen_volume += order["volume"]
            return
        if account.cash < order["frozen_cash"]:
            needed = order["frozen_cash"]
            order["frozen_cash"] = 0.0
            raise Rejected(f"可用资金不足: 需要 {needed:.2f}, 可用 {account.cash:.2f}")
        account.cash = round(account.cash - order["frozen_cash"], 2)
        account.frozen_cash = round(account.frozen_cash + order["frozen_cash"], 2)

    def limits(self, code: str, quote: SimPrice) -> tuple[float, float] | None:
        """(down, up) price limits from the previous close; None where the board has none."""
        return price_limits(instrument(code), quote.prev_close, self.prices.name_of(code))

    # -- matching -------------------------------------------------------------------------------
    def match_code(self, code: str) -> Events:
        """Fill what has become marketable on `code` (after the quote moved or more volume came)."""
        events: Events = []
        for account_id, account in self.book.accounts.items():
            for order in list(account.orders.values()):
                if order["code"] == code and order["status"] in OPEN:
                    events += self._match(account_id, account, order)
        return events

    def _match(self, account_id: str, account: Account, order: dict) -> Events:
        quote = self.quote(order["code"])
        buy = order["order_type"] == xc.STOCK_BUY
        market = order["price_type"] != xc.FIX_PRICE
        marketable = market or (order["price"] >= quote.last if buy else order["price"] <= quote.last)
        if self.hours and not in_continuous_session(clock.now(), repo=instrument(order["code"]).board is Board.REPO):
            marketable = False  # outside continuous trading nothing fills; a limit order rests until the price comes to it
        remaining = order["volume"] - order["traded_volume"]
        fill = 0
        if marketable:
            fill = remaining if quote.available is None else min(remaining, quote.available)
            if order["price_type"] == xc.MARKET_SZ_FULL_OR_CANCEL and fill < remaining:
                fill = 0
        events: Events = []
        if fill > 0:
            events += self._fill(account_id, account, order, fill, quote.last)
            self.prices.take(order["code"], fill)
        if market and order["price_type"] in CANCEL_REST | {xc.MARKET_SZ_FULL_OR_CANCEL} and order["traded_volume"] < order["volume"]:
            events += self._close_open(account_id, account, order)
        return events

    def _fill(self, account_id: str, account: Account, order: dict, volume: int, price: float) -> Events:
        inst = instrument(order["code"])
        holding = account.holding(order["code"])
        amount = round(volume * price, 2)
        before = order["traded_amount"]
        order["traded_volume"] += volume
        order["traded_amount"] = round(before + amount, 2)
        if inst.board is Board.REPO:
            fee = self.fees.repo_cost(order["traded_volume"] * 100.0) - order["fees"]
            cost = volume * 100.0 + fee
            account.frozen_cash = round(account.frozen_cash - cost, 2)
            order["frozen_cash"] = round(order["frozen_cash"] - cost, 2)
            days = self.calendar.repo_days(self.day, 1, weekdays_past_data=True)
            assert days is not None  # weekdays_past_data always finds days
            loan = Loan(order["code"], volume, price, self.book.day, days.maturity.isoformat(), days.interest_days, days.first_settlement.isoformat())
            account.loans.append(loan)
            holding.volume += volume
            holding.cost += volume * 100.0
        elif order["order_type"] == xc.STOCK_BUY:
            fee = self.fees.buy_cost(order["traded_amount"]) - order["fees"]
            account.frozen_cash = round(account.frozen_cash - amount - fee, 2)
            order["frozen_cash"] = round(order["frozen_cash"] - amount - fee, 2)
            if holding.volume == 0:
                holding.open_price = price
            holding.volume += volume  # T+1: sellable from the next trading day
            holding.cost = round(holding.cost + amount + fee, 2)
        else:
            fee = self.fees.sell_cost(order["traded_amount"]) - order["fees"]
            account.cash = round(account.cash + amount - fee, 2)
            holding.cost = round(holding.cost * (holding.volume - volume) / holding.volume, 2) if holding.volume else 0.0
            holding.volume -= volume
            holding.frozen_volume -= volume
        fee = round(fee, 2)
        order["fees"] = round(order["fees"] + fee, 2)
        done = order["traded_volume"] >= order["volume"]
        order["status"] = xc.ORDER_SUCCEEDED if done else xc.ORDER_PART_SUCC
        trade = {
            "traded_id": str(self.book.trade_id()),
            "traded_time": int(time.time()),
            "day": self.book.day,
            "order_id": order["order_id"],
            "code": order["code"],
            "order_type": order["order_type"],
            "price": price,
            "volume": volume,
            "amount": amount,
            "commission": fee,
            "order_sysid": order["order_sysid"],
            "strategy_name": order["strategy_name"],
            "order_remark": order["order_remark"],
            "name": order.get("name", ""),
        }
        account.trades.append(trade)
        if done:
            self.release(account, order)
        quote = self.quote(order["code"])
        return [
            ("on_stock_trade", views.xt_trade(account_id, trade)),
            ("on_stock_order", views.xt_order(account_id, order)),
            ("on_stock_position", views.xt_position(account_id, order["code"], holding, quote.last, self.prices.name_of(order["code"]))),
            ("on_stock_asset", self.asset(account_id)),
        ]

    # -- cancelling ----------------------------------------------------------------------------
    def cancel(self, account_id: str, order_id: int) -> tuple[int, Events]:
        account = self.book.account(account_id)
        order = account.orders.get(order_id)
        reason = ""
        if order is None or order["status"] not in OPEN:
            reason = "委托不存在" if order is None else f"委托状态 {order['status']} 不可撤"
        elif self.hours and not cancels_allowed(clock.now()):
            reason = "集合竞价阶段不可撤单 (9:20-9:25, 14:57-15:00)"
        if reason or order is None:
            return -1, [("on_cancel_error", views.cancel_error(account_id, order_id, order, f"撤单失败: {reason}"))]
        return 0, self._close_open(account_id, account, order)

    def _close_open(self, account_id: str, account: Account, order: dict) -> Events:
        order["status"] = xc.ORDER_PART_CANCEL if order["traded_volume"] else xc.ORDER_CANCELED
        self.release(account, order)
        return [("on_stock_order", views.xt_order(account_id, order)), ("on_stock_asset", self.asset(account_id))]

    def release(self, account: Account, order: dict) -> None:
        """Return what an ended order still holds: its frozen cash, or its frozen shares."""
        if order["frozen_cash"] > 0:
            account.cash = round(account.cash + order["frozen_cash"], 2)
            account.frozen_cash = round(account.frozen_cash - order["frozen_cash"], 2)
            order["frozen_cash"] = 0.0
        elif order["order_type"] == xc.STOCK_SELL and instrument(order["code"]).board is not Board.REPO:
            left = order["volume"] - order["traded_volume"]
            holding = account.holding(order["code"])
            holding.frozen_volume -= left
            holding.can_use_volume += left

    # -- views -----------------------------------------------------------------------------------
    def asset(self, account_id: str) -> xttype.XtAsset:
        account = self.book.account(account_id)
        market_value = sum(self._value(code, h) for code, h in account.positions.items())
        return views.xt_asset(account_id, account, round(market_value, 2))

    def positions(self, account_id: str) -> list[xttype.XtPosition]:
        account = self.book.account(account_id)
        return [
            views.xt_position(account_id, code, h, self._last(code), self.prices.name_of(code))
            for code, h in account.positions.items()
            if h.volume or h.frozen_volume
        ]

    def _value(self, code: str, holding: Holding) -> float:
        return holding.cost if instrument(code).board is Board.REPO else holding.volume * self._last(code)

    def _last(self, code: str) -> float:
        return 100.0 if instrument(code).board is Board.REPO else self.quote(code).last
