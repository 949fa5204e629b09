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
from typing import Any
from weakref import WeakKeyDictionary

import redis

log = logging.getLogger("router.stream_backlog")
MAX_PENDING = 1_000  # entries per connection; a few minutes of a busy day's audit entries
MAX_FLUSHED_PER_WRITE = 100  # a write after an outage carries at most this many old entries, so no one answer waits long

Entry = tuple[str, dict[Any, Any], int]  # stream, fields, maxlen
_lock = threading.Lock()
_pending: WeakKeyDictionary[Any, deque[Entry]] = WeakKeyDictionary()


def xadd(connection: redis.Redis, stream: str, fields: dict[Any, Any], maxlen: int) -> str | None:
    """Append `fields` to `stream` after any entries still waiting for this Redis; the new entry's id, or None when it waits too."""
    with _lock:
        waiting = _pending.get(connection)
        earlier = [waiting.popleft() for _ in range(min(len(waiting), MAX_FLUSHED_PER_WRITE))] if waiting else []
    entries = [*earlier, (stream, fields, maxlen)]
    for written, (name, values, cap) in enumerate(entries):
        try:
            entry_id: Any = connection.xadd(name, values, maxlen=cap, approximate=True)
        except redis.RedisError as failure:
            _keep(connection, entries[written:])
            log.error("Redis refused a %s entry (%s); %d kept to write later", name, failure.__class__.__name__, pending(connection))
            return None
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _keep(connection: redis.Redis, entries: list[Entry]) -> None:
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
