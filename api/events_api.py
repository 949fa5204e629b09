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

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from api import router
from api.auth import current_caller
from api.openapi import documented
from common.desk import event_filters
from common.desk.event_filters import Keep
from common.rules.exceptions import InvalidRequest
from common.rules.loose_types import JsonObject
from common.rules.masking import mask_account

bp = Blueprint("events_api", __name__, url_prefix="/qmt/trade/api")
DEFAULT_LIMIT = 100


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
    desk, caller = router().desk, current_caller()
    kinds = tuple(k for k in request.args.get("kind", "").split(",") if k)
    keep, start = _filters()
    if job_asked := "job" in request.args:
        kinds = kinds or event_filters.STORY_KINDS
    if "last" in request.args:
        if job_asked:
            raise InvalidRequest("job= reads a job's events from its acceptance: follow on with after=, not last=", "last")
        found, cursor = desk.recent_events(caller, _whole("last", 0), kinds, keep)
    else:
        after = request.args.get("after") or start
        found, cursor = desk.events(caller, after, _whole("limit", DEFAULT_LIMIT), _number("wait", 0), kinds, keep)
    body = [{"id": entry_id, **event.model_dump(mode="json"), "account_id": mask_account(event.account_id)} for entry_id, event in found]
    return jsonify(EventsAnswer(events=body, next=cursor).model_dump(mode="json"))


def _filters() -> tuple[Keep | None, str]:
    """What the answer keeps of the events the caller may see (account=, job=: both when both are asked), and where its
    reading starts without after= (a job's story: shortly before the job was accepted)."""
    desk, caller = router().desk, current_caller()
    tests: list[Keep] = []
    start = "0-0"
    if "account" in request.args:
        tests.append(event_filters.account(desk, caller, request.args["account"]))
    if "job" in request.args:
        story, start = event_filters.job_story(desk, caller, request.args["job"])
        tests.append(story)
    if not tests:
        return None, start
    return (lambda event: all(test(event) for test in tests)), start
