"""Has a write reached a replica? `WAIT <REDIS_WAIT_REPLICAS> <REDIS_WAIT_MS>` after it, on the same connection.

A master acknowledges a write before its replicas have it; when it dies then, Sentinel promotes a replica without that
write. So what tells a client a job exists (the intake's 202, an idempotent retry's answer) and what the worker's lease
rests on (its acquisition, renewal, and the fence before each send) waits for REDIS_WAIT_REPLICAS replicas to confirm.

WAIT counts the replicas that have the replication stream up to the connection's last write; the stream is one order
for every client, so a write of our own just before the WAIT (REPLICATION_MARK) makes it cover every earlier write of
every client too — the job's "started" state before the fence's check, say. Both go in one pipeline, so the WAIT runs on
the connection that wrote (a pool hands another thread's connection to the next plain command).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

from common.config.settings import Settings
from common.rules.loose_types import RedisArg, RedisReply
from common.store import connections, keys

MARK_TTL_MS = 60_000


@dataclass(frozen=True)
class Confirm:
    """How many replicas must confirm a write, and how long (ms) to wait for them."""

    replicas: int
    timeout_ms: int


def confirm_of(settings: Settings) -> Confirm | None:
    """The wait the settings ask for; None when they ask for none (REDIS_WAIT_REPLICAS=0: a plain REDIS_URL, by default)."""
    return Confirm(settings.REDIS_WAIT_REPLICAS, settings.REDIS_WAIT_MS) if settings.REDIS_WAIT_REPLICAS else None


def run_confirmed(
    connection: redis.Redis, confirm: Confirm, write: Callable[[Pipeline], object], script: str | None = None
) -> tuple[RedisReply, bool]:
    """`write` (queues one command on the pipeline; `script`: the Lua source it runs by EVALSHA), then the mark and the
    WAIT, in one round trip on one connection: (the command's reply, whether enough replicas confirmed it).

    Raises what the command raised (a Lua error, or redis.RedisError when Redis did not answer). A script Redis does not
    know (a new master after a failover) is loaded and run again: NOSCRIPT means it did not run.
    """
    for attempt in (1, 2):
        with connection.pipeline(transaction=False) as pipe:
            write(pipe)
            pipe.set(keys.REPLICATION_MARK, "1", px=MARK_TTL_MS)
            pipe.wait(confirm.replicas, confirm.timeout_ms)
            reply, _, acked = pipe.execute(raise_on_error=False)
        if isinstance(reply, NoScriptError) and script is not None and attempt == 1:
            connection.script_load(script)
            continue
        if isinstance(reply, Exception):
            raise reply
        return reply, not isinstance(acked, Exception) and int(cast(int, acked)) >= confirm.replicas
    raise AssertionError("unreachable")  # the second attempt returns or raises


def run_script_confirmed(
    connection: redis.Redis, confirm: Confirm, source: str, script_keys: Sequence[str], args: Sequence[RedisArg]
) -> tuple[RedisReply, bool]:
    """The Lua `source` with `script_keys` and `args` (as connections.script runs it), confirmed: (reply, confirmed)."""
    sha = connections.script(connection, source).sha
    return run_confirmed(connection, confirm, lambda pipe: pipe.evalsha(sha, len(script_keys), *script_keys, *args), source)


def barrier(connection: redis.Redis, confirm: Confirm) -> bool:
    """Have the replicas everything written so far, by any client? (the mark and a WAIT)"""
    return run_confirmed(connection, confirm, lambda pipe: pipe.ping())[1]


def replicas_online(connection: redis.Redis, max_lag: int = 1) -> int:
    """Replicas the master sees online that acknowledged within `max_lag` seconds (INFO replication)."""
    info = cast("dict[str, RedisReply]", connection.info("replication"))  # a sync client's answer
    online = 0
    for name, value in info.items():
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online" and int(value.get("lag", 99)) <= max_lag:
            online += 1
    return online


def replica_syncing(connection: redis.Redis) -> bool:
    """Is a replica connected and being sent the data (INFO replication: a state other than online)? One coming back."""
    info = cast("dict[str, RedisReply]", connection.info("replication"))  # a sync client's answer
    return any(name.startswith("slave") and isinstance(value, dict) and value.get("state") != "online" for name, value in info.items())
