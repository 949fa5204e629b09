"""Where the scheduled routines are kept: Redis, seeded from the ROUTINES setting while Redis holds none; after that
Redis, as admins edited it, wins (the models and their timing are common.rules.routines)."""

from __future__ import annotations

import json

import redis

from common.rules.loose_types import Json, RedisReply
from common.rules.routines import AllinRoutine, NhgRoutine, validate
from common.store import keys


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
