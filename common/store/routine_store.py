"""Where the scheduled routines are kept: Redis, seeded from the ROUTINES setting while Redis holds none; after that
Redis, as admins edited it, wins (the models and their timing are common.rules.routines).

Also the scheduler's watch: the last moment of each day at which a scheduler had considered every routine. A routine
with no run whose time the watch has passed was not there (or not enabled) at its time: it is not missed.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import redis

from common.config.clock import SHANGHAI
from common.rules.loose_types import Json, RedisReply
from common.rules.routines import AllinRoutine, NhgRoutine, validate
from common.store import keys

WATCH_KEPT_SECONDS = 8 * 86_400


def load(connection: redis.Redis, seed: list[Json]) -> list[NhgRoutine | AllinRoutine]:
    """The routines in Redis; the first time, `seed` (the ROUTINES setting) is stored and returned."""
    raw: RedisReply = connection.get(keys.ROUTINES)
    if raw is None:
        routines = validate(seed)
        connection.set(keys.ROUTINES, _dump(routines), nx=True)  # another process may have seeded first: theirs wins
        raw = connection.get(keys.ROUTINES)
    return validate(json.loads(raw))


def current(connection: redis.Redis, seed: list[NhgRoutine | AllinRoutine]) -> list[NhgRoutine | AllinRoutine]:
    """The routines in force: Redis's, or `seed` (settings.ROUTINES) stored there the first time."""
    return load(connection, [routine.model_dump(mode="json") for routine in seed])


def save(connection: redis.Redis, routines: list[NhgRoutine | AllinRoutine]) -> None:
    connection.set(keys.ROUTINES, _dump(routines))


def _dump(routines: list[NhgRoutine | AllinRoutine]) -> str:
    return json.dumps([r.model_dump(mode="json") for r in routines], ensure_ascii=False)


def watch(connection: redis.Redis, moment: datetime) -> None:
    """A scheduler considered every routine at `moment` (the tick's time, Shanghai)."""
    connection.set(keys.routines_watched(moment.date().isoformat()), str(moment.timestamp()), ex=WATCH_KEPT_SECONDS)


def watched(connection: redis.Redis, day: date) -> datetime | None:
    """The last moment of `day` at which a scheduler had considered every routine; None when none did that day."""
    raw: RedisReply = connection.get(keys.routines_watched(day.isoformat()))
    return datetime.fromtimestamp(float(raw), SHANGHAI) if raw else None
