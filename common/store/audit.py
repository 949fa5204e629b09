"""The audit trail: every order, cancel and config change, accepted or rejected, in a Redis stream and a rotating file.

Entries carry the client id, source address, payload, job ids and outcome; never a secret or a
password. Account numbers are masked wherever a message leaves the machine (mask_account).

Writing an entry never raises: it happens after the fact (the order is queued), and a failure there
would only make a client retry what was done. The encoder takes anything a client can send — lone
surrogates are escaped (`\\ud800`), nesting deeper than MAX_DEPTH, containers longer than MAX_ITEMS and
text longer than MAX_FIELD_CHARS are cut with a marker, and a whole entry is at most MAX_ENTRY_BYTES.
An entry Redis refuses is kept and written later (common.store.stream_backlog); the file line is written anyway.
"""

from __future__ import annotations

import json
import logging
import time

import redis

from common.rules.loose_types import Json, JsonObject, RedisReply
from common.store import keys, stream_backlog

log = logging.getLogger("router.audit")  # a rotating file handler is attached by common.config.logs.configure
STREAM_MAXLEN = 1_000_000
SECRET_FIELDS = frozenset({"password", "secret", "token"})
MAX_FIELD_CHARS = 1_000  # characters of one text field (a strategy name, an error); longer text is cut with a marker
MAX_DEPTH = 10  # levels of nesting kept; an order body has two
MAX_ITEMS = 100  # entries kept of one object or list
MAX_NODES = 1_000  # values kept in one entry in all
MAX_ENTRY_BYTES = 16 * 1024  # one audit line, in UTF-8


def _text(value: str) -> str:
    """`value` as valid UTF-8 text of at most MAX_FIELD_CHARS characters: lone surrogates escaped, the rest cut with a marker."""
    value = value[: MAX_FIELD_CHARS * 2].encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{value[:MAX_FIELD_CHARS]}...(cut)" if len(value) > MAX_FIELD_CHARS else value


def _bounded(value: Json, depth: int = 0, budget: list[int] | None = None) -> Json:
    """A JSON-able copy of `value`, secrets scrubbed, cut at MAX_DEPTH levels, MAX_ITEMS per container and MAX_NODES in all."""
    budget = [MAX_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return "...(cut)"
    if isinstance(value, int) and value.bit_length() > 256:  # json.dumps refuses integers of more than 4,300 digits
        return f"...(an integer of {value.bit_length()} bits)"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_DEPTH:
        return f"...(nested deeper than {MAX_DEPTH} levels)"
    if isinstance(value, dict):
        found = {}
        for key, item in list(value.items())[:MAX_ITEMS]:
            name = _text(str(key))
            found[name] = "***" if any(s in name.lower() for s in SECRET_FIELDS) else _bounded(item, depth + 1, budget)
        if len(value) > MAX_ITEMS:
            found["..."] = f"+{len(value) - MAX_ITEMS} more"
        return found
    if isinstance(value, (list, tuple)):
        items = [_bounded(item, depth + 1, budget) for item in value[:MAX_ITEMS]]
        return items + ([f"...(+{len(value) - MAX_ITEMS} more)"] if len(value) > MAX_ITEMS else [])
    return _text(str(value))


def encode(entry: JsonObject) -> str:
    """One audit line (JSON, valid UTF-8) of at most MAX_ENTRY_BYTES; never raises on anything a client sent."""
    bounded = _bounded(entry)
    line = json.dumps(bounded, ensure_ascii=False)
    if len(line.encode()) > MAX_ENTRY_BYTES:  # many fields, each within its caps: keep the head of the payload as text
        bounded["payload"] = _text(f"...(cut from {len(line)} chars) {json.dumps(bounded.get('payload'), ensure_ascii=False)}")
        line = json.dumps(bounded, ensure_ascii=False)
    if len(line.encode()) > MAX_ENTRY_BYTES:  # even the other fields are too long: what identifies the request is kept
        kept = {name: bounded.get(name) for name in ("ts", "outcome", "status", "job_ids")}
        line = json.dumps({**kept, **{name: str(bounded.get(name))[:100] for name in ("action", "client_id", "source", "error")}, "cut": True})
    return line


def record(
    connection: redis.Redis | None,
    action: str,
    *,
    client_id: str,
    source: str,
    outcome: str,
    status: int | None = None,
    payload: Json = None,
    job_ids: list[str] | None = None,
    error: str | None = None,
    batch: stream_backlog.Batch | None = None,
) -> None:
    """Append one audit entry to the file and to Redis (None: Redis is known down, the file only).

    With `batch`, the Redis entry waits in it for a pipeline its holder sends (common.store.stream_backlog.Batch).
    Never raises; an entry Redis refuses is written with a later one (common.store.stream_backlog).
    """
    entry = {
        "ts": round(time.time(), 3),
        "action": action,
        "client_id": client_id,
        "source": source,
        "outcome": outcome,
        "status": status,
        "job_ids": job_ids or [],
        "payload": payload,
        "error": error,
    }
    line = encode(entry)
    log.info(line)
    if batch is not None:
        batch.xadd(keys.AUDIT_STREAM, {"entry": line}, STREAM_MAXLEN)
    elif connection is not None:
        stream_backlog.xadd(connection, keys.AUDIT_STREAM, {"entry": line}, STREAM_MAXLEN)


def recent(connection: redis.Redis, count: int = 100) -> list[dict]:
    """The newest entries first."""
    entries: RedisReply = connection.xrevrange(keys.AUDIT_STREAM, count=count)
    return [json.loads(fields[b"entry"]) for _, fields in entries]
