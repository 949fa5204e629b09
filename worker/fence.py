"""The last step before an order goes to QMT, in one round trip to Redis (a Lua script, atomic):

1. the fence: this worker still holds its terminal's lease (worker.lease; skipped when it runs without one);
2. the risk limits the order was just checked against are still the stored ones (common.risk.assumed);
3. the job's "sent" event is appended to the event stream, before the send, so it comes before the order's own.

Any doubt means the order is not sent: a lost lease, a Redis error or no answer.
"""

from __future__ import annotations

from typing import Literal

import redis

from common import events, keys, store
from worker.lease import Lease

LUA = """
if KEYS[1] ~= "" and redis.call("GET", KEYS[1]) ~= ARGV[1] then return {"lost", ""} end
local stored = redis.call("GET", KEYS[2])
if not stored then stored = "" end
if stored ~= ARGV[2] then return {"stale", stored} end
redis.call("XADD", KEYS[3], "MAXLEN", "~", ARGV[3], "*", "kind", ARGV[4], "ts", ARGV[5], "body", ARGV[6])
return {"ok", ""}
"""

Verdict = Literal["ok", "lost", "stale", "unanswered"]


def before_send(connection: redis.Redis, lease: Lease | None, limits_json: str, sent: events.EventBase) -> tuple[Verdict, str]:
    """("ok", ""): send now, the event is in. ("stale", the stored limits' JSON): check the order again with them.
    ("lost", "") or ("unanswered", the Redis error): do not send; nothing was appended."""
    stream, cap = events.where()
    entry = events.fields(sent)
    try:
        verdict, detail = store.script(connection, LUA)(
            keys=[lease.key if lease else "", keys.RISK_LIMITS, stream],
            args=[lease.token if lease else "", limits_json, cap, entry["kind"], repr(entry["ts"]), entry["body"]],
        )
    except redis.RedisError as error:
        return "unanswered", error.__class__.__name__
    verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
    if verdict == "lost" and lease is not None:
        lease.lost.set()
    if verdict == "ok":
        events.counted(connection, sent)
    return verdict, detail.decode() if isinstance(detail, bytes) else detail
