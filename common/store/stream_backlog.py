"""Stream entries (audit trail, events) that Redis refused, kept in memory and written again later.

An audit or event write never fails its caller: the entry happens after the fact (an order already
queued or sent), so an error there would only make a client retry what was done. When Redis refuses
an entry it is logged and kept in this process, per Redis connection, and written before the next
entry to the same Redis — the later retry. At most MAX_PENDING entries wait; more are dropped with a
log line (the audit trail still has them in its file). Entries that wait survive
only as long as the process: the audit file is the durable copy.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from weakref import WeakKeyDictionary

import redis

from common.rules.loose_types import RedisArg, RedisPipeline, RedisReply

log = logging.getLogger("router.stream_backlog")
MAX_PENDING = 1_000  # entries per connection; a few minutes of a busy day's audit entries
MAX_FLUSHED_PER_WRITE = 100  # a write after an outage carries at most this many old entries, so no one answer waits long

Entry = tuple[str, dict[str, RedisArg], int]  # stream, fields, maxlen
Kept = tuple[str, dict[str, RedisArg], int, Callable[[RedisPipeline], None] | None]  # an entry waiting for Redis, with the commands sent beside it
_lock = threading.Lock()
_pending: WeakKeyDictionary[redis.Redis, deque[Kept]] = WeakKeyDictionary()


def xadd(
    connection: redis.Redis, stream: str, fields: dict[str, RedisArg], maxlen: int, also: Callable[[RedisPipeline], None] | None = None
) -> str | None:
    """Append `fields` to `stream` after any entries still waiting for this Redis; the new entry's id, or None when it waits too.

    `also` adds the caller's own commands to the same round trip, before the entry (a pipeline, not a transaction), and
    waits with the entry when Redis refuses it: an order's state is written with the event that tells it, never apart.
    """
    with _lock:
        waiting = _pending.get(connection)
        earlier = [waiting.popleft() for _ in range(min(len(waiting), MAX_FLUSHED_PER_WRITE))] if waiting else []
    return _write(connection, [*earlier, (stream, fields, maxlen, also)])


def flush(connection: redis.Redis) -> None:
    """Write every entry still waiting for this Redis (those Redis refuses wait again): before reading what they write."""
    with _lock:
        waiting = _pending.get(connection)
        earlier = list(waiting) if waiting else []
        if waiting:
            waiting.clear()
    if earlier:
        _write(connection, earlier)


def _write(connection: redis.Redis, entries: list[Kept]) -> str | None:
    """Write `entries` in order; at the first Redis refuses, it and the rest are kept. The last one's id, or None."""
    entry_id: RedisReply = None
    for written, (name, values, cap, also) in enumerate(entries):
        try:
            if also is not None:
                entry_id = _with_also(connection, also, name, values, cap)
            else:
                entry_id = connection.xadd(name, values, maxlen=cap, approximate=True)  # type: ignore[arg-type]  # redis-py wants its own invariant dict type
        except redis.RedisError as failure:
            _keep(connection, entries[written:])
            log.error("Redis refused a %s entry (%s); %d kept to write later", name, failure.__class__.__name__, pending(connection))
            return None
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def run(connection: redis.Redis, commands: Callable[[RedisPipeline], None]) -> None:
    """Send `commands` (they add to a pipeline) in one round trip; a Redis error is logged, never raised."""
    try:
        with connection.pipeline(transaction=False) as pipe:
            commands(pipe)
            pipe.execute()
    except redis.RedisError as failure:
        log.error("Redis refused commands sent beside a stream entry: %s", failure.__class__.__name__)


def _with_also(connection: redis.Redis, also: Callable[[RedisPipeline], None], stream: str, fields: dict[str, RedisArg], maxlen: int) -> RedisReply:
    with connection.pipeline(transaction=False) as pipe:
        also(pipe)
        pipe.xadd(stream, dict(fields), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]  # redis-py wants its own invariant dict type
        *theirs, entry_id = pipe.execute(raise_on_error=False)
    for answer in theirs:
        if isinstance(answer, Exception):
            log.error("Redis refused a command sent with a %s entry: %s", stream, answer)
    if isinstance(entry_id, Exception):
        raise entry_id
    return entry_id


def _keep(connection: redis.Redis, entries: list[Kept]) -> None:
    with _lock:
        waiting = _pending.setdefault(connection, deque())
        waiting.extendleft(reversed(entries))  # before any that other threads kept meanwhile: the older go first
        dropped = max(0, len(waiting) - MAX_PENDING)
        for _ in range(dropped):
            waiting.pop()  # the newest beyond the cap: the older ones keep their order
    if dropped:
        log.error("%d stream entries dropped: more than %d waited for Redis", dropped, MAX_PENDING)


def pending(connection: redis.Redis) -> int:
    """Entries waiting to be written to this Redis."""
    with _lock:
        return len(_pending.get(connection, ()))


class Batch:
    """Stream entries held to ride in a pipeline the caller sends anyway (the worker: RQ's transaction that writes a job's
    result), so they cost no round trip of their own. Whatever is not written that way is written by `flush`."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []

    def xadd(self, stream: str, fields: dict[str, RedisArg], maxlen: int) -> None:
        self._entries.append((stream, fields, maxlen))

    def write_to(self, pipe: RedisPipeline) -> None:
        """Queue the entries in `pipe`; they count as written once the caller's pipeline has run (then call `clear`)."""
        for stream, fields, maxlen in self._entries:
            pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)

    def clear(self) -> None:
        self._entries.clear()

    def flush(self, connection: redis.Redis) -> None:
        """Write what is still held, one by one (kept for later when Redis refuses it, as `xadd`)."""
        entries, self._entries = self._entries, []
        for stream, fields, maxlen in entries:
            xadd(connection, stream, fields, maxlen)
