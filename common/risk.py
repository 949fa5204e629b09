"""Risk controls, kept in Redis so every web process enforces the same limits and counters survive restarts.

A kill switch that halts new orders (cancels still run), a per-order notional cap, per-account
daily and per-second caps counting orders and cancels (the exchanges treat >= 300/s or >= 20,000
a day as high-frequency trading), and a symbol block list. Checked at the door; sized orders,
whose notional is known only in the worker, are capped there too.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from common import keys
from common.exceptions import RateLimited, RiskRejected, TradingHalted
from common.symbols import normalize

SHANGHAI = ZoneInfo("Asia/Shanghai")


class RiskLimits(BaseModel):
    """The limits in force. 0 switches a cap off."""

    model_config = ConfigDict(extra="forbid")

    kill_switch: bool = False
    max_order_notional: float = Field(default=1_000_000.0, ge=0, description="yuan per order")
    max_actions_per_day: int = Field(default=5_000, ge=0, description="orders and cancels per account per trading day")
    max_actions_per_second: int = Field(default=20, ge=0, description="orders and cancels per account per second")
    blocked_symbols: list[str] = Field(default_factory=list, description="codes never traded, e.g. 600000.SH")

    @field_validator("blocked_symbols")
    @classmethod
    def _normalise(cls, codes: list[str]) -> list[str]:
        return sorted({normalize(code) for code in codes})


def load(connection: redis.Redis) -> RiskLimits:
    raw: Any = connection.get(keys.RISK_LIMITS)
    return seen(connection, raw.decode() if isinstance(raw, bytes) else raw or "")[1]


def save(connection: redis.Redis, limits: RiskLimits) -> None:
    raw = limits.model_dump_json()
    connection.set(keys.RISK_LIMITS, raw)
    seen(connection, raw)


# The limits as this process last saw them in each Redis: the door checks an order against them without asking Redis,
# and the enqueue script confirms in its one round trip that they are still the stored ones (common.jobqueue.Caps);
# an order they refuse is checked again with the stored ones first (refreshed), so stricter old limits never stick.
_lock = threading.Lock()
_assumed: WeakKeyDictionary[redis.Redis, tuple[str, RiskLimits]] = WeakKeyDictionary()


def assumed(connection: redis.Redis) -> tuple[str, RiskLimits]:
    """The stored JSON ("" for none stored) and the limits this process last saw in `connection`'s Redis; the defaults at first."""
    with _lock:
        return _assumed.get(connection) or ("", RiskLimits())


def seen(connection: redis.Redis, raw: str) -> tuple[str, RiskLimits]:
    """Remember `raw` (the stored JSON, "" for none) as the limits now in `connection`'s Redis; it and the limits it holds."""
    limits = RiskLimits.model_validate_json(raw) if raw else RiskLimits()
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


def check_order(limits: RiskLimits, symbol: str, notional: float | None) -> None:
    """Refuse an order the limits forbid; `notional` in yuan, None when the worker sizes it."""
    if limits.kill_switch:
        raise TradingHalted("trading is halted by the kill switch; cancels still run")
    if symbol in limits.blocked_symbols:
        raise RiskRejected(f"{symbol} is on the block list", "symbol")
    if notional is not None and limits.max_order_notional and notional > limits.max_order_notional:
        raise RiskRejected(f"order notional {notional:,.2f} yuan exceeds the per-order cap of {limits.max_order_notional:,.2f}", "volume")


def counter_keys(account_index: int, now: float | None = None) -> tuple[str, str]:
    """The per-second and per-day counter keys an order or cancel on the account counts on at `now` (unix seconds;
    trading day in Shanghai; default: now)."""
    now = time.time() if now is None else now
    return keys.risk_second(account_index, int(now)), keys.risk_day(account_index, datetime.fromtimestamp(now, SHANGHAI).date().isoformat())


def count_action(connection: redis.Redis, limits: RiskLimits, account_index: int, now: float | None = None) -> None:
    """Count one order or cancel on an account; refuse it (uncounted) past the per-second or daily cap."""
    second_key, day_key = counter_keys(account_index, now)
    with connection.pipeline() as pipe:
        pipe.incr(second_key)
        pipe.expire(second_key, 5)
        pipe.incr(day_key)
        pipe.expire(day_key, 3 * 86_400)
        in_second, _, in_day, _ = pipe.execute()
    over = None
    if limits.max_actions_per_second and in_second > limits.max_actions_per_second:
        over = "second"
    elif limits.max_actions_per_day and in_day > limits.max_actions_per_day:
        over = "day"
    if over:
        _take_back(connection, second_key, day_key)
        raise RateLimited(cap_message(limits, account_index, over), "trader_index")


def _take_back(connection: redis.Redis, second_key: str, day_key: str) -> None:
    with connection.pipeline() as pipe:
        pipe.decr(second_key)
        pipe.decr(day_key)
        pipe.execute()


def actions_today(connection: redis.Redis, account_index: int) -> int:
    raw: Any = connection.get(counter_keys(account_index)[1])
    return int(raw) if raw else 0
