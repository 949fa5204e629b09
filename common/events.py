"""The event stream: what happened to orders, trades and broker sessions, in one capped Redis stream.

This module is the only writer and reader of `keys.EVENTS_STREAM`: one pydantic model per kind,
`append` (capped at MAXLEN entries) and `read` from a cursor. Every role appends through it; the
status page, DingTalk and metrics read it. An entry is stored as the fields `kind`, `ts` (unix
seconds) and `body` (the model's other fields as JSON), so entries written by earlier versions read too.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from common import keys, stream_backlog

log = logging.getLogger("router.events")
MAXLEN = 10_000  # about a busy day of orders, fills and reconnects; older entries are trimmed


class EventBase(BaseModel):
    """What every event has: when it was recorded. Subclasses add `kind` and their fields."""

    model_config = ConfigDict(extra="allow", frozen=True)  # a reader keeps fields a newer writer added

    kind: str
    ts: float = Field(default_factory=time.time, description="unix seconds when it was recorded")


class OrderFacts(EventBase):
    """What an order and each of its fills say of the order."""

    order_id: int
    account_id: str
    symbol: str
    name: str = ""
    side: str
    strategy_name: str = ""
    order_remark: str = ""  # the job tag, for orders the router placed


class OrderEvent(OrderFacts):
    """An order's new state, as the broker reported it (volumes in shares or 张, prices in yuan)."""

    kind: Literal["order"] = "order"
    order_type: int
    volume: int
    price: float
    price_type: int
    order_status: int
    status: str | None = None
    status_msg: str = ""
    traded_volume: int = 0
    traded_price: float = 0.0
    order_time: int = 0


class TradeEvent(OrderFacts):
    """A fill (volume in shares or 张, price and amount in yuan)."""

    kind: Literal["trade"] = "trade"
    traded_id: str = ""
    traded_time: int = 0
    traded_volume: int
    traded_price: float
    traded_amount: float = 0.0
    commission: float = 0.0


class BrokerRefusal(EventBase):
    """What the broker says when it refuses an order or a cancel."""

    order_id: int
    account_id: str
    error_id: int
    error_msg: str


class OrderErrorEvent(BrokerRefusal):
    """The broker refused an order."""

    kind: Literal["order_error"] = "order_error"
    order_remark: str = ""


class CancelErrorEvent(BrokerRefusal):
    """The broker refused a cancel."""

    kind: Literal["cancel_error"] = "cancel_error"


class ConnectionEvent(EventBase):
    """A broker session connected or dropped."""

    kind: Literal["connected", "disconnected"]


class AccountStatusEvent(EventBase):
    """The broker's status of an account (xtquant's account status code)."""

    kind: Literal["account_status"] = "account_status"
    account_id: str
    status: int


class RoutineEvent(EventBase):
    """A scheduled routine fired, did nothing, failed or was missed (state), with its jobs and outcome."""

    kind: Literal["routine"] = "routine"
    name: str
    day: str  # ISO trading day
    state: str  # common.routine_runs.RunState
    trigger: str = "schedule"
    reason: str = ""
    job_ids: list[str] = Field(default_factory=list)
    outcome: dict = Field(default_factory=dict)


class CalendarEvent(EventBase):
    """The trading calendar cannot answer for long (or at all): routines will stop firing."""

    kind: Literal["calendar"] = "calendar"
    message: str
    data_ends: str | None = None


Event = Annotated[
    OrderEvent | TradeEvent | OrderErrorEvent | CancelErrorEvent | ConnectionEvent | AccountStatusEvent | RoutineEvent | CalendarEvent,
    Field(discriminator="kind"),
]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def append(connection: redis.Redis, event: EventBase) -> str | None:
    """Add `event` to the stream; its id, or None when Redis failed (logged, and written with a later event: common.stream_backlog)."""
    try:
        body = event.model_dump_json(exclude={"kind", "ts"})
    except ValueError:  # text that is not UTF-8 (a lone surrogate in a client's strategy name): written \u-escaped
        body = json.dumps(event.model_dump(exclude={"kind", "ts"}), default=str)
    return stream_backlog.xadd(connection, keys.EVENTS_STREAM, {"kind": event.kind, "ts": event.ts, "body": body}, MAXLEN)


def read(connection: redis.Redis, after: str = "0-0", count: int = 100, block_ms: int | None = None) -> list[tuple[str, Event]]:
    """Up to `count` events after the cursor `after` (a stream id; "0-0" from the oldest kept), oldest first.

    With `block_ms`, waits that long for the first new event. The last id returned is the next cursor.
    Entries of a kind this version does not know are skipped with a log line.
    """
    answer: Any = connection.xread({keys.EVENTS_STREAM: after}, count=count, block=block_ms)
    found: list[tuple[str, Event]] = []
    for _, entries in answer or []:
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            event = _parse(entry_id, fields)
            if event is not None:
                found.append((entry_id, event))
    return found


def _parse(entry_id: str, fields: dict) -> Event | None:
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in fields.items()}
    try:
        return _EVENT.validate_python({**json.loads(text.get("body") or "{}"), "kind": text.get("kind"), "ts": float(text.get("ts") or 0)})
    except (ValueError, ValidationError) as error:
        log.warning("event %s (%s) skipped: %s", entry_id, text.get("kind"), error.__class__.__name__)
        return None
