"""GET /qmt/trade/api/health: is the web up, is the worker alive, is the broker connected, how deep are the queues.

Unauthenticated and free of secrets, so a load balancer or a phone can poll it.
"""

from __future__ import annotations

import json
import time
from typing import cast

import redis
from flask import Blueprint, Response, current_app, jsonify

from api import router
from api.openapi import documented
from api.schemas import HealthAnswer
from common.config.settings import Settings
from common.rules.masking import mask_account
from common.store import durability, keys, replication, sentinel, terminals, tradability

bp = Blueprint("health", __name__, url_prefix="/qmt/trade/api")
WORKER_STALE_SECONDS = tradability.WORKER_STALE_SECONDS  # orders are refused past this
# The worker beats every 0.25 s (worker.runner.HEARTBEAT_SECONDS), even while a job blocks it: a heartbeat older than
# this (by Redis's clock: _silence) says it is not answering, which the status page, asking every second, shows within
# 2 s of a kill, long before orders are refused (stale).
WORKER_SILENT_SECONDS = 0.9


def _hash(connection: redis.Redis, key: str) -> dict[str, str]:
    found = cast("dict[bytes, bytes]", connection.hgetall(key))  # redis-py types a sync client's answer as a union with Awaitable
    return {k.decode(): v.decode() for k, v in found.items()}


def _json(connection: redis.Redis, key: str) -> object:
    raw = cast("bytes | None", connection.get(key))  # as _hash
    return json.loads(raw) if raw else None


def _age(beat: dict[str, str]) -> float | None:
    try:
        return round(time.time() - float(beat["ts"]), 3)
    except (KeyError, ValueError):
        return None


def _silence(connection: redis.Redis, key: str, beat: dict[str, str]) -> float | None:
    """Seconds since the worker's last beat by Redis's clock: each beat sets the key to expire `keep` seconds on, so
    keep − TTL is its age whatever the two machines' clocks say. A worker that writes no `keep` (older): its own clock."""
    try:
        keep = float(beat["keep"])
    except (KeyError, ValueError):
        return _age(beat)
    left_ms = cast("int", connection.pttl(key))  # as _hash
    return round(max(keep - left_ms / 1000, 0.0), 3) if left_ms > 0 else None


def _stopped(beat: dict[str, str]) -> bool:
    """Did the worker say it stopped on purpose after its last beat (worker.runner._mark_stopped)?"""
    try:
        return float(beat["stopped"]) >= float(beat["ts"])
    except (KeyError, ValueError):
        return False


_KEEPS: dict[str, tuple[float, dict[str, object]]] = {}  # REDIS_URL -> (when judged, the verdict): CONFIG asked once a minute
KEEPS_SECONDS = 60.0


def _redis_keeps(settings: Settings, connection: redis.Redis) -> dict[str, object]:
    """Would the Redis in use lose jobs on a restart, or evict keys? (common.store.durability; the embedded stand-in: run.py)"""
    if not settings.REDIS_URL:
        return {"embedded": True, "keeps_data": None, "warnings": []}
    judged = _KEEPS.get(settings.REDIS_URL)
    if judged is None or time.monotonic() - judged[0] > KEEPS_SECONDS:
        verdict = durability.judge(connection)
        judged = (time.monotonic(), {"embedded": False, "keeps_data": verdict.safe if verdict.known else None, "warnings": verdict.problems})
        _KEEPS[settings.REDIS_URL] = judged
    return judged[1]


