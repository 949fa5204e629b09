"""The one budget of waiting slots: every answer that holds a web thread while it waits draws on it.

A job's `?wait=`, an order's `Prefer: wait=N` (and, as they come, the event stream's `wait=` and
live pages) each hold a server thread for up to WAIT_MAX_SECONDS. Without a budget, 32 long polls
take every thread and `/health` waits behind them. A waiting answer first takes a slot: at most
WAIT_SLOTS in the process and WAIT_SLOTS_PER_CLIENT per client; beyond that it answers at once
with the current state (the job's view; the 202 for a `Prefer: wait`).

Slots are counted in this process, not in Redis: what they protect is this process's own thread
pool, so each web process needs its own count; a slot is given back by a `finally` even when the
wait fails, where a Redis counter would leak slots when a process dies mid-wait and cost two round
trips per wait — and would stop working exactly when Redis is frozen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("router.waiting")


class WaitingSlots:
    """Counts the answers waiting right now, per client and in total; thread-safe."""

    def __init__(self, total: int, per_client: int):
        self.total = total
        self.per_client = per_client
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    @contextmanager
    def slot(self, client_id: str) -> Iterator[bool]:
        """Take a slot for `client_id` for the `with` block: True when granted, False when the budget is spent (answer at once)."""
        with self._lock:
            mine = self._held.get(client_id, 0)
            granted = mine < self.per_client and sum(self._held.values()) < self.total
            if granted:
                self._held[client_id] = mine + 1
        if not granted:
            log.info("no waiting slot for %s (%d held in all): answered at once", client_id, self.held())
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    left = self._held[client_id] - 1
                    if left:
                        self._held[client_id] = left
                    else:
                        del self._held[client_id]

    def held(self, client_id: str | None = None) -> int:
        """Slots held now: by `client_id`, or by everyone."""
        with self._lock:
            return self._held.get(client_id, 0) if client_id is not None else sum(self._held.values())
