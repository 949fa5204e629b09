"""GET /qmt/trade/api/events?after=<id>&limit=N&wait=S: follow what happens, from a cursor (common.store.events).

`?last=N` answers the last N events instead (what a page shows as it opens) with the cursor to follow on
from; `kind=` keeps only some kinds; `account=<trader_index>` only one account's events; `job=<id>` only one
job's story (its stages, and the order it became: states, fills, the broker's refusal), read from the moment
the job was accepted (stream ids are milliseconds), so a job page never scans the stream from its start.

A signing client sees its own jobs' events and the system's; admins and logged-in users see all; `job=` answers
404 for a job GET /jobs/<id> would not show the caller. `wait` holds the answer until something new arrives
(drawing on the waiting budget); a cursor older than the oldest event kept is 410 with that oldest id, never a
silent gap. With `account=` or `job=` an answer may be empty with `next` moved on: follow on from it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from api import router
from api.auth import current_caller
from api.openapi import documented
from common.desk.submission import WAIT_MAX_SECONDS
from common.rules.exceptions import InvalidRequest
from common.rules.loose_types import JsonObject
from common.rules.masking import mask_account
from common.store import events
from common.store.events import Event

bp = Blueprint("events_api", __name__, url_prefix="/qmt/trade/api")
DEFAULT_LIMIT = 100
FILTERED_LIMIT = 1000  # events asked of the Desk per read when the answer keeps only one job's or one account's
FILTERED_READS = 10  # reads one filtered wait makes at most (each at most events.FOLLOW_SCAN entries) before it answers
STORY_KINDS = ("job", "order", "trade", "order_error")  # the kinds that carry a job's id
STORY_MARGIN_MS = 60_000  # a job's story is read from this long before it was accepted (the web's and Redis's clocks)
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class EventsAnswer(BaseModel):
    """Events oldest first, each with its `id` (a stream id), `kind`, `ts` and its fields; `next` is the cursor to send as `after`."""

    success: bool = True
    events: list[JsonObject]
    next: str = Field(description="send as after= to read on")


def _number(name: str, default: float) -> float:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a number, got {raw[:20]!r}", name) from None
    if not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a finite number, got {raw[:20]!r}", name)
    return value


def _whole(name: str, default: float) -> int:
    value = _number(name, default)
    if value != int(value):
        raise InvalidRequest(f"{name} must be a whole number", name)
    return int(value)


@bp.get("/events")
@documented(
    "Events after a cursor, or the last few: jobs accepted and sent, broker statuses and fills, sessions, routines, risk and config changes",
    answers={200: EventsAnswer},
    query={"after": "a stream id from an earlier answer's next (default 0-0: the oldest kept; with job=, the job's acceptance)",
           "last": "instead of after: the last N events (1-1000), and next to follow on from (not with job=)",
           "kind": "only events of these kinds, comma-separated (job, order, trade, config, kill_switch, ...)",
           "account": "only events of this account (its trader_index)",
           "job": "only this job's events: its stages, and its order's states, fills and refusal (404 for a job the caller may not see)",
           "limit": "at most this many events (1-1000, default 100)", "wait": "seconds to wait for a first new event (0-30)"},
    errors=(400, 401, 403, 404, 410, 503),
)  # fmt: skip
def list_events() -> Response:
    kinds = tuple(k for k in request.args.get("kind", "").split(",") if k)
    kept = _filter()
    if kept is None:
        found, cursor = _unfiltered(kinds)
    elif "last" in request.args:
        found, cursor = _last_kept(kept.keep, _whole("last", 0), kinds)
    else:
        found, cursor = _followed_kept(kept, kinds or kept.kinds)
    body = [{"id": entry_id, **event.model_dump(mode="json"), "account_id": mask_account(event.account_id)} for entry_id, event in found]
    return jsonify(EventsAnswer(events=body, next=cursor).model_dump(mode="json"))


def _unfiltered(kinds: tuple[str, ...]) -> tuple[list[tuple[str, Event]], str]:
    desk = router().desk
    if "last" in request.args:
        return desk.recent_events(current_caller(), _whole("last", 0), kinds)
    return desk.events(current_caller(), request.args.get("after", "0-0"), _whole("limit", DEFAULT_LIMIT), _number("wait", 0), kinds)


@dataclass(frozen=True)
class Kept:
    """What a filtered answer keeps of the events the caller may see, where its reading starts without after=, of which kinds."""

    keep: Callable[[Event], bool]
    start: str = "0-0"
    kinds: tuple[str, ...] = ()


def _filter() -> Kept | None:
    """Which of the events the caller may see the answer keeps (account=, job=); None: all of them."""
    tests: list[Callable[[Event], bool]] = []
    start = "0-0"
    kinds: tuple[str, ...] = ()
    raw_account = request.args.get("account")
    if raw_account is not None:
        account_id = _account_id(raw_account)
        tests.append(lambda event: event.account_id == account_id)
    job_id = request.args.get("job")
    if job_id is not None:
        job_test, start = _job_story(job_id)
        tests.append(job_test)
        kinds = STORY_KINDS
    if not tests:
        return None
    return Kept(lambda event: all(test(event) for test in tests), start, kinds)


def _account_id(raw: str) -> str:
    """The account at trader_index `raw`, which the caller must be allowed to use (403 otherwise)."""
    accounts = router().settings.enabled_accounts
    if not raw.isdigit() or int(raw) >= len(accounts):
        raise InvalidRequest(f"account must be a trader_index from 0 to {len(accounts) - 1}, got {raw[:20]!r}", "account")
    current_caller().require_account(int(raw))
    return accounts[int(raw)].account_id


def _job_story(job_id: str) -> tuple[Callable[[Event], bool], str]:
    """The test of `job_id`'s events and the cursor its story starts after, once the caller may see the job as
    GET /jobs/<id> rules (404 otherwise)."""
    if not JOB_ID.match(job_id):
        raise InvalidRequest(f"job must be a job id (letters, digits, '_' and '-'), got {job_id[:64]!r}", "job")
    if "last" in request.args:
        raise InvalidRequest("job= reads a job's events from its acceptance: follow on with after=, not last=", "last")
    job = router().desk.job(current_caller(), job_id)
    accounts = router().settings.enabled_accounts
    account_id = accounts[job.account_index].account_id if job.account_index is not None and job.account_index < len(accounts) else ""
    start = "0-0" if "after" in request.args else _story_start(job.created_at or job.enqueued_at)
    # an order event names its job by the order's tag: one of another account carrying this tag is not this job's
    return lambda event: event.job_id == job_id and (not event.account_id or not account_id or event.account_id == account_id), start


def _story_start(accepted_at: str | None) -> str:
    """The cursor a job's story is read after: shortly before it was accepted, or the oldest kept when that is older."""
    if not accepted_at:
        return "0-0"
    start_ms = int(datetime.fromisoformat(accepted_at).timestamp() * 1000) - STORY_MARGIN_MS
    oldest = events.oldest(router().redis)
    if start_ms <= 0 or oldest is None or start_ms <= int(oldest.split("-")[0]):
        return "0-0"
    return f"{start_ms}-0"


