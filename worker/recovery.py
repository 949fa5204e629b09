"""At start, settle the jobs a dead worker left running — without ever resending an order.

An order job that was running when its worker died either reached the broker (an order carries
the job's tag in order_remark) or did not. Before taking new jobs, the worker looks for each such
tag among the broker's orders of every day since the job started and records `submitted` (with the
order id) or `not_submitted`; where the broker cannot say for those days (QMT answers for today only),
`unknown` with the tag to look for in the terminal — never "not sent". The end is told as the worker
tells any job's (worker.sends.settle_order). Cancels and queries are safe to repeat and go back to the front of their queue.
This runs before RQ's own abandoned-job sweep, which would only call them failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import cast

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from common.config import clock
from common.config.settings import Settings
from common.rules.exceptions import BrokerUnavailable, UnknownAccount
from common.rules.loose_types import RedisReply
from common.store import jobqueue, keys, rq_model, terminals
from common.store.jobqueue import queue
from common.store.payloads import OrderPayload, OrderResult
from worker.broker_api import BrokerAccounts, Order
from worker.jobs import order_basics
from worker.sends import found_result, settle_order

log = logging.getLogger("worker.recovery")
SETTLE_WAIT = 1.0  # seconds to let the broker record an order that was in flight before concluding it never arrived
PENDING_GRACE = 300.0  # seconds an id may sit on the pending index before its job exists (an enqueue under way) before it is dropped


def reconcile(
    connection: redis.Redis,
    brokers: BrokerAccounts,
    job_ttl: int,
    queues: tuple[str, ...] = keys.QUEUES_BY_PRIORITY,
    order_ttl: int = 60,
    in_flight: Callable[[str], bool] = lambda _tag: False,
    send_window: float = SETTLE_WAIT,
    never_sent_here: Callable[[str, float | None], bool] = lambda _tag, _created_at: False,
) -> dict[str, str]:
    """Settle every job left in a started registry of our queues; returns {job_id: what was recorded}.

    Call it before this worker takes jobs: then whatever is in those registries was left by a dead worker, or by this
    process before Redis went away. `in_flight(tag)`: this process sent that job's order and the broker has not yet
    answered (the send may still place it), so an order not found is `unknown`, never "not sent". `send_window`: how long
    a send can still reach the broker (BROKER_CALL_TIMEOUT with sends in flight: a terminal works through the async sends
    it was given even after their worker died), waited out from the start of this reconciliation before an order not
    found is "not sent". `never_sent_here(tag, created_at)`: this process took that job and never called the broker for it (a
    failover, or Redis going away, cut it off before its send): its order not found is "not sent" without that wait.
    """
    settled: dict[str, str] = {}
    window = _SendWindow(send_window)
    for queue_name in queues:
        registry = StartedJobRegistry(queue_name, connection=connection, serializer=JSONSerializer)
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            except NoSuchJobError:  # aged out: nothing left to settle
                connection.zrem(registry.key, f"{job_id}:{execution_id}", job_id)
                continue
            if queue_name.split("@")[0] == keys.ORDER_QUEUE:  # order@<terminal> too
                created_at = ((job.kwargs.get("payload") or {}).get("meta") or {}).get("created_at")
                sending = None if never_sent_here(job_id, created_at) else window  # None: no send of it can be landing
                settled[job_id] = _settle_order(connection, registry, job, brokers, job_ttl, order_ttl, in_flight(job_id), sending)
            else:  # cancels and queries are safe to run again
                registry.remove_executions(job)
                connection.zrem(registry.key, job.id)
                _requeue(connection, queue_name, job)
                settled[job_id] = "requeued"
            log.warning("recovered job %s left running by %s: %s", job_id, job.worker_name or "a dead worker", settled[job_id])
    # no worker is running yet: every popped-but-never-started job goes back to the front of its queue
    settled.update(requeue_orphans(connection, {**_orphans_from_before_the_index(connection, queues), **find_orphans(connection, queues)}))
    return settled


def _orphans_from_before_the_index(connection: redis.Redis, queues: tuple[str, ...]) -> dict[str, str]:
    """Once per deployment: orphans queued by a version without the pending index, found the slow way (every job key)."""
    marker = f"{keys.PENDING_INDEXED}:{queues[0]}"  # per terminal: each sweeps its own queues once
    if connection.exists(marker):
        return {}
    waiting = {name: set(_listed(connection, name)) for name in queues}
    found: dict[str, str] = {}
    for key in connection.scan_iter(match="rq:job:*", count=1000):
        parts = key.decode().split(":")
        if len(parts) != 3:
            continue  # rq:job:<id>:dependents and the like
        status, origin = cast(list[bytes | None], connection.hmget(key, ["status", "origin"]))  # a sync client's answer
        origin_name = origin.decode() if origin else ""
        if status == b"queued" and origin_name in waiting and parts[2] not in waiting[origin_name]:
            found[parts[2]] = origin_name
    connection.set(marker, "1")
    return found


def _listed(connection: redis.Redis, queue_name: str) -> list[str]:
    """The job ids on a queue, head first."""
    return [raw.decode() for raw in cast(list[bytes], connection.lrange(queue(connection, queue_name).key, 0, -1))]  # a sync client's answer


def find_orphans(connection: redis.Redis, queues: tuple[str, ...] = keys.QUEUES_BY_PRIORITY) -> dict[str, str]:
    """Jobs `queued` yet in no queue: {job_id: queue name}.

    With several queues RQ pops with BLPOP, so a worker killed between the pop and the start, or a
    pop whose answer was lost when Redis went away, leaves such a job, and RQ never finds it.
    It never ran, so even an order is safe to run (its deadline still applies). A running worker
    also holds each job it takes in this state for a moment: see OrphanWatch.

    It looks only at the pending index (keys.PENDING_JOBS: every job is put on it before it is
    queued, common.store.jobqueue.enqueue), never at the finished jobs Redis keeps for JOB_TTL, and drops
    from it the jobs seen started or ended, and ids whose job never appeared after PENDING_GRACE.
    """
    waiting = {name: set(_listed(connection, name)) for name in queues}
    pending: RedisReply = connection.zrange(keys.PENDING_JOBS, 0, -1, withscores=True)
    if not pending:
        return {}
    with connection.pipeline(transaction=False) as pipe:
        for raw_id, _ in pending:
            pipe.hmget(f"rq:job:{raw_id.decode()}", ["status", "origin"])
        states = pipe.execute()
    found: dict[str, str] = {}
    done: list[bytes] = []
    stale = time.time() - PENDING_GRACE
    for (raw_id, queued_at), (status, origin) in zip(pending, states, strict=True):
        if status is None:
            if queued_at < stale:  # its enqueue failed, or it aged out
                done.append(raw_id)
        elif status != b"queued":
            done.append(raw_id)  # started (recovery settles those from the started registries) or ended
        else:
            origin = origin.decode() if origin else ""
            if origin in waiting and raw_id.decode() not in waiting[origin]:
                found[raw_id.decode()] = origin
    if done:
        connection.zrem(keys.PENDING_JOBS, *done)
    return found


def requeue_orphans(connection: redis.Redis, orphans: dict[str, str]) -> dict[str, str]:
    released: dict[str, str] = {}
    for job_id, origin in orphans.items():
        try:
            job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) != JobStatus.QUEUED:
            continue
        _requeue(connection, origin, job)
        released[job_id] = "requeued (taken off the queue but never started)"
        log.warning("job %s was taken off %s but never started: queued again", job_id, origin)
    return released


class OrphanWatch:
    """While the worker runs: requeue jobs that stay orphaned across two scans.

    The worker itself holds a job it has just popped in the orphan state for milliseconds before
    starting it; a job still orphaned a whole scan interval later was lost (e.g. the pop's answer
    died with a Redis connection) and is requeued.
    """

    def __init__(self, connection: redis.Redis, queues: tuple[str, ...] = keys.QUEUES_BY_PRIORITY):
        self._connection = connection
        self._queues = queues
        self._suspects: dict[str, str] = {}

    def scan(self) -> dict[str, str]:
        current = find_orphans(self._connection, self._queues)
        lost = {job_id: origin for job_id, origin in current.items() if job_id in self._suspects}
        self._suspects = {job_id: origin for job_id, origin in current.items() if job_id not in lost}
        return requeue_orphans(self._connection, lost) if lost else {}


def _requeue(connection: redis.Redis, queue_name: str, job: Job) -> None:
    """At the front of its queue again, and watched again (the pending index): common.store.jobqueue.requeue."""
    jobqueue.requeue(connection, job.id, queue_name)


def _settle_order(
    connection: redis.Redis,
    registry: StartedJobRegistry,
    job: Job,
    brokers: BrokerAccounts,
    job_ttl: int,
    order_ttl: int,
    in_flight: bool,
    window: _SendWindow | None = None,
) -> str:
    """Look for the order of a job a dead worker left running by its tag, on every day it could have reached the broker,
    and settle the job with what was found (sends.settle_order: result, order state, the closing event, told once).
    `window`: how long a send of it may still be landing, waited out before an order not found is "not sent"; None when
    none can be (this process took the job and never called the broker for it)."""
    order = OrderPayload.model_validate(job.kwargs["payload"])
    base = order_basics(order)
    started = _queued_day(order, order_ttl)
    found: Order | None = None
    try:
        orders = _orders_since(brokers, order, started)
        found = _by_tag(orders, job.id)
        if found is None and orders is not None and window is not None:  # a send of it may still be landing
            window.wait_for(job)
            orders = _orders_since(brokers, order, started)
            found = _by_tag(orders, job.id)
    except (UnknownAccount, BrokerUnavailable):
        result = OrderResult(
            outcome="unknown",
            error=f"the worker stopped while placing this order and the broker could not be asked; look for order_remark {job.id} in QMT",
            **base,
        )
    else:
        if found is not None:
            result = found_result(found, {**base, "volume": found.volume, "price": found.price})
        elif orders is None:  # the broker answers for today only: whether it reached the broker on that day is not known
            result = OrderResult(
                outcome="unknown",
                error=f"the worker stopped while placing this order on {started}, and the broker can no longer say whether it "
                f"received it: look for order_remark {job.id} among that day's orders in QMT before sending it again",
                **base,
            )
        elif in_flight:  # this process's send of it is still unanswered: the broker may place it yet
            result = OrderResult(
                outcome="unknown",
                error=f"the broker has not answered this order's send yet and may still place it: look for order_remark {job.id} in QMT "
                "before sending it again",
                **base,
            )
        else:
            result = OrderResult(outcome="not_submitted", error="the worker stopped before the order reached the broker; never sent", **base)
    if not rq_model.finish_job(connection, job, result.model_dump(), job_ttl, started=registry, if_started=True):
        registry.remove_executions(job)  # its send's own thread ended it while this looked for its order: told already
        connection.zrem(registry.key, job.id)
        return "ended by its send's thread"
    settle_order(connection, order, job.id, result.model_dump(), found=found, job_ttl=job_ttl)
    return result.outcome


class _SendWindow:
    """How long to wait before an order not found can be called never sent, once per reconciliation: `seconds` after it
    began. When a dead worker sent is unknown: a job's start says nothing of it (a job that waited for its broker to come
    online, or for slow sizing queries, sends long after it started), and the fence only says it sent before this worker
    took the lease, so before this began."""

    def __init__(self, seconds: float):
        self.seconds = max(seconds, SETTLE_WAIT)
        self.began = time.time()

    def wait_for(self, job: Job) -> None:  # noqa: ARG002 - every job's send may have been the dead worker's last act
        time.sleep(max(0.0, self.began + self.seconds - time.time()))


def _queued_day(order: OrderPayload, order_ttl: int) -> date:
    """The first day (Shanghai) the order could have reached the broker: when it was queued, by the router's clock
    (its deadline is that moment plus ORDER_TTL); never after today."""
    queued = datetime.fromtimestamp(order.deadline - order_ttl, clock.SHANGHAI).date()
    return min(queued, clock.today())


def _orders_since(brokers: BrokerAccounts, order: OrderPayload, day: date) -> list[Order] | None:
    """The account's orders from `day` to today; None when the broker cannot say for those days. Raises UnknownAccount,
    or BrokerUnavailable when the broker cannot be asked."""
    broker = brokers.broker(order.account_index)
    if not broker.connected and not broker.wait_online(broker.call_timeout):
        raise BrokerUnavailable(f"the broker of trader_index {order.account_index} stayed disconnected")
    return broker.orders_since(day)


def _by_tag(orders: list[Order] | None, tag: str) -> Order | None:
    return next((o for o in orders or [] if o.order_remark == tag), None)


def carry_to_terminals(connection: redis.Redis, settings: Settings) -> dict[str, str]:
    """Jobs on the plain queues (queued before the accounts were split into terminals), or on a terminal's queues under
    the name an earlier version gave it, go to their terminal's queues.

    Returns {job_id: queue it moved to}. A job for no account (an accounts query) goes to the first terminal.
    """
    found = terminals.terminals(settings)
    if found[0].name == terminals.DEFAULT:
        return {}  # one terminal: it serves the plain queues itself
    moved: dict[str, str] = {}
    renamed = terminals.legacy_names(settings)
    for kind in keys.QUEUES_BY_PRIORITY:
        sources = [queue(connection, kind)] + [queue(connection, f"{kind}@{legacy}") for legacy in renamed]
        for source in sources:
            for job_id in _listed(connection, source.name):
                try:
                    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
                    index = (job.kwargs.get("payload") or {}).get("account_index")
                except NoSuchJobError:
                    continue
                target = terminals.of_account(settings, index) if index is not None and index < len(settings.enabled_accounts) else found[0]
                destination = target.queue(kind)
                if jobqueue.requeue(connection, job_id, destination, taken_from=source.name):
                    moved[job_id] = destination
                    log.warning("job %s queued on %s (a name from before): moved to %s", job_id, source.name, destination)
    return moved
