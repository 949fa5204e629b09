"""The one round trip that queues jobs (common.store.jobqueue.enqueue_all), as a Lua script Redis runs atomically.

In order, all or none:
1. the risk limits the door checked against are still the stored ones (else: "stale" and the stored JSON);
2. no job id exists with another request's fingerprint (else: "conflict", the job's index and that fingerprint);
   a job id that exists with the same fingerprint is an idempotent retry: not queued again, not counted;
3. each counted job takes one from its account's per-second and per-day counters (common.store.scripts.counters, the risk
   gate's own counting); past a cap every count taken is given back (else: "over", the job's index and "second" or "day");
4. each new job: its id on the pending index (worker.recovery), its queue on RQ's list of queues, its
   "accepted" event on the event stream, RQ's job hash (the fields of RQ's own Job.to_dict) and its id at the
   tail of its queue — exactly what RQ's unique enqueue writes.
Answers "ok" and, per job, the event entry id ("" without one) or "=" for an idempotent retry.

`REQUEUE_LUA` puts a job that already exists back on a queue (recovery: a job taken off its queue and never started,
or one queued on the plain queues before the accounts were split into terminals): the same writes as RQ's
`enqueue_job` (status "queued", origin, enqueued_at, the job's TTL, RQ's set of queues, the id pushed) plus the pending
index. These two scripts are the only writers of queue entries, for the desk and recovery alike.

A stored job's meta is RQ's JSONSerializer output, so its fingerprint is read with cjson.
"""

from __future__ import annotations

import redis

from common.rules.loose_types import RedisArg
from common.store import connections as store
from common.store import replication
from common.store.replication import Confirm
from common.store.scripts import counters

LUA = (
    counters.COUNT_LUA
    + """
local n = tonumber(ARGV[7])
local jobs, pos = {}, 8
for j = 1, n do
  local nf = tonumber(ARGV[pos + 7])
  jobs[j] = {id = ARGV[pos], fp = ARGV[pos + 1], counted = ARGV[pos + 2] == "1", kind = ARGV[pos + 3],
             ts = ARGV[pos + 4], body = ARGV[pos + 5], ttl = tonumber(ARGV[pos + 6]), nf = nf, first = pos + 8,
             k = 5 + 4 * (j - 1)}
  pos = pos + 8 + nf
end
if ARGV[1] == "1" then
  local stored = redis.call("GET", KEYS[1])
  if not stored then stored = "" end
  if stored ~= ARGV[2] then return {"stale", stored} end
end
local retry = {}
for j, job in ipairs(jobs) do
  if redis.call("EXISTS", KEYS[job.k]) == 1 then
    local fp = ""
    local meta = redis.call("HGET", KEYS[job.k], "meta")
    if meta then
      local ok, decoded = pcall(cjson.decode, meta)
      if ok and type(decoded) == "table" and type(decoded.fingerprint) == "string" then fp = decoded.fingerprint end
    end
    if fp ~= job.fp then return {"conflict", tostring(j - 1), fp} end
    retry[j] = true
  end
end
local counting, counted_job = {}, {}
for j, job in ipairs(jobs) do
  if job.counted and not retry[j] then
    counting[#counting + 1] = {KEYS[job.k + 2], KEYS[job.k + 3]}
    counted_job[#counting] = j
  end
end
local at, over = count_actions(counting, tonumber(ARGV[3]), tonumber(ARGV[4]))
if at > 0 then return {"over", tostring(counted_job[at] - 1), over} end
local answer = {"ok"}
for j, job in ipairs(jobs) do
  if retry[j] then
    answer[j + 1] = "="
  else
    redis.call("ZADD", KEYS[3], "NX", ARGV[5], job.id)
    redis.call("SADD", KEYS[4], KEYS[job.k + 1])
    local entry = ""
    if job.kind ~= "" then
      entry = redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[6], "*", "kind", job.kind, "ts", job.ts, "body", job.body)
    end
    redis.call("HSET", KEYS[job.k], unpack(ARGV, job.first, job.first + job.nf - 1))
    if job.ttl > 0 then redis.call("EXPIRE", KEYS[job.k], job.ttl) end
    redis.call("RPUSH", KEYS[job.k + 1], job.id)
    answer[j + 1] = entry
  end
end
return answer
"""
)


def run(connection: redis.Redis, keys: list[str], args: list[RedisArg], confirm: Confirm | None = None) -> tuple[list[str], bool]:
    """Run the script (EVALSHA; loaded on first use and again after a Redis restart): its reply as text, and whether
    `confirm`'s replicas have it (True without `confirm`; common.store.replication)."""
    if confirm is None:
        reply, confirmed = store.script(connection, LUA)(keys=keys, args=args), True
    else:
        reply, confirmed = replication.run_script_confirmed(connection, confirm, LUA, keys, args)
    return [part.decode() if isinstance(part, bytes) else str(part) for part in reply], confirmed


# KEYS: 1 job hash, 2 the queue's list, 3 RQ's set of queues, 4 the pending index, 5 the list it is taken off ("" none).
# ARGV: 1 job id, 2 queue name, 3 enqueued_at (RQ's format), 4 pending score, 5 "front" or "back".
# Answers 1 when queued; 0 when the job no longer exists, or was no longer on the list it is taken off (moved already).
REQUEUE_LUA = """
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
if KEYS[5] ~= "" and redis.call("LREM", KEYS[5], 1, ARGV[1]) == 0 then return 0 end
redis.call("HSET", KEYS[1], "status", "queued", "origin", ARGV[2], "enqueued_at", ARGV[3])
local ttl = tonumber(redis.call("HGET", KEYS[1], "ttl") or "")
if ttl and ttl > 0 then redis.call("EXPIRE", KEYS[1], ttl) end
redis.call("SADD", KEYS[3], KEYS[2])
redis.call("ZADD", KEYS[4], ARGV[4], ARGV[1])
if ARGV[5] == "front" then redis.call("LPUSH", KEYS[2], ARGV[1]) else redis.call("RPUSH", KEYS[2], ARGV[1]) end
return 1
"""


def requeue(connection: redis.Redis, keys: list[str], args: list[str | float]) -> bool:
    """Run REQUEUE_LUA; True when the job was queued."""
    return bool(store.script(connection, REQUEUE_LUA)(keys=keys, args=args))
