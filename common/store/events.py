"""The event stream: everything that happens to orders, jobs, sessions, routines and settings, in one Redis stream.

This module is the only writer and reader of `keys.EVENTS_STREAM`: one pydantic model per kind,
`append` (capped at about MAXLEN entries; the scheduler also trims entries older than MAX_AGE_DAYS),
`read` / `follow` from a cursor, and `recent` (the last few, for a page that opens). Every role
appends through it; `/events`, the status page and the DingTalk consumer read it. Each event names
its job, client, account and order where it has them; a client following `/events` sees its own
jobs' events and the system's (no client).
An entry is stored as the fields `kind`, `ts` (unix seconds) and `body` (the model's other fields as
JSON), so entries written by earlier versions read too.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Literal, get_args

import redis
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from common.rules.exceptions import CursorTooOld, InvalidRequest
from common.rules.loose_types import JsonObject, RedisPipeline, RedisReply
from common.store import keys, metrics, stream_backlog

log = logging.getLogger("router.events")
MAXLEN = 100_000  # roughly a month of a busy account's orders, fills and jobs; older entries are trimmed
BLOCK_SLICE_MS = 500  # one blocking read of a wait: below REDIS_SOCKET_TIMEOUT (≥ 1 s), which would cut a longer one
MAX_AGE_DAYS = 7  # and entries older than this, whatever their number (the scheduler trims by age)
RECENT_SCAN = 5_000  # entries `recent` reads back at most, looking for the kinds asked for
RECENT_PAGE = 500  # entries per backwards read
FOLLOW_SCAN = 2_000  # entries one `follow` reads at most, whatever it finds
FOLLOW_PAGE = 200  # entries per forward read


class EventBase(BaseModel):
    """What every event has: when it was recorded and whose it is. Subclasses add `kind` and their fields."""

    model_config = ConfigDict(extra="allow", frozen=True)  # a reader keeps fields a newer writer added

    kind: str
    ts: float = Field(default_factory=time.time, description="unix seconds when it was recorded")
    job_id: str = ""  # the job it is about, if any
    client_id: str = ""  # whose job it is; empty for the system's own events (sessions, calendar, worker)
    account_id: str = ""  # the broker account, in full: mask it wherever it leaves the machine


class OrderFacts(EventBase):
    """What an order and each of its fills say of the order."""

    order_id: int
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
    status: int


JobStage = Literal["accepted", "sent", "rejected", "expired", "unknown", "not_submitted"]


class JobEvent(EventBase):
    """An order or cancel job's own steps: accepted at the door, sent to the broker, or why it never was.

    The broker's side of the story (reported, filled, cancelled, rejected) is in order events.
    """

    kind: Literal["job"] = "job"
    stage: JobStage
    job_kind: str = "order"  # order or cancel
    account_index: int | None = None
    symbol: str = ""
    side: str = ""
    volume: int = 0  # shares (张); 0 when the worker sizes it
    price: float = 0.0
    reason: str = ""
    order_id: int | None = None  # sent: the broker's order number


class RiskEvent(EventBase):
    """An order or cancel the risk limits refused at the door (kill switch, block list, caps)."""

    kind: Literal["risk"] = "risk"
    reason: str
    symbol: str = ""
    account_index: int | None = None


class KillSwitchEvent(EventBase):
    """The kill switch was thrown or released (`by` whom), with the cancel-all jobs it queued."""

    kind: Literal["kill_switch"] = "kill_switch"
    on: bool
    by: str
    job_ids: list[str] = Field(default_factory=list)
    reason: str = ""  # thrown by the router itself: why (Redis lost its data)


class ConfigEvent(EventBase):
    """A setting kept in Redis changed (risk limits, routines), `by` whom, and to what.

    `before`: the risk limits' values before the change, for each field changed. `routines`: what changed in the
    routines, one entry per routine: {name, action: added | removed | changed, fields: {field: [from, to]}}."""

    kind: Literal["config"] = "config"
    what: str
    by: str
    change: dict = Field(default_factory=dict)
    before: dict = Field(default_factory=dict)
    routines: list[dict] = Field(default_factory=list)


class WorkerEvent(EventBase):
    """The worker started, stopped, or went silent (its heartbeat stale)."""

    kind: Literal["worker"] = "worker"
    state: Literal["up", "down"]
    host: str = ""
    reason: str = ""


class RoutineEvent(EventBase):
    """A scheduled routine fired, did nothing, failed or was missed (state), with its jobs and outcome."""

    kind: Literal["routine"] = "routine"
    name: str
    day: str  # ISO trading day
    state: str  # common.desk.routine_runs.RunState
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
    OrderEvent
    | TradeEvent
    | OrderErrorEvent
    | CancelErrorEvent
    | ConnectionEvent
    | AccountStatusEvent
    | RoutineEvent
    | CalendarEvent
    | JobEvent
    | RiskEvent
    | KillSwitchEvent
    | ConfigEvent
    | WorkerEvent,
    Field(discriminator="kind"),
]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
KINDS = frozenset(
    kind for model in get_args(get_args(Event)[0]) for kind in get_args(model.model_fields["kind"].annotation)
)  # every event kind this version writes: "order", "trade", ..., "connected", "disconnected", ...


def append(
    connection: redis.Redis, event: EventBase, batch: stream_backlog.Batch | None = None, also: Callable[[RedisPipeline], None] | None = None
) -> str | None:
    """Add `event` to the stream; its id, or None when Redis failed (logged, and written with a later event: common.store.stream_backlog).

    With `batch`, it waits in it for a pipeline the batch's holder sends (None is answered). `also` adds the caller's
    own commands to the event's round trip (common.store.stream_backlog.xadd).
    """
    counted(connection, event)  # kept for later when Redis refuses it, counted now
    if batch is not None:
        batch.xadd(keys.EVENTS_STREAM, fields(event), MAXLEN)
        return None
    return stream_backlog.xadd(connection, keys.EVENTS_STREAM, fields(event), MAXLEN, also)


def where() -> tuple[str, int]:
    """The stream and its approximate cap, for a writer that appends in its own Lua script (common.store.scripts.enqueue)."""
    return keys.EVENTS_STREAM, MAXLEN


def counted(connection: redis.Redis, event: EventBase) -> None:
    """Count one appended event (metrics): for writers that append it themselves, as the enqueue script does."""
    metrics.count(connection, metrics.EVENTS_APPENDED, kind=event.kind)


def fields(event: EventBase) -> JsonObject:
    """The stream entry's fields of `event`: kind, ts and body (the other fields as JSON)."""
    try:
        body = event.model_dump_json(exclude={"kind", "ts"})
    except ValueError:  # text that is not UTF-8 (a lone surrogate in a client's strategy name): written \u-escaped
        body = json.dumps(event.model_dump(exclude={"kind", "ts"}), default=str)
    return {"kind": event.kind, "ts": event.ts, "body": body}


