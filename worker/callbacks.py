"""xtquant callbacks -> order states and events in Redis, and in-process waiters.

Pushed orders and trades become worker.broker_api types on arrival (worker.xt_broker converts them).
Callbacks arrive on one xtquant (or simulator) thread. Nothing here calls the broker
synchronously: a synchronous call made inside a callback can deadlock QMT.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from pydantic import ValidationError

from common.rules.loose_types import RedisPipeline, RedisReply
from common.store import events, keys, stream_backlog
from worker.broker_api import SendTicket
from worker.snapshots import order_view, trade_view
from worker.xt_broker import order_from_xt, trade_from_xt
from worker.xtquant_sdk import XtAccountStatus, XtCancelError, XtCancelOrderResponse, XtOrder, XtOrderError, XtOrderResponse, XtTrade

log = logging.getLogger("worker.callbacks")
JOB_TAG = re.compile(r"^o[0-9a-f]{16}$")
CLIENTS_REMEMBERED = 10_000  # entries each of the recorder's maps keeps (by job tag or order id), the oldest dropped first
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


def _remember(mapping: dict[K, V], key: K, value: V) -> None:
    """mapping[key] = value, the oldest entries dropped past CLIENTS_REMEMBERED."""
    mapping[key] = value
    while len(mapping) > CLIENTS_REMEMBERED:
        mapping.pop(next(iter(mapping)))


class OrderEventRecorder:
    """The callback object registered with every trader of this worker."""

    def __init__(self, connection: redis.Redis, job_ttl: int):
        self._redis = connection
        self._job_ttl = job_ttl
        self._latest: dict[int, dict] = {}  # order_id -> state, for waiters in this process
        self._errors: dict[str, dict] = {}  # job tag -> order error, for waiters
        self._clients: dict[str, str] = {}  # job tag -> client id, oldest first (events name the client)
        self._unsent: dict[str, events.JobEvent] = {}  # job tag -> its "sent" event, until the broker has the order
        self._tagged: dict[str, int] = {}  # job tag -> order id, for a job whose send went unanswered (wait_for_tag)
        self._answers: dict[tuple[str, int], tuple[int, str, str]] = {}  # (terminal, seq) -> (order id, reason, tag) of async sends
        self._cancels: dict[tuple[str, int], tuple[int, int]] = {}  # (terminal, seq) -> (order id, cancel_result) of async cancels
        self._sends_here: dict[str, tuple[float, bool]] = {}  # job tag -> (created_at, whether this process called the broker)
        self._telling = threading.Lock()  # held while a "sent" is claimed and written: the order's own events come after it
        self._changed = threading.Condition()

    # -- waiting (worker main thread) ------------------------------------------------------
    def wait_for_order(self, order_id: int, timeout: float) -> dict | None:
        """The order's state once the broker reported it (status past 49; 48/49 are not yet at the exchange), or the
        latest after `timeout` s."""
        return self._wait(lambda: self._latest.get(order_id), lambda state: bool(state and state["order_status"] >= 50), timeout)

    def wait_for_tag(self, tag: str, timeout: float) -> tuple[dict | None, dict | None]:
        """The broker's first word of the order tagged `tag`, waiting up to `timeout` s: (its latest state, its order
        error), (None, None) when none came. For a send that went unanswered: the order's callbacks carry the tag."""

        def heard() -> tuple[dict | None, dict | None]:
            order_id = self._tagged.get(tag)
            return (self._latest.get(order_id) if order_id is not None else None), self._errors.get(tag)

        return self._wait(heard, lambda found: found != (None, None), timeout)

    def send_answer(self, ticket: SendTicket, timeout: float) -> tuple[int | None, str | None]:
        """The broker's answer to an async send, waiting up to `timeout` s: (order id, None) once it has the order,
        (order id or None, reason) when it refused it, (None, None) when nothing came. Matched by the call's seq on its
        terminal (an answer naming another tag is a former session's seq), or by the tag: a pushed order, an order error."""

        def heard() -> tuple[int | None, str | None]:
            answer = self._answers.get((ticket.terminal, ticket.seq))
            if answer is not None and answer[2] in ("", ticket.tag):
                order_id, reason, _ = answer
                return order_id, (reason or None) if order_id > 0 else (reason or "the broker refused the order")
            refusal = self._errors.get(ticket.tag)
            if refusal is not None:
                return refusal["order_id"], refusal["error_msg"] or "the broker refused the order"
            return self._tagged.get(ticket.tag), None

        return self._wait(heard, lambda found: found != (None, None), timeout)

    def cancel_answer(self, ticket: SendTicket, timeout: float) -> int | None:
        """The broker's cancel_result for the async cancel `ticket` (its tag: the order id), waiting up to `timeout` s;
        None when nothing came (an answer for another order is a former session's seq)."""

        def heard() -> int | None:
            answer = self._cancels.get((ticket.terminal, ticket.seq))
            return answer[1] if answer is not None and str(answer[0]) == ticket.tag else None

        return self._wait(heard, lambda code: code is not None, timeout)

    def _wait(self, look: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
        """What `look` finds once `done` holds of it, or whatever it finds after `timeout` s (woken by each callback)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = look()
                left = deadline - time.monotonic()
                if done(found) or left <= 0:
                    return found
                self._changed.wait(left)

    def order_error(self, tag: str) -> dict | None:
        with self._changed:
            return self._errors.get(tag)

    def forget(self, order_id: int) -> None:
        with self._changed:
            self._latest.pop(order_id, None)

    def expect(self, tag: str, client_id: str, sent: events.JobEvent | None = None) -> None:
        """The job `tag` is about to send an order for `client_id`: its events will name that client, and `sent` is
        appended once the broker has the order (tell_sent), before the order's first event."""
        with self._changed:
            _remember(self._clients, tag, client_id)
            if sent is not None:
                _remember(self._unsent, tag, sent)

    def taken(self, tag: str, created_at: float) -> bool:
        """This process starts the order job `tag`, whose order was created at `created_at` (a job reusing the id of one
        long gone, an idempotency key used again after JOB_TTL, is another job). True when this process already called
        the broker for this job, or for one under its id created less than JOB_TTL apart (the same Idempotency-Key's retry
        of a job Redis lost whole): Redis gave it back (it lost its last writes in a restart, or a failover did), so
        it must never be sent again; its earlier send stays in mind."""
        with self._changed:
            known = self._sends_here.get(tag)
            # the same id within JOB_TTL is this job, or a retry under its Idempotency-Key of it lost by Redis: never sent again
            if known is not None and known[1] and abs(created_at - known[0]) < self._job_ttl:
                return True
            _remember(self._sends_here, tag, (created_at, False))
            return False

    def calling_broker(self, tag: str, created_at: float) -> None:
        """This process is about to call the broker to send the order of job `tag` (created at `created_at`): from now
        on it may have been sent."""
        with self._changed:
            _remember(self._sends_here, tag, (created_at, True))

    def never_sent_here(self, tag: str, created_at: float | None) -> bool:
        """Did this process take the job `tag` (its order created at `created_at`) and never call the broker for it? Then
        no send of it can still be landing (worker.recovery waits for none). False when it is not known here: another
        process's job, a restored one, another job under the same id, or forgotten."""
        with self._changed:
            return self._sends_here.get(tag) == (created_at, False)

    def awaiting_broker(self, tag: str) -> bool:
        """Did this worker send the job `tag`'s order without the broker having told of it yet (a send that went
        unanswered may still place it)?"""
        with self._changed:
            return tag in self._unsent

    def forget_sent(self, tag: str) -> None:
        """The job's order was never sent: its "sent" is never told."""
        with self._changed:
            self._unsent.pop(tag, None)

    def tell_sent(self, tag: str, order_id: int) -> None:
        """The broker has the job's order: append its "sent" event (with the broker's order id), once, by whichever
        learns it first (the order's first callback, or the send's answer), and before any event of the order itself."""
        if not JOB_TAG.match(tag or ""):
            return
        with self._telling:
            with self._changed:
                found = self._unsent.pop(tag, None)
            if found is not None:
                events.append(self._redis, found.model_copy(update={"order_id": order_id}))

    def _owner(self, remark: str) -> dict[str, str]:
        """job_id and client_id for an order's events, when the order is one of this router's jobs: from memory for the
        orders this worker sent, else from the job kept in Redis (an order sent before a restart still tells its owner)."""
        if not JOB_TAG.match(remark or ""):
            return {}
        with self._changed:
            client_id = self._clients.get(remark)
        if client_id is None:
            client_id = self._stored_owner(remark)
            if client_id:
                self.expect(remark, client_id)
        return {"job_id": remark, "client_id": client_id}

    def _stored_owner(self, tag: str) -> str:
        """The client the job `tag` was queued for, from its job record in Redis; "" when it cannot be read."""
        try:
            meta: RedisReply = self._redis.hget(f"rq:job:{tag}", "meta")
            found = json.loads(meta).get("client_id", "") if meta else ""
        except (redis.RedisError, ValueError, AttributeError) as error:
            log.warning("the owner of order %s could not be read: %s", tag, error.__class__.__name__)
            return ""
        return found if isinstance(found, str) else ""

    # -- xtquant callbacks (broker thread) ---------------------------------------------------
    def on_stock_order(self, pushed: XtOrder) -> None:
        order = order_from_xt(pushed)
        state = order_view(order)
        self.tell_sent(order.order_remark, order.order_id)  # the broker has it: "sent" comes before its states
        # stored before the waiting job hears of it, so a job's result never shows a state GET /jobs/<id> cannot
        self._event(events.OrderEvent, self._state_writer(order.order_remark, state), **state, **self._owner(order.order_remark))
        with self._changed:
            _remember(self._latest, order.order_id, state)  # bounded: later fills and hand orders are kept too
            if JOB_TAG.match(order.order_remark or ""):
                _remember(self._tagged, order.order_remark, order.order_id)
            self._changed.notify_all()

    def on_stock_trade(self, pushed: XtTrade) -> None:
        trade = trade_from_xt(pushed)
        view = trade_view(trade)
        self.tell_sent(trade.order_remark, trade.order_id)
        self._event(events.TradeEvent, **view, **self._owner(trade.order_remark))

    def on_order_error(self, error: XtOrderError) -> None:
        remark = getattr(error, "order_remark", "")
        detail = {
            "order_id": error.order_id,
            "account_id": error.account_id,
            "error_id": error.error_id,
            "error_msg": error.error_msg,
            "order_remark": remark,
        }
        with self._changed:
            _remember(self._errors, remark, detail)
            self._changed.notify_all()
        self._event(events.OrderErrorEvent, **detail, **self._owner(remark))

    def on_send_answer(self, terminal: str, response: XtOrderResponse) -> None:
        """on_order_stock_async_response of the trader of `terminal` (worker.broker.SessionCallback names it)."""
        remark = getattr(response, "order_remark", "") or ""
        order_id = int(response.order_id) if response.order_id is not None else -1
        with self._changed:
            _remember(self._answers, (terminal, int(response.seq)), (order_id, getattr(response, "error_msg", "") or "", remark))
            self._changed.notify_all()
        if order_id > 0:
            self.tell_sent(remark, order_id)  # the broker has it: "sent" before any state of the order

    def on_cancel_answer(self, terminal: str, response: XtCancelOrderResponse) -> None:
        """on_cancel_order_stock_async_response of the trader of `terminal`."""
        with self._changed:
            _remember(self._cancels, (terminal, int(response.seq)), (int(response.order_id), int(response.cancel_result)))
            self._changed.notify_all()

    def on_cancel_error(self, error: XtCancelError) -> None:
        self._event(events.CancelErrorEvent, order_id=error.order_id, account_id=error.account_id, error_id=error.error_id, error_msg=error.error_msg)

    def on_disconnected(self) -> None:
        log.warning("broker disconnected")
        self._event(events.ConnectionEvent, kind="disconnected")

    def on_connected(self) -> None:
        self._event(events.ConnectionEvent, kind="connected")

    def on_account_status(self, status: XtAccountStatus) -> None:
        self._event(events.AccountStatusEvent, account_id=status.account_id, status=status.status)

    # -- storage ----------------------------------------------------------------------------
    def _state_writer(self, tag: str, state: dict) -> Callable[[RedisPipeline], None] | None:
        """The write of a router order's latest state (GET /jobs/<id> shows it), sent with the order's event."""
        if not JOB_TAG.match(tag or ""):
            return None  # an order placed outside the router (by hand in QMT)
        stored = json.dumps(state, ensure_ascii=False)
        return lambda pipe: pipe.set(keys.order_state(tag), stored, ex=self._job_ttl)

    def _event(self, kind: type[events.EventBase], also: Callable[[RedisPipeline], None] | None = None, /, **fields: object) -> None:
        """Append an event (with `also`'s writes); a field the broker filled oddly is logged, never raised on its callback thread.

        `kind` and `also` are positional only: an event's own fields (ConnectionEvent's `kind`) are keywords."""
        try:
            event = kind(**fields)
        except ValidationError as error:
            log.error("%s event not recorded: %s", kind.__name__, error)
            if also is not None:
                stream_backlog.run(self._redis, also)
            return
        events.append(self._redis, event, also=also)
