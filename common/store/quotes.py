"""Quotes: the latest price of a code with the day's price limits, and the copy the worker keeps in Redis for the door.

The worker reads quotes from the broker (worker.quotes) and remembers each here; the door (common.desk.submission)
prices a market order at the day's upper limit of the last quote the router has (common.rules.risk), so it never asks
the broker itself. A quote remembered on another trading day says nothing of today's limits and is not used.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import redis

from common.config import clock
from common.rules.loose_types import RedisReply
from common.rules.quote import Quote
from common.store import keys

KEEP_SECONDS = 86_400  # a day's limits are the day's: older copies are useless


def remember(connection: redis.Redis, quote: Quote) -> None:
    """Keep `quote` as the router's last quote of its code (stamped with today's trading day when it has none)."""
    stamped = quote if quote.day else Quote(**{**asdict(quote), "day": clock.today().isoformat()})
    connection.set(keys.quote(quote.code), json.dumps(asdict(stamped)), ex=KEEP_SECONDS)


def last_known(connection: redis.Redis, code: str) -> Quote | None:
    """Today's last quote of `code` the worker remembered, or None (none read today)."""
    raw: RedisReply = connection.get(keys.quote(code))
    if not raw:
        return None
    try:
        found = Quote(**json.loads(raw))
    except (TypeError, ValueError):
        return None
    return found if found.day == clock.today().isoformat() else None
