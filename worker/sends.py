"""What an order's send came to, and the end of its job told: the worker's loop (worker.jobs), a send's own thread
(worker.in_flight) and recovery (worker.recovery) all end an order job through here.

A send is never retried and its outcome never guessed: the broker's answer (the order id, or its refusal), or, for a
send unanswered, the broker's word of the job's tag (its pushed order or order error), then a search of its orders by
the tag; `unknown` with the tag to look for when neither finds it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import cast

import redis
from rq.job import Job
from rq.registry import StartedJobRegistry

from common.rules.exceptions import BrokerTimeout, BrokerUnavailable, OrderRefused
from common.rules.loose_types import Json, JsonObject, RedisReply
from common.rules.orders import SIDE_NAMES, status_name
from common.store import audit, events, keys, metrics, rq_model, stream_backlog
from common.store.payloads import OrderPayload, OrderResult
from worker import runtime
from worker.broker_api import Broker, Order, OrderId
from worker.snapshots import order_view

log = logging.getLogger("worker.jobs")  # the order job's own lines, wherever it ends
ORDER_ACK_WAIT = 1.0  # seconds to wait for the broker's first status before the job reports
JOB_END_KEPT = 86_400  # seconds the closing stage told of a job is remembered when the caller names no JOB_TTL


def settle_order(
    connection: redis.Redis,
    order: OrderPayload,
    tag: str,
    result: dict,
    *,
    batch: stream_backlog.Batch | None = None,
    found: Order | None = None,
    job_ttl: int = 0,
) -> None:
    """Tell an order job's end, once: the closing event (why it was never sent, or rejected, or unknown) and the audit
    entry; for the worker finishing a job and for recovery settling one a dead worker left alike.

    A submitted order's later story is the broker's (its order and trade events). `found`: recovery found the order at
    the broker by its tag, so its state now is stored for GET /jobs/<id> (kept `job_ttl` seconds) and told as an event,
    unless the broker's callbacks told that state already (the job ended, but Redis lost its result).
    """
    if result["outcome"] != "submitted":
        told: RedisReply = connection.set(keys.job_end_told(tag), result["outcome"], ex=job_ttl or JOB_END_KEPT, get=True)
        if (told.decode() if isinstance(told, bytes) else told) != result["outcome"]:  # the same end is told once
            events.append(connection, job_event(order, tag, result["outcome"], result.get("error") or ""), batch)
    elif found is not None:
        state = order_view(found)
        stream_backlog.flush(connection)  # a callback's event still waiting for Redis writes its state with it, first
        raw: RedisReply = connection.get(keys.order_state(tag))
        told = json.loads(raw) if raw else {}
        connection.set(keys.order_state(tag), json.dumps(state, ensure_ascii=False), ex=job_ttl or None)
        if (told.get("order_status"), told.get("traded_volume")) != (state["order_status"], state["traded_volume"]):
            events.append(connection, events.OrderEvent(**state, job_id=tag, client_id=order.meta.client_id), batch)
    audit.record(
        connection,
        "order.outcome",
        client_id=order.meta.client_id,
        source=order.meta.source,
        outcome=result["outcome"],
        payload=order.model_dump(mode="json"),
        job_ids=[tag],
        error=result.get("error"),
        batch=batch,
    )


def heard(call: Callable[[], OrderId]) -> OrderId | Exception:
    """What a send came to: the order id, or what it raised (after_send tells them apart)."""
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - every failure is judged by _after_send, never lost
        return error


def end_sent(
    rt: runtime.Runtime, job: Job, order: OrderPayload, tag: str, base: JsonObject, submitted_at: float, broker: Broker, outcome: object
) -> None:
    """On a send's own thread (worker.in_flight): the job's result from the broker's answer, then its end told and its
    result recorded in one transaction, as the worker's loop records a job it ran. A Redis failure here leaves the job
    started: the loop stops and recovery settles it by its tag."""
    heard = outcome if isinstance(outcome, Exception) else OrderId(cast(int, outcome))
    result = after_send(rt, broker, tag, base, submitted_at, heard)
    batch = stream_backlog.Batch()
    settle_order(rt.redis, order, tag, result, batch=batch)
    started = StartedJobRegistry(job.origin, connection=rt.redis, serializer=job.serializer)
    ttl = job.get_result_ttl(rt.settings.JOB_TTL)
    if not rq_model.finish_job(rt.redis, job, result, ttl, started=started, also=batch.write_to, if_started=True):
        # recovery settled it meanwhile (the drain gave up on this thread, or a standby took the lease over): its end is told
        log.warning("job %s was settled by recovery while its send's answer was awaited; %s not recorded again", tag, result["outcome"])
        return
    batch.clear()
    count_job_end(rt.redis, "order", result, order.meta.created_at)


def count_job_end(connection: redis.Redis, kind: str, result: object, created_at: object) -> None:
    """The figures of a job that ended without raising, whether the loop ended it (worker.runner) or its send's own
    thread did (end_sent): the job count by outcome, and for an order the time from its creation to its result."""
    metrics.count(connection, metrics.JOBS, kind=kind, outcome=job_outcome(kind, result))
    if kind == "order" and isinstance(created_at, (int, float)):
        metrics.observe(connection, metrics.ORDER_TO_RESULT, max(time.time() - created_at, 0.0))


def job_outcome(kind: str, result: object) -> str:
    """The outcome label of a job that ended without raising: an order's outcome, a cancel's acceptance, else `done`."""
    if kind == "order" and isinstance(result, dict):
        return str(result.get("outcome", "unknown"))
    if kind == "cancel" and isinstance(result, dict):
        return "accepted" if result.get("accepted") else "refused"
    return "done"


def after_send(rt: runtime.Runtime, broker: Broker, tag: str, base: JsonObject, submitted_at: float, heard: OrderId | Exception) -> dict:
    """An order job's result from what its send came to: the broker's first status of the order, a refusal, or, for a
    send unanswered, whatever the broker says of its tag (never guessed: unknown when it says nothing)."""
    if isinstance(heard, BrokerTimeout):  # the call may still be running: it has as long again to answer before the tag search
        return _settle_unanswered(rt, broker, tag, base, str(heard), wait=rt.settings.BROKER_CALL_TIMEOUT, submitted_at=submitted_at)
    if isinstance(heard, BrokerUnavailable):
        rt.recorder.forget_sent(tag)
        return OrderResult(outcome="not_submitted", error=f"{heard.message}; never sent", **base).model_dump()
    if isinstance(heard, OrderRefused):
        rt.recorder.forget_sent(tag)
        log.info("job %s rejected by broker: %s", tag, heard.message)
        return OrderResult(outcome="rejected", error=heard.message, submitted_at=submitted_at, **base).model_dump()
    if isinstance(heard, Exception):
        log.error("job %s: the send failed unexpectedly; looking for its order by tag", tag, exc_info=heard)
        reason = f"the send failed unexpectedly ({heard.__class__.__name__}: {heard})"
        return _settle_unanswered(rt, broker, tag, base, reason, wait=0.0, submitted_at=submitted_at)
    order_id = heard
    rt.recorder.tell_sent(tag, order_id)
    try:
        state = rt.recorder.wait_for_order(order_id, ORDER_ACK_WAIT)
        rt.recorder.forget(order_id)
        if state is None:
            state = _query_order(broker, order_id) or {}
    except Exception:
        log.exception("job %s: order %s sent; its first status could not be read", tag, order_id)
        state = {}
    log.info("job %s order %s %s", tag, order_id, status_name(state.get("order_status")))
    return _answered(order_id, state, base, submitted_at)


def _answered(order_id: int, state: dict, base: JsonObject, submitted_at: float) -> dict:
    """The result of an order the broker has, from its first state (status 57: the broker rejected it)."""
    status = state.get("order_status")
    rejected = status == 57
    return OrderResult(
        outcome="rejected" if rejected else "submitted",
        order_id=order_id,
        order_status=status,
        status=status_name(status),
        status_msg=state.get("status_msg", ""),
        traded_volume=state.get("traded_volume", 0),
        traded_price=state.get("traded_price", 0.0),
        error=state.get("status_msg") if rejected else None,
        submitted_at=submitted_at,
        **base,
    ).model_dump()


def job_event(order: OrderPayload, tag: str, stage: str, reason: str = "", **sent: Json) -> events.JobEvent:
    """An order job's step for the event stream (sent, or why it never was)."""
    fields = {"symbol": order.symbol, "volume": order.volume, "price": order.price, **sent}
    return events.JobEvent(
        stage=cast(events.JobStage, stage),  # the outcomes that are not "submitted" are stage names too
        job_id=tag,
        client_id=order.meta.client_id,
        account_id=order.account_id,
        account_index=order.account_index,
        side=SIDE_NAMES[order.order_type],
        reason=reason,
        **fields,
    )


