"""Putting jobs on the RQ queues and reading them back as clients see them (JobView).

Shared by the web and the scheduler; the worker's functions are named by dotted path only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import now, utcformat

from common.rules.exceptions import DuplicateJob, EnqueueUnanswered, JobNotFound, StoreUnavailable
from common.rules.loose_types import RedisArg, RedisReply
from common.rules.orders import ORDER_JUNK
from common.store import connections, events, keys, rq_model
from common.store.payloads import JOB_ROUTES, CancelPayload, JobView, OrderPayload, QueryPayload, SimDayPayload, new_job_id
from common.store.payloads import JobStatus as JobStatusName
from common.store.replication import Confirm
from common.store.risk_state import LimitsChanged
from common.store.scripts import enqueue as enqueue_script
from common.store.terminals import Terminal

Payload = OrderPayload | CancelPayload | QueryPayload | SimDayPayload
NO_TIMEOUT = -1  # the worker bounds each broker call itself; RQ's timer would interrupt a call mid-flight
WAIT_MAX_SECONDS = 30
WAIT_SLICE_MS = 500  # one blocking read of a wait: below REDIS_SOCKET_TIMEOUT (≥ 1 s), which would cut a longer one
LATEST_ORDER_FIELDS = ("order_status", "status", "status_msg", "traded_volume", "traded_price")
REJECTED_STATUS = ORDER_JUNK  # a rejection arriving after the job ended
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what RQ accepts as an id


def queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def requeue(connection: redis.Redis, job_id: str, queue_name: str, *, taken_from: str | None = None) -> bool:
    """Put an existing job back on `queue_name`: at the front when it was lost on its way to the worker, at the back
    when `taken_from` (another queue) still holds it, moving it in the same step. False when the job is gone, or was
    no longer on `taken_from` (another worker moved it first). The enqueue script's module writes it (REQUEUE_LUA)."""
    target = queue(connection, queue_name)
    source = queue(connection, taken_from).key if taken_from else ""
    script_keys = [Job.key_for(job_id), target.key, Queue.redis_queues_keys, keys.PENDING_JOBS, source]
    args: list[str | float] = [job_id, queue_name, utcformat(now()), time.time(), "back" if taken_from else "front"]
    return enqueue_script.requeue(connection, script_keys, args)


@dataclass(frozen=True)
class Admit:
    """One job for enqueue_all: its payload, how long RQ keeps it, its id and what comes with it."""

    payload: Payload
    job_ttl: int
    job_id: str
    fingerprint: str | None = None  # the request's, kept in the job's meta: a retry under the same id must match it
    terminal: Terminal | None = None  # whose queues (default: the plain queues)
    announce: events.EventBase | None = None  # the job's "accepted" event, appended just before the job exists
    counters: tuple[str, str] | None = None  # the account's per-second and per-day counter keys (risk_state.counter_keys) it counts on


@dataclass(frozen=True)
class Caps:
    """What the door checked against: the risk limits' stored JSON ("" while none is stored) and the rate caps (0: none)."""

    limits_json: str
    per_second: int
    per_day: int


class CapReached(Exception):
    """Job number `index` of a batch is past its account's `which` ("second" or "day") cap: nothing was queued or counted."""

    def __init__(self, index: int, which: str):
        super().__init__(f"job {index} is past the per-{which} cap")
        self.index = index
        self.which = which


def enqueue(
    connection: redis.Redis,
    payload: Payload,
    job_ttl: int,
    job_id: str | None = None,
    fingerprint: str | None = None,
    terminal: Terminal | None = None,
    announce: events.EventBase | None = None,
    confirm: Confirm | None = None,
) -> str:
    """Put one job on its kind's queue (of `terminal`; default: the plain queues) and return its id (enqueue_all).

    Raises DuplicateJob when `job_id` exists already (carrying the existing job's request fingerprint), and
    what enqueue_all raises.
    """
    admit = Admit(payload, job_ttl, job_id or new_job_id(payload.kind), fingerprint, terminal, announce)
    [(queued, retried)] = enqueue_all(connection, [admit], confirm=confirm)
    if retried:
        raise DuplicateJob(queued, fingerprint)
    return queued


