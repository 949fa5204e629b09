"""The one risk gate: every limit an order or cancel meets, computed here and nowhere else.

Kept in Redis so every web process enforces the same limits and counters survive restarts: a kill switch
that halts new orders (cancels still run), a per-order notional cap, per-account daily and per-second caps
counting orders and cancels (the exchanges treat >= 300/s or >= 20,000 a day as high-frequency trading), a
symbol block list, and a price band (MAX_PRICE_DEVIATION_PCT) against fat fingers.

An order is priced at what it can cost: a limit order at its limit price, a market order at the day's upper
price limit (`worst_price`); sizing a market buy uses the same price, the one the broker freezes cash at.
The door (common.submission) checks with the last quote the router has, the worker again with a fresh one
just before the send; routines, pages and the kill switch come through the door. `checked` is the one loop
that checks again when the stored limits are not the ones this process last saw. The rate caps are counted
atomically by `COUNT_LUA`, which the enqueue script (common.enqueue_script) and `count_action` both run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from common import keys, store
from common.exceptions import NoQuote, PriceTooFar, RateLimited, RiskRejected, StoreUnavailable, TradingHalted
from common.quotes import Quote
from common.symbols import normalize

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIMITS_RECHECKS = 5  # checked again when the limits changed meanwhile; a sixth change in that time is an error
log = logging.getLogger("router.risk")
T = TypeVar("T")


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


class LimitsChanged(Exception):
    """The stored risk limits are not the ones an order was checked against: check again with `stored` (nothing was done)."""

    def __init__(self, stored: str):
        super().__init__("the risk limits changed")
        self.stored = stored


def load(connection: redis.Redis) -> RiskLimits:
    raw: Any = connection.get(keys.RISK_LIMITS)
    return seen(connection, raw.decode() if isinstance(raw, bytes) else raw or "")[1]


def save(connection: redis.Redis, limits: RiskLimits) -> None:
    raw = limits.model_dump_json()
    connection.set(keys.RISK_LIMITS, raw)
    seen(connection, raw)


def change(connection: redis.Redis, **fields: Any) -> RiskLimits:
    """Change some of the stored limits and keep the rest, atomically (WATCH/MULTI, again on a concurrent change):
    a kill switch thrown while an admin changes a cap is never undone by the cap's write. Returns the limits now in force."""
    changed: list[RiskLimits] = []

    if fields.get("kill_switch") is False:
        fields = {**fields, "halted_because": ""}  # released by an admin: the router's own reason goes with it

    def apply(pipe: Any) -> None:
        after = RiskLimits.model_validate({**_parsed(pipe.get(keys.RISK_LIMITS)).model_dump(), **fields})
        pipe.multi()
        pipe.set(keys.RISK_LIMITS, after.model_dump_json())
        changed[:] = [after]

    connection.transaction(apply, keys.RISK_LIMITS)
    seen(connection, changed[0].model_dump_json())
    return changed[0]


# The limits as this process last saw them in each Redis: the door checks an order against them without asking Redis,
# and the enqueue script confirms in its one round trip that they are still the stored ones (common.jobqueue.Caps);
# an order they refuse is checked again with the stored ones first (refreshed), so stricter old limits never stick.
_lock = threading.Lock()
_assumed: WeakKeyDictionary[redis.Redis, tuple[str, RiskLimits]] = WeakKeyDictionary()


def _parsed(raw: Any) -> RiskLimits:
    """The limits a stored JSON holds (bytes or text); the defaults for none stored."""
    return RiskLimits.model_validate_json(raw) if raw else RiskLimits()


def assumed(connection: redis.Redis) -> tuple[str, RiskLimits]:
    """The stored JSON ("" for none stored) and the limits this process last saw in `connection`'s Redis; the defaults at first."""
    with _lock:
        return _assumed.get(connection) or ("", RiskLimits())


def seen(connection: redis.Redis, raw: str) -> tuple[str, RiskLimits]:
    """Remember `raw` (the stored JSON, "" for none) as the limits now in `connection`'s Redis; it and the limits it holds."""
    limits = _parsed(raw)
    with _lock:
        _assumed[connection] = (raw, limits)
    return raw, limits


