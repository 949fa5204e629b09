"""After a failover, the worker checks the jobs it had started before it takes another.

Sentinel promotes a replica when the master dies; the replica holds what the master had confirmed (common.store.
replication) but maybe not the last results the worker wrote, so a job this worker sent and finished can be "started"
again there. The worker's job loop is left, and its restart path settles every job left started by its tag (worker.
recovery.reconcile, as after the worker's own restart), before any new job is taken. The same holds for a Redis that
restarted (appendfsync everysec may lose its last second): a Redis process with another run id is the signal.
"""

from __future__ import annotations

import logging
import threading

import redis

from common.store import sentinel
from worker.lease import Lease

log = logging.getLogger("worker.failover")
POLL_SECONDS = 0.5  # how often the watch asks which Redis answers (INFO server: one round trip)


class FailoverWatch:
    """`moved` is set when another Redis process answers than the one this worker last saw; the runner clears it just
    before it reconciles. With a `lease` that replicas must confirm, each poll also asks whether they hold it
    (Lease.check_replicas): on this thread, so that a silent replica's WAIT never slows the heartbeat."""

    def __init__(self, connection: redis.Redis, lease: Lease | None = None, every: float = POLL_SECONDS):
        self.connection = connection
        self.lease = lease
        self.every = every
        self.moved = threading.Event()
        self._stop = threading.Event()
        self._known: str | None = None
        self._thread = threading.Thread(target=self._watch, name="worker-failover-watch", daemon=True)

    def start(self) -> FailoverWatch:
        self._known = self._server()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _server(self) -> str | None:
        try:
            return sentinel.server_id(self.connection)
        except redis.RedisError:
            return None  # no answer now: looked at again at the next poll

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self._look()
            if self.lease is not None and self.lease.confirm is not None:
                self.lease.check_replicas()

    def _look(self) -> None:
        current = self._server()
        if current is None or current == self._known:
            return
        if self._known is not None:
            log.warning("another Redis answers now (run id %s, was %s: a failover or a restart): the jobs this worker started are "
                        "settled by their tags before it takes another", current[:8], self._known[:8])  # fmt: skip
            self.moved.set()
        self._known = current