def _last_kept(keep: Callable[[Event], bool], last: int, kinds: tuple[str, ...]) -> tuple[list[tuple[str, Event]], str]:
    """The last `last` events `keep` keeps, among the last FILTERED_LIMIT the caller may see (a bounded read)."""
    if not 1 <= last <= 1000:
        raise InvalidRequest("last must be between 1 and 1000", "last")
    found, cursor = router().desk.recent_events(current_caller(), FILTERED_LIMIT, kinds)
    return [(entry_id, event) for entry_id, event in found if keep(event)][-last:], cursor


def _followed_kept(kept: Kept, kinds: tuple[str, ...]) -> tuple[list[tuple[str, Event]], str]:
    """The next events `kept` keeps after the cursor, read on (for up to `wait` seconds, FILTERED_READS reads) until one comes."""
    desk, caller = router().desk, current_caller()
    limit, wait = _whole("limit", DEFAULT_LIMIT), _number("wait", 0)
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit must be between 1 and 1000", "limit")
    if not 0 <= wait <= WAIT_MAX_SECONDS:
        raise InvalidRequest(f"wait must be between 0 and {WAIT_MAX_SECONDS} seconds", "wait")
    cursor = request.args.get("after") or kept.start
    deadline = time.monotonic() + wait
    for _ in range(FILTERED_READS):
        found, cursor = desk.events(caller, cursor, FILTERED_LIMIT, max(deadline - time.monotonic(), 0.0), kinds)
        chosen = [(entry_id, event) for entry_id, event in found if kept.keep(event)]
        if len(chosen) > limit:
            return chosen[:limit], chosen[limit - 1][0]
        if chosen or time.monotonic() >= deadline:
            return chosen, cursor
    return [], cursor
