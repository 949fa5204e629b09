"""Token-held keys: a key whose value is the holder's token, with a time to live, that only its holder extends or
gives up. The worker's lease on its terminal (worker.lease) and the scheduler's leadership (scheduler.routine_loop)
are such keys; `before_send` is the worker's fence, checked in the same round trip as the risk limits."""

from __future__ import annotations

import redis

from common.rules.loose_types import RedisReply
from common.store import connections, keys, replication
from common.store.replication import Confirm

# 1: renewed; 2: it had lapsed and nobody held it: taken again; 0: another holds it.
RENEW_OR_RETAKE = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""
EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# The fence before a send: the lease (KEYS[1], "" when the worker runs without one) still the token's, the stored risk
# limits (KEYS[2]) still the JSON the order was checked against, and, with replicas to confirm, the job (its hash: KEYS[3])
# started on this server: after a failover the server that answers may not have the job's start, nor its taking off the
# queue, and a job still queued there would be taken and sent again.
BEFORE_SEND = """
if KEYS[1] ~= "" then
  local holder = redis.call("GET", KEYS[1])
  if holder ~= ARGV[1] then return {"lost", holder or ""} end
end
local stored = redis.call("GET", KEYS[2])
if not stored then stored = "" end
if stored ~= ARGV[2] then return {"stale", stored} end
if #KEYS > 2 then
  local status = redis.call("HGET", KEYS[3], "status")
  if status ~= "started" then return {"unstarted", status or ""} end
end
return {"ok", ""}
"""


def _text(raw: RedisReply) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def renew_or_retake(connection: redis.Redis, key: str, token: str, ttl_ms: int) -> int:
    """1: extended (ours); 2: it had lapsed with nobody holding it and is ours again; 0: another holds it."""
    return int(connections.script(connection, RENEW_OR_RETAKE)(keys=[key], args=[token, ttl_ms]))


def renew_or_retake_confirmed(connection: redis.Redis, key: str, token: str, ttl_ms: int, confirm: Confirm) -> tuple[int, bool]:
    """renew_or_retake, then WAIT for `confirm`'s replicas on the same connection: (its answer, whether they have it)."""
    answer, confirmed = replication.run_script_confirmed(connection, confirm, RENEW_OR_RETAKE, [key], [token, ttl_ms])
    return int(answer), confirmed


def extend(connection: redis.Redis, key: str, token: str, ttl_ms: int) -> bool:
    """Extend the key's time to live while `token` holds it; False when it does not (lapsed, or another's)."""
    return bool(connections.script(connection, EXTEND)(keys=[key], args=[token, ttl_ms]))


def release(connection: redis.Redis, key: str, token: str) -> bool:
    """Delete the key if `token` holds it (a clean stop hands over at once); False when it did not."""
    return bool(connections.script(connection, RELEASE)(keys=[key], args=[token]))


def before_send(
    connection: redis.Redis, lease_key: str, token: str, limits_json: str, confirm: Confirm | None = None, job_key: str = ""
) -> tuple[str, str]:
    """("ok", ""), ("lost", the holder or "" for nobody) or ("stale", the stored limits' JSON). Raises redis.RedisError.

    With `confirm`, "ok" only once the replicas have everything written before the check (the lease, the job's start:
    common.store.replication); else ("unconfirmed", ""), so a failover cannot lose what a send rests on. With `job_key`
    too (the job's hash), ("unstarted", its status) when this server does not have that job started."""
    script_keys, args = [lease_key, keys.RISK_LIMITS, *([job_key] if confirm is not None and job_key else [])], [token, limits_json]
    if confirm is None:
        verdict, detail = connections.script(connection, BEFORE_SEND)(keys=script_keys, args=args)
        return _text(verdict), _text(detail)
    (verdict, detail), confirmed = replication.run_script_confirmed(connection, confirm, BEFORE_SEND, script_keys, args)
    if _text(verdict) == "ok" and not confirmed:
        return "unconfirmed", ""
    return _text(verdict), _text(detail)