def enqueue_all(connection: redis.Redis, jobs: Sequence[Admit], caps: Caps | None = None, confirm: Confirm | None = None) -> list[tuple[str, bool]]:
    """Queue every job or none, in one round trip (common.store.scripts.enqueue): each (job id, whether it existed already).

    A job whose id exists with the same fingerprint is an idempotent retry: answered, not queued again and not
    counted. With `caps`, the stored risk limits must be the ones checked (LimitsChanged) and each job with
    counters counts against the rate caps (CapReached). Never overwrites an existing job; the job records and
    queues are RQ's own, as its unique enqueue writes them.

    Raises DuplicateJob when an id exists with another fingerprint; StoreUnavailable when Redis refused it (nothing
    queued); EnqueueUnanswered, naming the ids, when Redis took the request but did not answer in time (a frozen
    server), so the jobs may appear once it wakes — all of them or none. With `confirm` (common.store.replication) the
    answer waits for the replicas; when they do not confirm in time, EnqueueUnanswered too: a failover now would lose them.
    """
    ids = [admit.job_id for admit in jobs]
    if len(set(ids)) != len(ids):  # the script checks every id before it writes any: one id twice would be queued twice
        raise ValueError(f"a job id appears twice in one enqueue: {ids}")
    try:
        script_keys, args = _script_arguments(connection, jobs, caps)
    except redis.RedisError as error:  # RQ asks Redis its version once per connection here: nothing of the jobs was sent
        raise StoreUnavailable(f"Redis did not accept the job: {error.__class__.__name__}") from error
    with connections.attempts() as met:
        try:
            answer, confirmed = enqueue_script.run(connection, script_keys, args, confirm)
        except redis.RedisError as error:
            # an attempt that broke or timed out after its send may have run, even when a retry then could not connect
            if any(connections.may_have_run(attempt) for attempt in (*met, error)):
                raise _unknown(
                    ids,
                    "Redis did not answer while job {ids} was being queued, so whether it was queued is unknown",
                    "404 once Redis answers: it was not queued",
                ) from error
            raise StoreUnavailable(f"Redis did not accept the job: {error.__class__.__name__}") from error
    verdict = answer[0]
    if verdict == "stale":
        raise LimitsChanged(answer[1])
    if verdict == "conflict":
        raise DuplicateJob(ids[int(answer[1])], answer[2] or None)
    if verdict == "over":
        raise CapReached(int(answer[1]), answer[2])
    for admit, entry in zip(jobs, answer[1:], strict=True):
        if entry != "=" and admit.announce is not None:
            events.counted(connection, admit.announce)
    if not confirmed:
        raise _unconfirmed(ids, confirm)
    # an attempt lost after its send, then run again by redis-py's retry, finds its own first run: this request's jobs
    ours = any(connections.may_have_run(attempt) for attempt in met)
    return [(job_id, entry == "=" and not ours) for job_id, entry in zip(ids, answer[1:], strict=True)]


def _unconfirmed(ids: list[str], confirm: Confirm | None) -> EnqueueUnanswered:
    """The answer when Redis queued the jobs but too few replicas confirmed them in time: a failover now could lose them."""
    wanted = f"{confirm.replicas} replica(s) within {confirm.timeout_ms} ms" if confirm else "its replicas"
    return _unknown(
        ids,
        f"Redis queued job {{ids}} but {wanted} (REDIS_WAIT_REPLICAS, REDIS_WAIT_MS) did not confirm it, so it could be "
        "lost if Redis fails over now and its outcome is unknown",
        "404: it was lost",
    )


def _unknown(ids: list[str], why: str, not_found: str) -> EnqueueUnanswered:
    """EnqueueUnanswered for jobs whose fate is unknown: `why` (with {ids} for the ids), how to find out and how to
    retry; a fan-out names every id, since all of them were queued or none."""
    unknown = EnqueueUnanswered(
        f"{why.format(ids=', '.join(ids))}: polling GET /qmt/trade/api/jobs/{ids[0]} is safe ({not_found}), and so is "
        "retrying with the same Idempotency-Key; a retry without one may place the order twice",
        job_id=ids[0],
    )
    if len(ids) > 1:
        unknown.details["job_ids"] = ids
    return unknown


