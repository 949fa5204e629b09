"""Would the Redis in use lose what it acknowledged? One verdict, for /health and each role's start-up log.

A Redis with neither AOF nor RDB snapshots loses every queued order, risk limit and routine record when it restarts;
one whose maxmemory-policy is not noeviction may drop any of them to make room. deploy/redis.conf sets both right.
Each problem is one line naming the setting and the fix; nothing is said when Redis keeps what it holds. A Redis that
does not answer CONFIG (a managed one may rename it) is "cannot tell", said once, never an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis

from common.rules.loose_types import RedisReply

log = logging.getLogger("router.durability")
FIX = "start it with deploy/redis.conf (appendonly yes, appendfsync everysec, maxmemory-policy noeviction)"


@dataclass(frozen=True)
class Durability:
    """`problems`: one line each; `known`: False when Redis would not say (CONFIG refused)."""

    problems: list[str] = field(default_factory=list)
    known: bool = True

    @property
    def safe(self) -> bool:
        return self.known and not self.problems


def judge(connection: redis.Redis) -> Durability:
    """The verdict on the Redis behind `connection` (two CONFIG GETs)."""
    config: dict[RedisReply, RedisReply] = {}
    try:
        for name in ("appendonly", "save", "maxmemory-policy"):
            found: RedisReply = connection.config_get(name)
            config.update(found)
    except redis.ResponseError:
        return Durability(
            ["Redis does not say how it keeps its data (CONFIG is refused): make sure it runs with AOF and maxmemory-policy noeviction"], known=False
        )
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in config.items()}
    problems = []
    if text.get("appendonly", "no") != "yes" and not text.get("save", "").strip():
        problems.append(
            f'Redis keeps nothing on disk (appendonly no, save ""): queued orders, risk limits and routines are lost if it restarts; {FIX}'
        )
    policy = text.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        problems.append(f"Redis may evict keys (maxmemory-policy {policy}): a queued order or a risk limit could vanish when it fills; {FIX}")
    return Durability(problems)


def warn_at_start(connection: redis.Redis, role: str) -> None:
    """Log the verdict's problems, one line each, at a role's start; never raises."""
    try:
        verdict = judge(connection)
    except redis.RedisError as error:
        log.warning("%s: could not ask Redis how it keeps its data (%s)", role, error.__class__.__name__)
        return
    for problem in verdict.problems:
        log.warning(problem)
