"""The one risk gate: every limit an order or cancel meets, computed here and nowhere else (pure: no Redis).

The limits (common.store.risk_state keeps them in Redis, so every process enforces the same ones): a kill switch
that halts new orders (cancels still run), a per-order notional cap, per-account daily and per-second caps
counting orders and cancels (the exchanges treat >= 300/s or >= 20,000 a day as high-frequency trading), a
symbol block list, and a price band (MAX_PRICE_DEVIATION_PCT) against fat fingers.

An order is priced at what it can cost: a limit order at its limit price, a market order at the day's upper
price limit (`worst_price`); sizing a market buy uses the same price, the one the broker freezes cash at.
The door (common.desk.submission) checks with the last quote the router has, the worker again with a fresh one
just before the send; routines, pages and the kill switch come through the door.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.rules.exceptions import NoQuote, PriceTooFar, RiskRejected, TradingHalted
from common.rules.quote import Quote
from common.rules.symbols import normalize

log = logging.getLogger("router.risk")


class RiskLimits(BaseModel):
    """The limits in force. 0 switches a cap off."""

    model_config = ConfigDict(extra="forbid")

    kill_switch: bool = False
    max_order_notional: float = Field(default=1_000_000.0, ge=0, description="yuan per order")
    max_actions_per_day: int = Field(default=5_000, ge=0, description="orders and cancels per account per trading day")
    max_actions_per_second: int = Field(default=20, ge=0, description="orders and cancels per account per second")
    blocked_symbols: list[str] = Field(default_factory=list, description="codes never traded, e.g. 600000.SH")
    halted_because: str = Field(default="", description="why the router threw the kill switch itself (Redis lost its data)")

    @field_validator("blocked_symbols")
    @classmethod
    def _normalise(cls, codes: list[str]) -> list[str]:
        return sorted({normalize(code) for code in codes})


def cap_message(limits: RiskLimits, account_index: int, which: str) -> str:
    """Why an action on the account is refused past its `which` ("second" or "day") cap."""
    if which == "second":
        return f"more than {limits.max_actions_per_second} orders and cancels in one second on trader_index {account_index}"
    return f"the daily cap of {limits.max_actions_per_day} orders and cancels on trader_index {account_index} is reached"


@dataclass(frozen=True)
class OrderCost:
    """What the gate needs of an order: its code, whether it is a market type, its volume (None: the worker sizes it)
    and its limit price in yuan (0 for a market type). Reverse repo (`lending`) is lending, not market risk."""

    symbol: str
    market: bool
    volume: int | None
    limit_price: float
    lending: bool = False


def worst_price(cost: OrderCost, quote: Quote | None) -> float:
    """The highest price per share (yuan) the order can fill at: a limit order its limit price, a market order the
    day's upper price limit (the price a broker freezes a market buy's cash at). NoQuote when it is not known."""
    if not cost.market:
        return cost.limit_price
    if quote is None or quote.up_limit is None:
        raise NoQuote(
            f"no upper price limit known for {cost.symbol}: a market order is priced at the day's upper limit, which the "
            "router learns from the broker's quote; send a limit order, or again once the worker has read a quote",
            "symbol",
        )
    return quote.up_limit


def needs_quote(limits: RiskLimits, cost: OrderCost) -> bool:
    """Does checking `cost` need a quote (a market order of known volume under a notional cap)?"""
    return cost.market and cost.volume is not None and not cost.lending and bool(limits.max_order_notional)


def check_order(limits: RiskLimits, cost: OrderCost, quote: Quote | None = None, band_pct: float = 0.0) -> None:
    """Refuse an order the limits forbid, saying which limit and why (its notional in yuan, priced by `worst_price`).

    `band_pct` (MAX_PRICE_DEVIATION_PCT, 0: off): a limit price further than that from the quote's last price is a fat
    finger. Without a quote the band is not checked (logged): the exchange's own price limits still hold.
    """
    if limits.kill_switch:
        raise TradingHalted(
            f"trading is halted: {limits.halted_because}" if limits.halted_because else "trading is halted by the kill switch; cancels still run"
        )
    if cost.symbol in limits.blocked_symbols:
        raise RiskRejected(f"{cost.symbol} is on the block list", "symbol")
    if cost.lending:
        return
    if cost.volume is not None and limits.max_order_notional:
        price = worst_price(cost, quote)
        notional = round(cost.volume * price, 2)
        priced = "the day's upper limit" if cost.market else "its limit price"
        if notional > limits.max_order_notional:
            raise RiskRejected(
                f"order notional {notional:,.2f} yuan ({cost.volume} x {price} yuan, {priced}) exceeds the per-order cap of "
                f"{limits.max_order_notional:,.2f}",
                "volume",
            )
    if band_pct and not cost.market and cost.limit_price > 0:
        _check_band(cost, quote, band_pct)


def _check_band(cost: OrderCost, quote: Quote | None, band_pct: float) -> None:
    if quote is None or quote.last <= 0:
        log.warning("no quote for %s: the limit price %s is sent unchecked against MAX_PRICE_DEVIATION_PCT", cost.symbol, cost.limit_price)
        return
    off = abs(cost.limit_price - quote.last) / quote.last * 100
    if off > band_pct:
        raise PriceTooFar(
            f"limit price {cost.limit_price} is {off:.1f}% from the latest price {quote.last} of {cost.symbol}, beyond "
            f"MAX_PRICE_DEVIATION_PCT ({band_pct:g}%)",
            "price",
        )
