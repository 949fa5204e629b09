"""The per-account action counters of the rate caps (common.rules.risk: per second and per trading day), counted
atomically in Redis. `COUNT_LUA` is a Lua function the enqueue script (scripts.enqueue) includes; `count_one` runs it
alone for one action (the worker's side cancels)."""

from __future__ import annotations

import redis

from common.rules.loose_types import RedisReply
from common.store import connections

# Counts one action on each (per-second key, per-day key) pair of `pairs`; past a cap every count it took is given back
# and it answers the pair's position (1-based) and "second" or "day"; else 0. Run inside a script, so it is atomic.
COUNT_LUA = """
local function count_actions(pairs, per_second, per_day)
  local taken = {}
  for i, pair in ipairs(pairs) do
    local second = redis.call("INCR", pair[1])
    redis.call("EXPIRE", pair[1], 5)
    local day = redis.call("INCR", pair[2])
    redis.call("EXPIRE", pair[2], 259200)
    taken[#taken + 1] = pair
    local over = nil
    if per_second > 0 and second > per_second then over = "second" elseif per_day > 0 and day > per_day then over = "day" end
    if over then
      for _, p in ipairs(taken) do
        redis.call("DECR", p[1])
        redis.call("DECR", p[2])
      end
      return i, over
    end
  end
  return 0, ""
end
"""
_COUNT_ONE = (
    COUNT_LUA
    + """
local _, over = count_actions({{KEYS[1], KEYS[2]}}, tonumber(ARGV[1]), tonumber(ARGV[2]))
return over
"""
)


def count_one(connection: redis.Redis, second_key: str, day_key: str, per_second: int, per_day: int) -> str:
    """Count one action on both counters; "" when counted, else "second" or "day": the cap it would pass (nothing counted)."""
    over: RedisReply = connections.script(connection, _COUNT_ONE)(keys=[second_key, day_key], args=[per_second, per_day])
    return over.decode() if isinstance(over, bytes) else str(over or "")
