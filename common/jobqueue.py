"""Putting jobs on the RQ queues and reading them back as clients see them (JobView).

Shared by the web and the scheduler; the worker's functions are named by dotted path only.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from common import events, keys
from common.exceptions import DuplicateJob, EnqueueUnanswered, JobNotFound, StoreUnavailable
from common.orders import ORDER_JUNK
from common.payloads import JOB_ROUTES, CancelPayload, JobView, OrderPayload, QueryPayload, SimDayPayload, new_job_id
from common.payloads import JobStatus as JobStatusName
from common.terminals import Terminal

Payload = OrderPayload | CancelPayload | QueryPayload | SimDayPayload
NO_TIMEOUT = -1  # the worker bounds each broker call itself; RQ's timer would interrupt a call mid-flight
WAIT_MAX_SECONDS = 30
WAIT_SLICE_MS = 500  # one blocking read of a wait: below REDIS_SOCKET_TIMEOUT (≥ 1 s), which would cut a longer one
LATEST_ORDER_FIELDS = ("order_status", "status", "status_msg", "traded_volume", "traded_price")
REJECTED_STATUS = ORDER_JUNK  # a rejection arriving after the job ended
CONNECT_TIMEOUT = "Timeout connecting"  # redis-py's words for a connect timeout (nothing sent), unlike a read timeout
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what RQ accepts as an id


def queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue(
    connection: redis.Redis,
    payload: Payload,
    job_ttl: int,
    job_id: str | None = None,
    fingerprint: str | None = None,
    terminal: Terminal | None = None,
    announce: events.EventBase | None = None,
) -> str:
    """Put one job on its kind's queue (of `terminal`; default: the plain queues) and return its id.

    `announce` (the job's "accepted" event) is appended just before the job exists, so it comes first in the
    stream; it is withdrawn when the job turns out to be a duplicate or Redis refused it.

    Never overwrites an existing job (RQ's atomic unique enqueue).

    Raises DuplicateJob when `job_id` exists already (carrying the existing job's request fingerprint);
    StoreUnavailable when Redis refused it (nothing queued); EnqueueUnanswered, naming the id, when Redis
    took the request but did not answer in time (a frozen server), so the job may appear once it wakes.
    """
    queue_kind, func = JOB_ROUTES[payload.kind]
    queue_name = terminal.queue(queue_kind) if terminal else queue_kind
    job_id = job_id or new_job_id(payload.kind)
    meta = {"kind": payload.kind, "client_id": payload.meta.client_id}
    if fingerprint:
        meta["fingerprint"] = fingerprint
    target = queue(connection, queue_name)
    announced = None
    try:
        # The id goes on the pending index before the job exists, so every queued job is on it (worker/recovery.py
        # finds lost ones there); RQ's own registration of the queue rides in the same round trip.
        with connection.pipeline(transaction=False) as first:
            first.zadd(keys.PENDING_JOBS, {job_id: time.time()}, nx=True)
            first.sadd(Queue.redis_queues_keys, target.key)
            if announce is not None:
                events.append_to(connection, first, announce)
            sent = first.execute()
            announced = sent[2] if announce is not None else None
        # RQ's repeat of that SADD goes into a pipeline never sent; the unique enqueue itself is RQ's atomic script
        with connection.pipeline() as swallowed:
            target.enqueue_call(
                func,
                kwargs={"payload": payload.model_dump(mode="json")},
                job_id=job_id,
                timeout=NO_TIMEOUT,
                result_ttl=job_ttl,
                failure_ttl=job_ttl,
                description=f"{payload.kind} {job_id}",
                meta=meta,
                unique=True,
                pipeline=swallowed,
            )
    except DuplicateJobError:
        if announced is not None:
            events.withdraw(connection, announced)  # the original job was announced when it was queued
        existing = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        raise DuplicateJob(job_id, existing.meta.get("fingerprint")) from None
    except redis.TimeoutError as error:
        if str(error).startswith(CONNECT_TIMEOUT):  # no connection, so nothing was sent
            raise StoreUnavailable(f"Redis did not accept the job: {error.__class__.__name__}") from error
        raise EnqueueUnanswered(
            f"Redis did not answer while job {job_id} was being queued, so whether it was queued is unknown: "
            f"polling GET /qmt/trade/api/jobs/{job_id} is safe (404 once Redis answers: it was not queued), and so is "
            "retrying with the same Idempotency-Key; a retry without one may place the order twice",
            job_id=job_id,
        ) from error
    except redis.RedisError as error:
        if announced is not None:
            events.withdraw(connection, announced)
        raise StoreUnavailable(f"Redis did not accept the job: {error.__class__.__name__}") from error
    return job_id


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def view(connection: redis.Redis, job_id: str) -> JobView:
    """The job as clients see it. Raises JobNotFound for an id that never existed or has aged out."""
    if not JOB_ID.match(job_id):
        raise JobNotFound(f"no job {job_id[:64]!r}: job ids are letters, digits, '_' and '-'")
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        raise JobNotFound(f"no job {job_id}") from None
    except redis.RedisError as failure:
        raise StoreUnavailable(f"Redis did not answer: {failure.__class__.__name__}") from failure
    status = job.get_status(refresh=False)
    result = None
    error: str | None = None
    if status == JobStatus.FINISHED:
        result = job.return_value(refresh=False)
        if result is None:
            latest = job.latest_result()
            result = latest.return_value if latest else None
    elif status == JobStatus.FAILED:
        latest = job.latest_result()
        error = _last_line(latest.exc_string if latest else job.exc_info)
    client_status: JobStatusName = status.value if status else "queued"  # type: ignore[assignment]  # RQ's statuses are ours
    if isinstance(result, dict):
        outcome = result.get("outcome")
        if outcome == "expired":
            client_status = "expired"
        elif outcome in ("rejected", "not_submitted"):
            client_status, error = "failed", result.get("error") or result.get("status_msg")
        elif result.get("accepted") is False:  # a cancel the broker refused
            client_status, error = "failed", result.get("error")
    order_state = None
    if job.meta.get("kind") == "order":
        raw: Any = connection.get(keys.order_state(job_id))
        order_state = json.loads(raw) if raw else None
        if order_state and isinstance(result, dict) and result.get("order_id") == order_state.get("order_id"):
            # the result is what the job saw when it ended; fills and cancels reported since are the order's latest state
            result = {**result, **{k: order_state[k] for k in LATEST_ORDER_FIELDS if k in order_state}}
            if order_state.get("order_status") == REJECTED_STATUS and client_status == "finished":
                client_status, error = "failed", order_state.get("status_msg") or "rejected by the broker"
    return JobView(
        job_id=job.id,
        kind=job.meta.get("kind"),
        client_id=job.meta.get("client_id"),
        status=client_status,
        created_at=_iso(job.created_at),
        enqueued_at=_iso(job.enqueued_at),
        started_at=_iso(job.started_at),
        ended_at=_iso(job.ended_at),
        result=result,
        order=order_state,
        error=error,
    )


def exists(connection: redis.Redis, job_id: str) -> bool:
    """Is the job still kept (not aged out)?"""
    return bool(connection.exists(Job.key_for(job_id)))


def wait(connection: redis.Redis, job_id: str, seconds: float) -> JobView:
    """The job once it has ended, or as it stands after `seconds` (at most WAIT_MAX_SECONDS)."""
    current = view(connection, job_id)
    deadline = time.monotonic() + min(max(seconds, 0.0), WAIT_MAX_SECONDS)
    while current.status in ("queued", "started", "deferred", "scheduled"):
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            break
        try:
            # Blocks on the job's result stream; returns the moment the worker writes a result.
            connection.xread({Result.get_key(job_id): "0-0"}, block=min(left_ms, WAIT_SLICE_MS), count=1)
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis did not answer: {error.__class__.__name__}") from error
        current = view(connection, job_id)
    return current


def _last_line(text: str | None) -> str | None:
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