def refreshed(connection: redis.Redis, raw: str) -> tuple[str, RiskLimits] | None:
    """After limits remembered as `raw` refused an order: the stored ones when they differ (check again with them),
    None when the refusal stands (the same, or Redis does not answer: refusing is the safe side)."""
    try:
        stored: Any = connection.get(keys.RISK_LIMITS)
    except redis.RedisError:
        return None
    stored = stored.decode() if isinstance(stored, bytes) else stored or ""
    return None if stored == raw else seen(connection, stored)


def cap_message(limits: RiskLimits, account_index: int, which: str) -> str:
    """Why an action on the account is refused past its `which` ("second" or "day") cap."""
    if which == "second":
        return f"more than {limits.max_actions_per_second} orders and cancels in one second on trader_index {account_index}"
    return f"the daily cap of {limits.max_actions_per_day} orders and cancels on trader_index {account_index} is reached"


def checked(connection: redis.Redis, attempt: Callable[[str, RiskLimits], T]) -> T:
    """Run `attempt(stored JSON, limits)` with the limits this process last saw, and again with the stored ones when
    they turn out to differ: the attempt raised LimitsChanged (its atomic step found others stored), or a refusal came
    from limits that may be stale. A refusal by the stored limits stands; so does one when Redis does not answer.

    Raises StoreUnavailable when the limits changed LIMITS_RECHECKS times meanwhile (nothing was done)."""
    raw, limits = assumed(connection)
    for _ in range(LIMITS_RECHECKS):
        try:
            return attempt(raw, limits)
        except LimitsChanged as changed:
            raw, limits = seen(connection, changed.stored)
        except RiskRejected:
            fresher = refreshed(connection, raw)  # refused by the limits remembered: are they still the stored ones?
            if fresher is None:
                raise
            raw, limits = fresher
    raise StoreUnavailable(f"the risk limits changed {LIMITS_RECHECKS} times while the order was checked: send it again")


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


def counter_keys(account_index: int, now: float | None = None) -> tuple[str, str]:
    """The per-second and per-day counter keys an order or cancel on the account counts on at `now` (unix seconds;
    trading day in Shanghai; default: now)."""
    now = time.time() if now is None else now
    return keys.risk_second(account_index, int(now)), keys.risk_day(account_index, datetime.fromtimestamp(now, SHANGHAI).date().isoformat())


# Counts one action on each (per-second key, per-day key) pair of `pairs`; past a cap every count it took is given back
# and it answers the pair's position (1-based) and "second" or "day"; else 0. Run inside a script, so it is atomic.
COUNT_LUA = """
local function count_actions(pairs, per_second, per_day)
  local taken = {}
  for i, pair in ipairs(pairs) do
    local second = redis.call("INCR", pair[1])
    redis.call("EXPIRE", pair[1], 5)
    local day = redis.call("INCR", pair[2])
    redis.call("EXPIRE", pair[2], 259200)
    taken[#taken + 1] = pair
    local over = nil
    if per_second > 0 and second > per_second then over = "second" elseif per_day > 0 and day > per_day then over = "day" end
    if over then
      for _, p in ipairs(taken) do
        redis.call("DECR", p[1])
        redis.call("DECR", p[2])
      end
      return i, over
    end
  end
  return 0, ""
end
"""
_COUNT_ONE = (
    COUNT_LUA
    + """
local _, over = count_actions({{KEYS[1], KEYS[2]}}, tonumber(ARGV[1]), tonumber(ARGV[2]))
return over
"""
)


def count_action(connection: redis.Redis, limits: RiskLimits, account_index: int, now: float | None = None) -> None:
    """Count one order or cancel on an account; refuse it (uncounted) past the per-second or daily cap."""
    second_key, day_key = counter_keys(account_index, now)
    over: Any = store.script(connection, _COUNT_ONE)(keys=[second_key, day_key], args=[limits.max_actions_per_second, limits.max_actions_per_day])
    over = over.decode() if isinstance(over, bytes) else over
    if over:
        raise RateLimited(cap_message(limits, account_index, over), "trader_index")


def actions_today(connection: redis.Redis, account_index: int) -> int:
    raw: Any = connection.get(counter_keys(account_index)[1])
    return int(raw) if raw else 0