def _script_arguments(connection: redis.Redis, jobs: Sequence[Admit], caps: Caps | None) -> tuple[list[str], list[RedisArg]]:
    """The enqueue script's KEYS and ARGV (common.store.scripts.enqueue)."""
    stream, cap = events.where()
    script_keys = [keys.RISK_LIMITS, stream, keys.PENDING_JOBS, Queue.redis_queues_keys]
    args: list[RedisArg] = ["1" if caps else "0", caps.limits_json if caps else "", caps.per_second if caps else 0,
                       caps.per_day if caps else 0, time.time(), cap, len(jobs)]  # fmt: skip
    for admit in jobs:
        queue_kind = JOB_ROUTES[admit.payload.kind][0]
        target = queue(connection, admit.terminal.queue(queue_kind) if admit.terminal else queue_kind)
        fields, ttl = _job_fields(target, admit)
        event = events.fields(admit.announce) if admit.announce is not None else {"kind": "", "ts": "", "body": ""}
        script_keys += [Job.key_for(admit.job_id), target.key, *(admit.counters or ("", ""))]
        args += [admit.job_id, admit.fingerprint or "", "1" if admit.counters else "0", event["kind"], repr(event["ts"]) if event["ts"] else "",
                 event["body"], ttl, len(fields), *fields]  # fmt: skip
    return script_keys, args


def _job_fields(target: Queue, admit: Admit) -> tuple[list[RedisArg], int]:
    """RQ's job hash for `admit` as its unique enqueue writes it (RQ's own Job, prepared for `target` by RQ itself), and the
    hash's TTL (-1: none)."""
    func = JOB_ROUTES[admit.payload.kind][1]
    meta = {"kind": admit.payload.kind, "client_id": admit.payload.meta.client_id}
    if admit.fingerprint:
        meta["fingerprint"] = admit.fingerprint
    job = target.create_job(
        func,
        kwargs={"payload": admit.payload.model_dump(mode="json")},
        job_id=admit.job_id,
        timeout=NO_TIMEOUT,
        result_ttl=admit.job_ttl,
        failure_ttl=admit.job_ttl,
        description=f"{admit.payload.kind} {admit.job_id}",
        meta=meta,
    )
    return rq_model.hash_as_enqueued(target, job)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


UNSHOWN_PAYLOAD = frozenset({"account_id", "meta", "deadline"})  # the number is masked elsewhere; who and when are the view's own


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
        raw: RedisReply = connection.get(keys.order_state(job_id))
        order_state = json.loads(raw) if raw else None
        if order_state and isinstance(result, dict) and result.get("outcome") == "unknown" and order_state.get("order_id"):
            # the send went unanswered and the job ended unknown; the broker has since reported the order with its tag
            late = f"the broker reported order {order_state['order_id']} with this job's tag after the job ended: {result.get('error')}"
            rejected = order_state.get("order_status") == REJECTED_STATUS
            result = {**result, "outcome": "rejected" if rejected else "submitted", "order_id": order_state["order_id"], "resolved": late,
                      "error": order_state.get("status_msg") or "rejected by the broker" if rejected else None,
                      "updated_at": order_state.get("updated_at", result.get("updated_at"))}  # fmt: skip
        if order_state and isinstance(result, dict) and result.get("order_id") == order_state.get("order_id"):
            # the result is what the job saw when it ended; fills and cancels reported since are the order's latest state
            result = {**result, **{k: order_state[k] for k in LATEST_ORDER_FIELDS if k in order_state}}
            if order_state.get("order_status") == REJECTED_STATUS and client_status == "finished":
                client_status, error = "failed", order_state.get("status_msg") or "rejected by the broker"
    payload = (job.kwargs or {}).get("payload") if isinstance(job.kwargs, dict) else None
    return JobView(
        job_id=job.id,
        kind=job.meta.get("kind"),
        client_id=job.meta.get("client_id"),
        account_index=payload.get("account_index") if isinstance(payload, dict) else None,
        status=client_status,
        created_at=_iso(job.created_at),
        enqueued_at=_iso(job.enqueued_at),
        started_at=_iso(job.started_at),
        ended_at=_iso(job.ended_at),
        result=result,
        order=order_state,
        error=error,
        request={k: v for k, v in payload.items() if k not in UNSHOWN_PAYLOAD} if isinstance(payload, dict) else None,
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