def _query_order(broker: Broker, order_id: OrderId) -> dict | None:
    try:
        found = broker.query_order(order_id)
    except BrokerUnavailable:
        return None
    return order_view(found) if found else None


def order_by_tag(broker: Broker, tag: str) -> Order | None:
    """Today's order carrying the job tag `tag` in order_remark, or None. Raises BrokerUnavailable."""
    for found in broker.query_orders(cancelable_only=False):
        if found.order_remark == tag:
            return found
    return None


def found_result(found: Order, base: JsonObject) -> OrderResult:
    """The result of an order job whose order was found at the broker (by its tag)."""
    return OrderResult(
        outcome="submitted",
        order_id=found.order_id,
        order_status=found.order_status,
        status=status_name(found.order_status),
        status_msg=found.status_msg,
        traded_volume=found.traded_volume,
        traded_price=found.traded_price,
        **base,
    )


def _settle_unanswered(rt: runtime.Runtime, broker: Broker, tag: str, base: JsonObject, reason: str, *, wait: float, submitted_at: float) -> dict:
    """order_stock did not answer (in time, or at all): hear the broker's word of the tag for up to `wait` s (a hung call
    may still place the order; its callbacks carry the tag), then look for the order by its tag. Never guessed: what
    neither finds is `unknown`, and the order's "sent" stays expected, told if the broker reports it later."""
    state, refusal = rt.recorder.wait_for_tag(tag, wait)
    if state is None and refusal is None:
        try:
            found = order_by_tag(broker, tag)
        except Exception:  # noqa: BLE001 - the broker cannot be asked now: the outcome stays unknown, never guessed
            found = None
        state = order_view(found) if found is not None else None
    if state is not None:
        log.warning("job %s: %s, but the broker has its order %s", tag, reason, state["order_id"])
        rt.recorder.tell_sent(tag, state["order_id"])
        rt.recorder.forget(state["order_id"])
        return _answered(state["order_id"], state, base, submitted_at)
    if refusal is not None:
        rt.recorder.forget_sent(tag)
        log.info("job %s rejected by broker after an unanswered send: %s", tag, refusal["error_msg"])
        return OrderResult(
            outcome="rejected", order_id=refusal["order_id"], error=refusal["error_msg"], submitted_at=submitted_at, **base
        ).model_dump()
    log.error("job %s: %s, and no order carries its tag yet", tag, reason)
    return OrderResult(
        outcome="unknown", error=f"{reason}; no order with tag {tag} found yet: look for order_remark {tag} in QMT before sending it again", **base
    ).model_dump()
