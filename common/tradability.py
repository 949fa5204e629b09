"""Can the router trade right now? One verdict with the reasons why not, for /health and /metrics.

The router can trade when the worker's heartbeat is fresh, every enabled account's broker session is
connected, the calendar knows whether today is a session (the scheduler publishes its verdict on today
under keys.CALENDAR_STATUS), and the kill switch is off. Each failing condition is one reason, in words
an operator acts on: "worker heartbeat is 14 s old (stale after 6 s)". Redis errors propagate: with no
Redis nothing can be judged (the web answers 503).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from common import clock, keys, risk, terminals
from common.audit import mask_account
from common.settings import Settings

# The worker beats every 2 s (runner.HEARTBEAT_SECONDS), from its own thread even while a job blocks the main one:
# three missed beats mean it is gone, so a killed worker shows within about 6 s.
WORKER_STALE_SECONDS = 6.0
SCHEDULER_STALE_SECONDS = 30.0  # it beats every 5 s


@dataclass
class Verdict:
    can_trade: bool
    reasons: list[str] = field(default_factory=list)


def heartbeat_age(connection: redis.Redis, key: str, now: float | None = None) -> float | None:
    """Seconds since the heartbeat hash at `key` was last written; None when there is none."""
    raw: Any = connection.hget(key, "ts")
    try:
        return round((time.time() if now is None else now) - float(raw), 3)
    except (TypeError, ValueError):
        return None


def judge(connection: redis.Redis, settings: Settings) -> Verdict:
    """The verdict on trading now, with one reason per failing condition."""
    reasons: list[str] = []
    every = terminals.terminals(settings)
    for terminal in every:
        whose = "" if len(every) == 1 else f" of terminal {terminal.name}"
        age = heartbeat_age(connection, terminal.heartbeat_key)
        if age is None:
            reasons.append(f"no worker heartbeat{whose}: the worker is not running, or has not written one for 20 s")
        elif age >= WORKER_STALE_SECONDS:
            reasons.append(f"worker heartbeat{whose} is {age:.0f} s old (stale after {WORKER_STALE_SECONDS:.0f} s)")
    for index, account in enumerate(settings.enabled_accounts):
        if connection.hget(keys.broker_connection(index), "connected") != b"1":
            reasons.append(f"account {index} ({mask_account(account.account_id)}) is not connected to the broker")
    reasons += _calendar_reasons(connection)
    limits = risk.load(connection)
    if limits.kill_switch:
        reasons.append(f"the kill switch is on: {limits.halted_because}" if limits.halted_because else "the kill switch is on")
    return Verdict(can_trade=not reasons, reasons=reasons)


def _calendar_reasons(connection: redis.Redis) -> list[str]:
    raw: Any = connection.get(keys.CALENDAR_STATUS)
    today = clock.today().isoformat()
    if not raw:
        return [f"the calendar's verdict on today ({today}) is missing: is the scheduler running?"]
    status = json.loads(raw)
    if status.get("today") != today:
        return [f"the calendar's verdict is for {status.get('today')}, not today ({today}): is the scheduler running?"]
    if status.get("session") is None:
        return [f"the calendar does not know whether today ({today}) is a trading session (see CALENDAR_WEEKDAYS_UNTIL)"]
    return []