def read(connection: redis.Redis, after: str = "0-0", count: int = 100, block_ms: int | None = None) -> list[tuple[str, Event]]:
    """Up to `count` events after the cursor `after` (a stream id; "0-0" from the oldest kept), oldest first.

    With `block_ms`, waits that long for the first new event. The last id returned is the next cursor.
    Entries of a kind this version does not know are skipped with a log line.
    """
    return [(entry_id, event) for entry_id, event in _read(connection, after, count, block_ms, ()) if event is not None]


def _read(connection: redis.Redis, after: str, count: int, block_ms: int | None, kinds: Sequence[str]) -> list[tuple[str, Event | None]]:
    """Every entry read after `after` with its event: None for one of another kind than `kinds` (not parsed) or unreadable."""
    answer: RedisReply = connection.xread({keys.EVENTS_STREAM: after}, count=count, block=block_ms)
    found: list[tuple[str, Event | None]] = []
    for _, entries in answer or []:
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            wanted = not kinds or _text(fields.get(b"kind") or fields.get("kind") or "") in kinds
            found.append((entry_id, _parse(entry_id, fields) if wanted else None))
    return found


def recent(
    connection: redis.Redis, count: int, visible: Callable[[EventBase], bool], kinds: Sequence[str] = (), scan: int = RECENT_SCAN
) -> tuple[list[tuple[str, Event]], str]:
    """The last `count` events of `kinds` (or all) that `visible` lets through, oldest first, and the cursor to follow on
    from (the newest id of all).

    Reads backwards from the newest entry, at most `scan` entries, so a rare kind costs a bounded read; entries of
    other kinds are skipped unparsed.
    """
    newest: RedisReply = connection.xrevrange(keys.EVENTS_STREAM, count=1)
    cursor = _text(newest[0][0]) if newest else "0-0"
    found: list[tuple[str, Event]] = []
    upper, read_so_far, page = "+", 0, max(2 * count, 20)
    while len(found) < count and read_so_far < scan:
        batch: RedisReply = connection.xrevrange(keys.EVENTS_STREAM, max=upper, min="-", count=min(page, scan - read_so_far))
        if not batch:
            break
        read_so_far += len(batch)
        page = min(2 * page, RECENT_PAGE)  # a rare kind: read further back in larger steps
        for raw_id, fields in batch:
            if kinds and _text(fields.get(b"kind") or fields.get("kind") or "") not in kinds:
                continue
            entry_id = _text(raw_id)
            event = _parse(entry_id, fields)
            if event is not None and visible(event):
                found.append((entry_id, event))
                if len(found) == count:
                    break
        upper = "(" + _text(batch[-1][0])  # exclusive: on from just before the oldest read
    return found[::-1], cursor


