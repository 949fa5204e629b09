"""The worker's lease on its terminal: one active worker per QMT terminal, a standby that takes over.

The active worker holds `qmt:worker:lease:<terminal>` (a token with a time to live) and renews it
with its heartbeat; a standby waits until the lease lapses (the active one killed, its machine off,
its network cut) and takes it. A worker that finds another holding its lease stops taking jobs and
stands by; one that finds it lapsed with nobody holding it (Redis restarted, even empty, or this
process paused) takes it again. Every send to QMT is preceded by `held()` — QMT has no fencing
token, so that check is the fence. What remains
is the moment between the check and the send (docs/internals.md, "Terminals and a standby").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import cast

import redis

from common.store import replication
from common.store.replication import Confirm
from common.store.scripts import fences

log = logging.getLogger("worker.lease")
POLL_SECONDS = 0.5  # how often a standby asks for the lease


class LeaseLost(Exception):
    """This worker no longer holds its terminal's lease: another worker is (or may be) active."""


class Lease:
    """One worker's claim on one terminal."""

    def __init__(self, connection: redis.Redis, key: str, seconds: int, confirm: Confirm | None = None):
        self.connection = connection
        self.confirm = confirm  # REDIS_WAIT_REPLICAS: the lease is taken, and each send fenced, only once a replica has it
        self.confirmed = True  # the replicas' last word on the lease (with `confirm`: check_replicas), for the log
        self.key = key
        self.seconds = seconds
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = threading.Event()  # another worker holds the lease: this one stands by
        self.retaken = threading.Event()  # it had lapsed and is ours again: check the jobs left running before the next

    def acquire(self, stopping: threading.Event) -> bool:
        """Wait until the lease is ours (True), or until `stopping` is set (False)."""
        announced = False
        while not stopping.is_set():
            try:
                if self._taken():
                    self.lost.clear()
                    self.retaken.clear()  # start-up checks the jobs left running anyway
                    log.info("active on %s (lease %s)", self.key, self.token)
                    return True
                if not announced:
                    holder = self.connection.get(self.key)
                    log.warning("standby: %s is held by %s; taking over when it lapses (%d s)", self.key, holder, self.seconds)
                    announced = True
            except redis.RedisError as error:
                log.warning("lease not asked for: Redis %s", error.__class__.__name__)
            stopping.wait(POLL_SECONDS)
        return False

    def _taken(self) -> bool:
        """Take the lease if nobody holds it; with `confirm`, taken only once a replica has it (else asked again)."""
        if self.confirm is None:
            return bool(self.connection.set(self.key, self.token, nx=True, px=self.seconds * 1000))
        answer, confirmed = fences.renew_or_retake_confirmed(self.connection, self.key, self.token, self.seconds * 1000, self.confirm)
        if answer and not confirmed:
            log.warning("lease %s set, but no replica confirmed it within %d ms: not active yet", self.key, self.confirm.timeout_ms)
        return bool(answer) and confirmed

    def renew(self) -> bool:
        """Extend the lease, or take it again when it lapsed and nobody holds it; False (and `lost` set) when another
        worker holds it now. A Redis error keeps the verdict for later. With `confirm` the replicas are asked apart
        (check_replicas), so that a silent replica never slows the heartbeat that renews."""
        try:
            renewed = fences.renew_or_retake(self.connection, self.key, self.token, self.seconds * 1000)
        except redis.RedisError as error:
            log.warning("lease not renewed: Redis %s", error.__class__.__name__)
            return not self.lost.is_set()
        if renewed == 2:
            log.warning(
                "the lease on %s had lapsed and nobody held it (Redis restarted or unreachable, or this process paused, for "
                "longer than %d s): taken again; jobs left running are checked against the broker before the next one",
                self.key,
                self.seconds,
            )
            self.retaken.set()
        if renewed:
            return True
        self._held_by_another()
        return False

    def check_replicas(self) -> bool:
        """With `confirm`: do the replicas hold this worker's lease now (its GET, a mark and a WAIT on one connection:
        common.store.replication)? Told when it changes. Asked from the failover watch's thread (worker.failover), apart
        from the heartbeat: a WAIT of REDIS_WAIT_MS on a silent replica must not make the worker look silent. An unconfirmed
        lease is kept: each send's fence asks the replicas itself and refuses while they do not confirm (worker.fence)."""
        if self.confirm is None:
            return True
        try:
            holder, confirmed = replication.run_confirmed(self.connection, self.confirm, lambda pipe: pipe.get(self.key))
        except redis.RedisError:
            holder, confirmed = None, False
        confirmed = confirmed and (holder.decode() if isinstance(holder, bytes) else holder) == self.token
        if confirmed != self.confirmed:  # told when it changes, not at every check
            self.confirmed = confirmed
            if confirmed:
                log.warning("lease %s: a replica confirms it again; orders are sent again", self.key)
            else:
                log.warning("lease %s: no replica confirmed it within %d ms; no order is sent until one does", self.key, self.confirm.timeout_ms)
        return confirmed

    def note_replicas(self, confirmed: bool) -> None:
        """What a send's own WAIT found (worker.fence): while the replicas do not confirm, the fence asks them only briefly
        (fence.AWAY_WAIT_MS), until a send or a look of check_replicas is confirmed again. Told when it changes."""
        if confirmed != self.confirmed:
            self.confirmed = confirmed
            wait = self.confirm.timeout_ms if self.confirm else 0
            if confirmed:
                log.warning("lease %s: a replica confirms a send again; orders are sent again", self.key)
            else:
                log.warning("lease %s: no replica confirmed a send within %d ms; no order is sent until one does", self.key, wait)

    def held(self) -> bool:
        """The fence: does this worker still hold the lease, right now (one round trip)? False on any doubt."""
        if self.lost.is_set():
            return False
        try:
            holder = cast("bytes | None", self.connection.get(self.key))  # redis-py types a sync answer as maybe Awaitable
        except redis.RedisError:
            return False
        return self.judge(holder.decode() if holder is not None else None)

    def judge(self, holder: str | None) -> bool:
        """Is `holder` (the lease's value just read; None: nobody) this worker? Another worker's: `lost` is set. Nobody's
        (lapsed): not now, but the renewal takes it again within a heartbeat, so this worker does not stand by."""
        if holder == self.token:
            return True
        if holder is not None:
            self._held_by_another(holder)
        return False

    def _held_by_another(self, holder: str | None = None) -> None:
        if not self.lost.is_set():
            if holder is None:
                try:
                    found = cast("bytes | None", self.connection.get(self.key))  # as in held()
                    holder = found.decode() if found is not None else "?"
                except redis.RedisError:
                    holder = "?"
            log.error("worker %s holds the lease on %s now: this worker takes no more jobs and stands by", holder, self.key)
        self.lost.set()

    def release(self) -> None:
        """Give the lease up at a clean stop, so a standby takes over at once."""
        try:
            fences.release(self.connection, self.key, self.token)
        except redis.RedisError:
            pass  # it lapses by itself
