"""A budget of `limit` slots per sliding window, shared by every process and timed by Redis's own clock (DingTalk's
20 messages a minute per robot: scheduler.notifier)."""

from __future__ import annotations

import redis

from common.store import connections

# 0 when a slot was taken, else milliseconds until the oldest slot frees. KEYS[1]: the window's sorted set;
# ARGV: the limit, the window in ms, this slot's unique member.
RESERVE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + tonumber(ARGV[2]) - ms)
"""


def reserve(connection: redis.Redis, key: str, limit: int, window_ms: int, member: str) -> int:
    """Take one slot of the window: 0 when taken, else how many milliseconds until one frees."""
    return int(connections.script(connection, RESERVE)(keys=[key], args=[limit, window_ms, member]))