def oldest(connection: redis.Redis) -> str | None:
    """The id of the oldest event still kept, or None when the stream is empty."""
    first: RedisReply = connection.xrange(keys.EVENTS_STREAM, count=1)
    return _text(first[0][0]) if first else None


def follow(
    connection: redis.Redis,
    after: str,
    limit: int,
    wait_seconds: float,
    visible: Callable[[EventBase], bool],
    kinds: Sequence[str] = (),
    scan: int = FOLLOW_SCAN,
) -> tuple[list[tuple[str, Event]], str]:
    """The next `limit` events after `after` (of `kinds`, or all) that `visible` lets through, and the cursor to resume from.

    Waits up to `wait_seconds` for the first one. Reads at most `scan` entries (entries of other kinds are skipped
    unparsed), so a poll costs what its answer holds, however long the stream: past that the answer may be short or
    empty, with the cursor moved on, and the next poll reads on from there. Raises CursorTooOld when events after the
    cursor may have been trimmed away (a cursor older than the oldest kept): a client never skips a gap unknowingly.
    The cursor moves past events the caller may not see, so they are never read twice.
    """
    cursor = after or "0-0"
    if not _is_cursor(cursor):
        raise InvalidRequest(f"after must be a stream id from an earlier answer's next (e.g. 1700000000000-0), got {cursor[:40]!r}", "after")
    first = oldest(connection)
    if cursor not in ("0", "0-0") and first is not None and _order(cursor) < _order(first):
        raise CursorTooOld(f"cursor {cursor} is older than the oldest event kept ({first}); resume from after=0-0", oldest=first)
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    found: list[tuple[str, Event]] = []
    scanned = 0
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        batch = _read(connection, cursor, min(max(limit, FOLLOW_PAGE), scan), min(left_ms, BLOCK_SLICE_MS) if left_ms > 0 else None, kinds)
        scanned += len(batch)
        for entry_id, event in batch:
            cursor = entry_id
            if event is not None and visible(event):
                found.append((entry_id, event))
                if len(found) == limit:
                    return found, cursor
        if found or left_ms <= 0:
            return found, cursor
        if batch and scanned >= scan:  # a long stretch of others' or other kinds' events: the next poll reads on
            return found, cursor
        # only others' events, or none yet: read on (blocking for what is left of the wait)


# -- consumer groups: readers that must see every event once (the DingTalk notifier) ---------------------
Entry = tuple[str, "Event | None"]  # a stream id and its event; None for an entry this version cannot read (acknowledge it)


