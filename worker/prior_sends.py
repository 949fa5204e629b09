"""The broker's orders as this worker process found them, for the jobs queued before it started.

A job queued before this process started may have been sent by the process before it although Redis shows it queued:
Redis lost the job's start with its last writes (a restart after a power loss under `appendfsync everysec`) and the
worker went down with it. worker.jobs looks such a job up by its tag here before it sends it; one found is never sent
again.
"""

from __future__ import annotations

import threading
import time

from rq.job import Job

from worker.broker_api import Broker, Order

CLOCK_SKEW_SECONDS = 60.0  # the web's clock may run this far ahead of the worker's: a job queued that late is still looked up


class PriorSends:
    """The orders at the broker when this worker process started taking jobs, by account, read once each on first need:
    the sends looked for were made before this process existed."""

    def __init__(self, started: float, skew: float = CLOCK_SKEW_SECONDS, settle: float = 0.0):
        self.started = started + skew  # unix seconds: jobs queued before it are looked up (the web's clock may run ahead)
        self._read_after = started + settle  # a send the process before handed its terminal may land until then
        self._tags: dict[int, dict[str, Order]] = {}
        self._lock = threading.Lock()

    def may_have_sent(self, job: Job) -> bool:
        """Was `job` queued before this process started (so that a process before it may have sent it)?"""
        return job.enqueued_at is not None and job.enqueued_at.timestamp() < self.started

    def order(self, broker: Broker, account_index: int, tag: str) -> Order | None:
        """The broker's order carrying `tag` among those it had when first asked. Raises BrokerUnavailable."""
        with self._lock:
            if account_index not in self._tags:
                time.sleep(max(0.0, self._read_after - time.time()))  # read earlier, a send still landing would be missed
                self._tags[account_index] = {o.order_remark: o for o in broker.query_orders(cancelable_only=False) if o.order_remark}
            return self._tags[account_index].get(tag)
