"""Risk state in Redis: the limits in force (common.rules.risk.RiskLimits) and the per-account action counters.

Kept in Redis so every web process enforces the same limits and counters survive restarts. `checked` is the one
loop that checks again when the stored limits are not the ones this process last saw. The rate caps are counted
atomically by one Lua function (common.store.scripts.counters), which the enqueue script and `count_action` both run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import redis

from common.config import clock
from common.rules.exceptions import RateLimited, RiskRejected, StoreUnavailable
from common.rules.loose_types import RedisPipeline, RedisReply
from common.rules.risk import RiskLimits, cap_message
from common.store import keys
from common.store.scripts import counters

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIMITS_RECHECKS = 5  # checked again when the limits changed meanwhile; a sixth change in that time is an error
T = TypeVar("T")
LimitValue = bool | int | float | str | list[str]  # the types of RiskLimits' fields, for a change of some of them


class LimitsChanged(Exception):
    """The stored risk limits are not the ones an order was checked against: check again with `stored` (nothing was done)."""

    def __init__(self, stored: str):
        super().__init__("the risk limits changed")
        self.stored = stored


def load(connection: redis.Redis) -> RiskLimits:
    raw: RedisReply = connection.get(keys.RISK_LIMITS)
    return seen(connection, raw.decode() if isinstance(raw, bytes) else raw or "")[1]


def save(connection: redis.Redis, limits: RiskLimits) -> None:
    raw = limits.model_dump_json()
    connection.set(keys.RISK_LIMITS, raw)
    seen(connection, raw)


def change(connection: redis.Redis, **fields: LimitValue) -> RiskLimits:
    """Change some of the stored limits and keep the rest, atomically (WATCH/MULTI, again on a concurrent change):
    a kill switch thrown while an admin changes a cap is never undone by the cap's write. Returns the limits now in force."""
    return swap(connection, **fields)[1]


def swap(connection: redis.Redis, **fields: LimitValue) -> tuple[RiskLimits, RiskLimits]:
    """`change`, returning the limits before the change as well as those now in force (for the change history)."""
    changed: list[RiskLimits] = []

    if fields.get("kill_switch") is False:
        fields = {**fields, "halted_because": ""}  # released by an admin: the router's own reason goes with it

    def apply(pipe: RedisPipeline) -> None:
        before = _parsed(pipe.get(keys.RISK_LIMITS))
        after = RiskLimits.model_validate({**before.model_dump(), **fields})
        pipe.multi()
        pipe.set(keys.RISK_LIMITS, after.model_dump_json())
        changed[:] = [before, after]

    connection.transaction(apply, keys.RISK_LIMITS)
    seen(connection, changed[1].model_dump_json())
    return changed[0], changed[1]


# The limits as this process last saw them in each Redis: the door checks an order against them without asking Redis,
# and the enqueue script confirms in its one round trip that they are still the stored ones (common.store.jobqueue.Caps);
# an order they refuse is checked again with the stored ones first (refreshed), so stricter old limits never stick.
_lock = threading.Lock()
_assumed: WeakKeyDictionary[redis.Redis, tuple[str, RiskLimits]] = WeakKeyDictionary()


def _parsed(raw: RedisReply) -> RiskLimits:
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
        stored: RedisReply = connection.get(keys.RISK_LIMITS)
    except redis.RedisError:
        return None
    stored = stored.decode() if isinstance(stored, bytes) else stored or ""
    return None if stored == raw else seen(connection, stored)


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


def counter_keys(account_index: int, now: float | None = None) -> tuple[str, str]:
    """The per-second and per-day counter keys an order or cancel on the account counts on at `now` (unix seconds;
    trading day in Shanghai; default: now)."""
    now = clock.time() if now is None else now
    return keys.risk_second(account_index, int(now)), keys.risk_day(account_index, datetime.fromtimestamp(now, SHANGHAI).date().isoformat())


def count_action(connection: redis.Redis, limits: RiskLimits, account_index: int, now: float | None = None) -> None:
    """Count one order or cancel on an account; refuse it (uncounted) past the per-second or daily cap."""
    second_key, day_key = counter_keys(account_index, now)
    over = counters.count_one(connection, second_key, day_key, limits.max_actions_per_second, limits.max_actions_per_day)
    if over:
        raise RateLimited(cap_message(limits, account_index, over), "trader_index")


def actions_today(connection: redis.Redis, account_index: int) -> int:
    raw: RedisReply = connection.get(counter_keys(account_index)[1])
    return int(raw) if raw else 0
