"""The last step before an order goes to QMT, in one round trip to Redis (a Lua script, atomic):

1. the fence: this worker still holds its terminal's lease (worker.lease; skipped when it runs without one);
2. the risk limits the order was just checked against are still the stored ones (common.rules.risk.assumed).

Any doubt means the order is not sent: a lost lease, a Redis error or no answer. The job's "sent" event is not
written here: only once the broker accepted the call (worker.jobs), so an answer lost after this check can never
leave a "sent" for an order the broker never got.
"""

from __future__ import annotations

from typing import Literal, cast

import redis

from common.store import connections as store
from common.store import keys
from worker.lease import Lease

LUA = """
if KEYS[1] ~= "" then
  local holder = redis.call("GET", KEYS[1])
  if holder ~= ARGV[1] then return {"lost", holder or ""} end
end
local stored = redis.call("GET", KEYS[2])
if not stored then stored = "" end
if stored ~= ARGV[2] then return {"stale", stored} end
return {"ok", ""}
"""

Verdict = Literal["ok", "lost", "stale", "unanswered"]


def before_send(connection: redis.Redis, lease: Lease | None, limits_json: str) -> tuple[Verdict, str]:
    """("ok", ""): send now. ("stale", the stored limits' JSON): check the order again with them.
    ("lost", the holder or "" for nobody) or ("unanswered", the Redis error): do not send."""
    try:
        verdict, detail = store.script(connection, LUA)(
            keys=[lease.key if lease else "", keys.RISK_LIMITS],
            args=[lease.token if lease else "", limits_json],
        )
    except redis.RedisError as error:
        return "unanswered", error.__class__.__name__
    verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
    if verdict == "lost" and lease is not None:
        holder = detail.decode() if isinstance(detail, bytes) else detail
        lease.judge(holder or None)  # another's: stand by; lapsed: the renewal takes it again
    return cast(Verdict, verdict), detail.decode() if isinstance(detail, bytes) else detail  # the script answers one of them