def join_group(connection: redis.Redis, group: str) -> None:
    """Create consumer group `group`, reading the events appended from now on; nothing when it exists."""
    try:
        connection.xgroup_create(keys.EVENTS_STREAM, group, id="$", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def read_group(connection: redis.Redis, group: str, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
    """Up to `count` events no consumer of `group` was given yet, now pending for `consumer` until acknowledged.

    `block_ms` waits for the first one: keep it under BLOCK_SLICE_MS (the socket timeout would cut a longer wait).
    """
    answer: RedisReply = connection.xreadgroup(group, consumer, {keys.EVENTS_STREAM: ">"}, count=count, block=block_ms)
    return [(_text(raw_id), _parse(_text(raw_id), fields)) for _, entries in answer or [] for raw_id, fields in entries]


def acknowledge(connection: redis.Redis, group: str, entry_ids: list[str]) -> None:
    """`group` is done with these events (XACK): they are never given to a consumer again."""
    if entry_ids:
        connection.xack(keys.EVENTS_STREAM, group, *entry_ids)


def consumers(connection: redis.Redis, group: str) -> dict[str, int]:
    """The consumers of `group` and how many events each holds unacknowledged."""
    found: RedisReply = connection.xinfo_consumers(keys.EVENTS_STREAM, group)
    return {_text(entry["name"]): int(entry["pending"]) for entry in found}


def claim(connection: redis.Redis, group: str, holder: str, consumer: str, count: int, min_idle_ms: int) -> list[Entry]:
    """Up to `count` of the events `holder` (a dead consumer) left unacknowledged, now pending for `consumer`, oldest first.

    Only entries idle for `min_idle_ms` move, so two consumers rescuing the same holder at once never both get one.
    Entries trimmed from the stream meanwhile are dropped from the pending list by Redis.
    """
    held: RedisReply = connection.xpending_range(keys.EVENTS_STREAM, group, "-", "+", count, consumername=holder)
    if not held:
        return []
    moved: RedisReply = connection.xclaim(keys.EVENTS_STREAM, group, consumer, min_idle_ms, [entry["message_id"] for entry in held])
    return [(_text(raw_id), _parse(_text(raw_id), fields)) for raw_id, fields in moved or [] if fields is not None]


def drop_consumer(connection: redis.Redis, group: str, consumer: str) -> None:
    """Forget a consumer of `group` (a stopped process) once it holds nothing."""
    connection.xgroup_delconsumer(keys.EVENTS_STREAM, group, consumer)


def trim_older_than(connection: redis.Redis, days: float, now: float | None = None) -> int:
    """Drop the events recorded more than `days` ago (XTRIM MINID); how many went."""
    cutoff_ms = int(((time.time() if now is None else now) - days * 86_400) * 1000)
    trimmed: RedisReply = connection.xtrim(keys.EVENTS_STREAM, minid=f"{cutoff_ms}-0", approximate=False)
    return int(trimmed)


CURSOR = re.compile(r"^([0-9]{1,20})(?:-([0-9]{1,20}))?$")


def _is_cursor(text: str) -> bool:
    """A stream id Redis accepts: milliseconds and a sequence, each a 64-bit unsigned number."""
    match = CURSOR.match(text)
    return match is not None and all(int(part) < 2**64 for part in match.groups() if part is not None)


def _order(entry_id: str) -> tuple[int, int]:
    """A stream id ("1700000000000-3") as numbers, for comparing cursors."""
    millis, _, sequence = entry_id.partition("-")
    try:
        return int(millis), int(sequence or 0)
    except ValueError:
        raise InvalidRequest(f"after must be an event id such as 1700000000000-0, got {entry_id!r}", "after") from None


def _text(value: RedisReply) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(entry_id: str, fields: dict) -> Event | None:
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in fields.items()}
    try:
        return _EVENT.validate_python({**json.loads(text.get("body") or "{}"), "kind": text.get("kind"), "ts": float(text.get("ts") or 0)})
    except (ValueError, ValidationError) as error:
        log.warning("event %s (%s) skipped: %s", entry_id, text.get("kind"), error.__class__.__name__)
        return None
