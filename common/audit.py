"""The audit trail: every order, cancel and config change, accepted or rejected, in a Redis stream and a rotating file.

Entries carry the client id, source address, payload, job ids and outcome; never a secret or a
password. Account numbers are masked wherever a message leaves the machine (mask_account).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from common import keys

log = logging.getLogger("router.audit")  # a rotating file handler is attached by common.logs.configure
STREAM_MAXLEN = 1_000_000
SECRET_FIELDS = frozenset({"password", "secret", "token"})


def mask_account(account_id: str) -> str:
    """`8881234567` -> `888****567`: enough to tell accounts apart, not enough to use one."""
    if len(account_id) <= 6:
        return "*" * len(account_id)
    return f"{account_id[:3]}{'*' * (len(account_id) - 6)}{account_id[-3:]}"


def _scrub(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {k: ("***" if any(s in k.lower() for s in SECRET_FIELDS) else _scrub(v)) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_scrub(item) for item in payload]
    return payload


def record(
    connection: redis.Redis | None,
    action: str,
    *,
    client_id: str,
    source: str,
    outcome: str,
    status: int | None = None,
    payload: Any = None,
    job_ids: list[str] | None = None,
    error: str | None = None,
) -> None:
    """Append one audit entry; a Redis outage loses the stream entry, never the file line (None: Redis is known down, file only)."""
    entry = {
        "ts": round(time.time(), 3),
        "action": action,
        "client_id": client_id,
        "source": source,
        "outcome": outcome,
        "status": status,
        "job_ids": job_ids or [],
        "payload": _scrub(payload),
        "error": error,
    }
    line = json.dumps(entry, ensure_ascii=False, default=str)
    log.info(line)
    if connection is None:
        return
    try:
        connection.xadd(keys.AUDIT_STREAM, {"entry": line}, maxlen=STREAM_MAXLEN, approximate=True)
    except redis.RedisError as failure:
        logging.getLogger("router").error("audit entry not written to Redis (%s); it is in the audit file", failure.__class__.__name__)


def recent(connection: redis.Redis, count: int = 100) -> list[dict]:
    """The newest entries first."""
    entries: Any = connection.xrevrange(keys.AUDIT_STREAM, count=count)
    return [json.loads(fields[b"entry"]) for _, fields in entries]
