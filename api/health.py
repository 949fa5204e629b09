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
from common.store import durability, keys, terminals, tradability

bp = Blueprint("health", __name__, url_prefix="/qmt/trade/api")
WORKER_STALE_SECONDS = tradability.WORKER_STALE_SECONDS  # the worker beats every 2 s, even while a job blocks it


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
    for terminal in terminals.terminals(settings):
        beat = _hash(connection, terminal.heartbeat_key)
        age = _age(beat)
        ages.append(age)
        alive = age is not None and age < WORKER_STALE_SECONDS
        workers.append(
            {"terminal": terminal.name, "alive": alive, "heartbeat_age": age, "broker": beat.get("broker"), "accounts": list(terminal.accounts)}
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
            "worker": {"alive": worker_alive, "heartbeat_age": worker_age, "broker": workers[0]["broker"]},
            "terminals": workers,
            "scheduler": {"alive": scheduler_age is not None and scheduler_age < tradability.SCHEDULER_STALE_SECONDS, "heartbeat_age": scheduler_age},
            "accounts": accounts,
            "queues": router().desk.queue_depths(),
            # the scheduler's latest verdict on today (session true/false/null) and when the calendar's data runs out
            "calendar": _json(connection, keys.CALENDAR_STATUS),
            "redis": _redis_keeps(settings, connection),
        }
    )
