"""A broker that implements only worker.broker_api.Broker: plain books in Python, no xtquant anywhere.

Job tests run against it to show the job code needs nothing but the protocol. It keeps the rules
the jobs rely on and little else: a limit buy at or above the price fills at once (a sell at or
below), otherwise it rests; a buy needs the cash (yuan) and a sell the sellable shares, or it is
refused; reverse repo is lent with a sell that takes cash. No fees, no T+1.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from datetime import date

from common.config import clock
from common.rules.exceptions import BrokerTimeout, CancelRefused, OrderRefused, SimulatorOnly, UnknownAccount
from common.rules.orders import BUY, OPEN_STATUSES
from common.rules.quote import Quote
from common.rules.symbols import Board, instrument, price_limits
from tests.support import SIM_PRICES
from worker.broker_api import Asset, Order, OrderId, Position, Trade

REPORTED, CANCELLED, FILLED = 50, 54, 56  # xtquant order statuses the fake uses
REPO_FACE_VALUE = 100.0  # yuan per 张


@dataclass
class Holding:
    volume: int  # shares or 张
    can_use_volume: int
    avg_price: float  # yuan
    frozen_volume: int = 0  # held by resting sells


class FakeBroker:
    """One account's books; `lose_next_answer` places the next order but answers BrokerTimeout, as a hung terminal would."""

    def __init__(self, account_id: str, cash: float, prices: dict[str, float] | None = None, call_timeout: float = 0.5):
        self.account_id = account_id
        self.connected = True
        self.call_timeout = call_timeout
        self.cash = cash
        self.frozen_cash = 0.0
        self.prices = dict(SIM_PRICES if prices is None else prices)
        self.holdings: dict[str, Holding] = {}
        self.orders: dict[OrderId, Order] = {}
        self.trades: list[Trade] = []
        self.lose_next_answer = False
        self._ids = itertools.count(1001)

    def wait_online(self, timeout: float) -> bool:
        return self.connected

    def hold(self, symbol: str, volume: int, avg_price: float) -> None:
        """Put `volume` sellable shares of `symbol` in the account (a holding bought on an earlier day)."""
        self.holdings[symbol] = Holding(volume, volume, avg_price)

    def place_order(self, symbol: str, order_type: int, volume: int, price_type: int, price: float, strategy_name: str, order_remark: str) -> OrderId:
        if symbol not in self.prices:
            raise OrderRefused(f"证券代码不存在 {symbol}")
        last = self.prices[symbol]
        deal_price = price or last
        lending = instrument(symbol).board is Board.REPO
        held = self.holdings.get(symbol)
        if lending or order_type == BUY:
            needed = volume * (REPO_FACE_VALUE if lending else deal_price)
            if needed > self.cash:
                raise OrderRefused(f"可用资金不足: 需要 {needed:.2f}, 可用 {self.cash:.2f}")
        elif held is None or held.can_use_volume < volume:
            raise OrderRefused(f"可用股份不足: {symbol} 委托 {volume}")
        order = Order(
            order_id=OrderId(next(self._ids)),
            account_id=self.account_id,
            symbol=symbol,
            name=f"FAKE{symbol[:6]}",
            order_type=order_type,
            volume=volume,
            price=price,
            price_type=price_type,
            order_status=REPORTED,
            status_msg="",
            traded_volume=0,
            traded_price=0.0,
            strategy_name=strategy_name,
            order_remark=order_remark,
            order_time=int(time.time()),
        )
        marketable = deal_price >= last if order_type == BUY and not lending else deal_price <= last
        self.orders[order.order_id] = self._fill(order, deal_price, lending) if marketable else self._rest(order, deal_price, lending)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise BrokerTimeout(f"broker did not answer order_stock within {self.call_timeout:g} s")
        return order.order_id

    def cancel_order(self, order_id: OrderId) -> None:
        order = self.orders.get(order_id)
        if order is None or order.order_status not in OPEN_STATUSES:
            raise CancelRefused(order_id, -1)
        if order.order_type == BUY or instrument(order.symbol).board is Board.REPO:
            held_back = order.volume * (REPO_FACE_VALUE if instrument(order.symbol).board is Board.REPO else order.price)
            self.cash += held_back
            self.frozen_cash -= held_back
        else:
            self.holdings[order.symbol].can_use_volume += order.volume
            self.holdings[order.symbol].frozen_volume -= order.volume
        self.orders[order_id] = replace(order, order_status=CANCELLED)

    def query_asset(self) -> Asset:
        market_value = sum(h.volume * self.prices[s] for s, h in self.holdings.items())
        total = round(self.cash + self.frozen_cash + market_value, 2)
        return Asset(self.account_id, round(self.cash, 2), round(self.frozen_cash, 2), round(market_value, 2), total, round(self.cash, 2))

    def query_positions(self) -> list[Position]:
        return [self._position(symbol) for symbol in self.holdings]

    def query_position(self, symbol: str) -> Position | None:
        return self._position(symbol) if symbol in self.holdings else None

    def query_orders(self, cancelable_only: bool = False) -> list[Order]:
        return [o for o in self.orders.values() if not cancelable_only or o.order_status in OPEN_STATUSES]

    def query_order(self, order_id: int) -> Order | None:
        return self.orders.get(OrderId(order_id))

    def query_trades(self) -> list[Trade]:
        return list(self.trades)

    def orders_since(self, day: date) -> list[Order] | None:
        return self.query_orders() if day >= clock.today() else None  # like a real terminal: today's orders only

    def quote(self, symbol: str) -> Quote | None:
        last = self.prices.get(symbol)
        if not last:
            return None
        band = price_limits(instrument(symbol), last)  # the previous close taken as today's price
        return Quote(symbol, last, last, last, last, up_limit=band[1] if band else None, down_limit=band[0] if band else None)

    # -- the books ---------------------------------------------------------------------------
    def _rest(self, order: Order, deal_price: float, lending: bool) -> Order:
        if lending or order.order_type == BUY:
            held_back = order.volume * (REPO_FACE_VALUE if lending else deal_price)
            self.cash -= held_back
            self.frozen_cash += held_back
        else:
            self.holdings[order.symbol].can_use_volume -= order.volume
            self.holdings[order.symbol].frozen_volume += order.volume
        return order

    def _fill(self, order: Order, deal_price: float, lending: bool) -> Order:
        amount = order.volume * (REPO_FACE_VALUE if lending else deal_price)
        held = self.holdings.setdefault(order.symbol, Holding(0, 0, 0.0))
        if order.order_type == BUY or lending:
            self.cash -= amount
            cost = held.volume * held.avg_price + amount
            held.volume += order.volume  # bought today: not sellable (T+1 is not modelled, nor needed)
            held.avg_price = cost / held.volume
        else:
            self.cash += amount
            held.volume -= order.volume
            held.can_use_volume -= order.volume
        self.trades.append(
            Trade(
                order_id=order.order_id,
                account_id=self.account_id,
                symbol=order.symbol,
                name=order.name,
                order_type=order.order_type,
                traded_id=f"T{order.order_id}",
                traded_time=int(time.time()),
                traded_volume=order.volume,
                traded_price=deal_price,
                traded_amount=round(amount, 2),
                commission=0.0,
                strategy_name=order.strategy_name,
                order_remark=order.order_remark,
            )
        )
        return replace(order, order_status=FILLED, traded_volume=order.volume, traded_price=deal_price)

    def _position(self, symbol: str) -> Position:
        held, last = self.holdings[symbol], self.prices[symbol]
        return Position(
            account_id=self.account_id,
            symbol=symbol,
            name=f"FAKE{symbol[:6]}",
            volume=held.volume,
            can_use_volume=held.can_use_volume,
            frozen_volume=held.frozen_volume,
            on_road_volume=0,
            yesterday_volume=held.volume,
            market_value=round(held.volume * last, 2),
            avg_price=round(held.avg_price, 4),
            open_price=held.avg_price,
            last_price=last,
        )


class FakeAccounts:
    """worker.broker_api.BrokerAccounts over FakeBrokers, by trader_index."""

    def __init__(self, brokers: list[FakeBroker]):
        self.brokers = brokers

    def broker(self, index: int) -> FakeBroker:
        if not 0 <= index < len(self.brokers):
            raise UnknownAccount(f"trader_index {index} selects no enabled account", "trader_index")
        return self.brokers[index]

    def indexes(self) -> list[int]:
        return list(range(len(self.brokers)))

    def sim_day_after(self, days: int) -> str:
        raise SimulatorOnly("the fake broker has no trading days")

    def roll_sim_until(self, day: str) -> str:
        raise SimulatorOnly("the fake broker has no trading days")
