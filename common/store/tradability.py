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

import redis

from common.config import clock
from common.config.settings import Settings
from common.rules.loose_types import RedisReply
from common.rules.masking import mask_account
from common.store import keys, risk_state, terminals

# The worker beats every 2 s (runner.HEARTBEAT_SECONDS), from its own thread even while a job blocks the main one:
# three missed beats mean it is gone, so a killed worker shows within about 6 s.
WORKER_STALE_SECONDS = 6.0
SCHEDULER_STALE_SECONDS = 30.0  # it beats every 5 s


STARTUP_GRACE_SECONDS = 30.0  # a web process this young, with no worker heartbeat yet, is starting, not broken


@dataclass
class Verdict:
    can_trade: bool
    reasons: list[str] = field(default_factory=list)
    starting_for: float | None = None  # seconds the router has been starting (no worker's first heartbeat yet); None: started

    @property
    def state(self) -> str:
        """ "starting" until every worker's first heartbeat, then "trading" or "not trading"."""
        if self.starting_for is not None:
            return "starting"
        return "trading" if self.can_trade else "not trading"


def heartbeat_age(connection: redis.Redis, key: str, now: float | None = None) -> float | None:
    """Seconds since the heartbeat hash at `key` was last written; None when there is none."""
    raw: RedisReply = connection.hget(key, "ts")
    try:
        return round((time.time() if now is None else now) - float(raw), 3)
    except (TypeError, ValueError):
        return None


def judge(connection: redis.Redis, settings: Settings, web_started: float | None = None) -> Verdict:
    """The verdict on trading now, with one reason per failing condition. A worker that has begun starting (or, with
    none yet, a web process started at `web_started` less than STARTUP_GRACE_SECONDS ago) makes it "starting"."""
    reasons: list[str] = []
    starting: list[float] = []
    every = terminals.terminals(settings)
    for terminal in every:
        whose = "" if len(every) == 1 else f" of terminal {terminal.name}"
        age = heartbeat_age(connection, terminal.heartbeat_key)
        began = _starting_since(connection, terminal, web_started)
        if age is None and began is not None:
            starting.append(began)
            reasons.append(f"the worker{whose} is starting ({time.time() - began:.0f} s so far): no heartbeat yet")
        elif age is None:
            reasons.append(f"no worker heartbeat{whose}: the worker is not running, or has not written one for 20 s")
        elif age >= WORKER_STALE_SECONDS:
            reasons.append(f"worker heartbeat{whose} is {age:.0f} s old (stale after {WORKER_STALE_SECONDS:.0f} s)")
    for index, account in enumerate(settings.enabled_accounts):
        if connection.hget(keys.broker_connection(index), "connected") != b"1":
            reasons.append(f"account {index} ({mask_account(account.account_id)}) is not connected to the broker")
    reasons += _calendar_reasons(connection)
    limits = risk_state.load(connection)
    if limits.kill_switch:
        reasons.append(f"the kill switch is on: {limits.halted_because}" if limits.halted_because else "the kill switch is on")
    since = min(starting) if starting else None
    return Verdict(can_trade=not reasons, reasons=reasons, starting_for=None if since is None else round(time.time() - since, 1))


def _starting_since(connection: redis.Redis, terminal: terminals.Terminal, web_started: float | None) -> float | None:
    """When the terminal's worker began starting (its own mark), or the web process did when it is young; else None."""
    raw: RedisReply = connection.get(keys.worker_starting(terminal.name))
    try:
        return float(raw)
    except (TypeError, ValueError):
        pass
    if web_started is not None and time.time() - web_started < STARTUP_GRACE_SECONDS:
        return web_started
    return None


def _calendar_reasons(connection: redis.Redis) -> list[str]:
    raw: RedisReply = connection.get(keys.CALENDAR_STATUS)
    today = clock.today().isoformat()
    if not raw:
        return [f"the calendar's verdict on today ({today}) is missing: is the scheduler running?"]
    status = json.loads(raw)
    if status.get("today") != today:
        return [f"the calendar's verdict is for {status.get('today')}, not today ({today}): is the scheduler running?"]
    if status.get("session") is None:
        return [f"the calendar does not know whether today ({today}) is a trading session (see CALENDAR_WEEKDAYS_UNTIL)"]
    return []