def _replication(settings: Settings, connection: redis.Redis) -> dict[str, object]:
    """The master in use (host:port: the one the sentinels name, with REDIS_SENTINELS) and whether a replica confirms
    writes: REDIS_WAIT_REPLICAS replicas online and acknowledging (common.store.replication); false when the router does
    not wait for one (REDIS_WAIT_REPLICAS=0). Never raises: a Redis that does not say is null."""
    found: dict[str, object] = {"master": None, "sentinel": bool(settings.REDIS_SENTINELS), "wait_replicas": settings.REDIS_WAIT_REPLICAS,
                                "replicas_online": None, "replica_confirms": False}  # fmt: skip
    if not settings.REDIS_URL:
        return {**found, "master": sentinel.master_in_use(settings, connection), "replicas_online": 0}
    try:
        found["master"] = sentinel.master_in_use(settings, connection)
        online = replication.replicas_online(connection)
    except redis.RedisError:
        return found
    return {
        **found,
        "replicas_online": online,
        "replica_confirms": bool(settings.REDIS_WAIT_REPLICAS) and online >= (settings.REDIS_WAIT_REPLICAS or 0),
    }


@bp.get("/health")
@documented(
    "Can the router trade (can_trade, with the reasons why not); worker and scheduler heartbeats, broker connection per account, queue depths",
    answers={200: HealthAnswer},
    errors=(),
)
def health() -> Response:
    settings, connection = router().settings, router().redis
    scheduler_age = _age(_hash(connection, keys.SCHEDULER_HEARTBEAT))
    workers = []
    ages: list[float | None] = []
    silences: list[float] = []
    for terminal in terminals.terminals(settings):
        beat = _hash(connection, terminal.heartbeat_key)
        age = _age(beat)
        ages.append(age)
        alive = age is not None and age < WORKER_STALE_SECONDS
        stopped = _stopped(beat)
        silence = _silence(connection, terminal.heartbeat_key, beat)
        silences += [silence] if silence is not None else []
        silent = stopped or silence is None or silence > WORKER_SILENT_SECONDS  # not answering now, though not yet stale
        workers.append(
            {
                "terminal": terminal.name,
                "alive": alive,
                "silent": silent,
                "stopped": stopped,
                "heartbeat_age": age,
                "silent_for": silence,  # seconds since the last beat, by Redis's clock
                "broker": beat.get("broker"),
                "accounts": list(terminal.accounts),
            }
        )
    # the whole system's worker is alive when every terminal's is; its age is the stalest
    worker_age = None if None in ages else max(a for a in ages if a is not None)
    accounts = []
    for index, account in enumerate(settings.enabled_accounts):
        connected = connection.hget(keys.broker_connection(index), "connected") == b"1"
        # unauthenticated: account numbers masked
        accounts.append({"index": index, "account_id": mask_account(account.account_id), "connected": connected})
    worker_alive = all(w["alive"] for w in workers)
    verdict = tradability.judge(connection, settings, current_app.config.get("STARTED_AT"))
    return jsonify(
        {
            "success": True,
            "ready": worker_alive and all(a["connected"] for a in accounts),
            # can it trade now: every terminal's worker alive, every account connected, today's calendar known, kill switch off
            "can_trade": verdict.can_trade,
            "state": verdict.state,  # starting (until every worker's first heartbeat), trading, not trading
            "starting_for": verdict.starting_for,
            "reasons": verdict.reasons,
            # silent: a heartbeat older than WORKER_SILENT_SECONDS (or a worker that stopped on purpose): not answering now
            "worker": {
                "alive": worker_alive,
                "silent": any(w["silent"] for w in workers),
                "silent_for": max(silences, default=None),
                "stopped": any(w["stopped"] for w in workers),
                "silent_after": WORKER_SILENT_SECONDS,
                "heartbeat_age": worker_age,
                "broker": workers[0]["broker"],
            },
            "terminals": workers,
            "scheduler": {"alive": scheduler_age is not None and scheduler_age < tradability.SCHEDULER_STALE_SECONDS, "heartbeat_age": scheduler_age},
            "accounts": accounts,
            "queues": router().desk.queue_depths(),
            # the scheduler's latest verdict on today (session true/false/null) and when the calendar's data runs out
            "calendar": _json(connection, keys.CALENDAR_STATUS),
            "redis": {**_redis_keeps(settings, connection), **_replication(settings, connection)},
        }
    )
