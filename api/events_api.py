"""GET /qmt/trade/api/events?after=<id>&limit=N&wait=S: follow what happens, from a cursor (common.store.events).

`?last=N` answers the last N events instead (what a page shows as it opens) with the cursor to follow on
from; `kind=` keeps only some kinds.

A signing client sees its own jobs' events and the system's; admins and logged-in users see all.
`wait` holds the answer until something new arrives (drawing on the waiting budget); a cursor older
than the oldest event kept is 410 with that oldest id, never a silent gap.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from api import router
from api.auth import current_caller
from api.openapi import documented
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


@bp.get("/events")
@documented(
    "Events after a cursor, or the last few: jobs accepted and sent, broker statuses and fills, sessions, routines, risk and config changes",
    answers={200: EventsAnswer},
    query={"after": "a stream id from an earlier answer's next (default 0-0: the oldest kept)",
           "last": "instead of after: the last N events (1-1000), and next to follow on from",
           "kind": "only events of these kinds, comma-separated (job, order, trade, config, kill_switch, ...)",
           "limit": "at most this many events (1-1000, default 100)", "wait": "seconds to wait for a first new event (0-30)"},
    errors=(400, 401, 403, 410, 503),
)  # fmt: skip
def list_events() -> Response:
    kinds = tuple(k for k in request.args.get("kind", "").split(",") if k)
    if "last" in request.args:
        last = _number("last", 0)
        if last != int(last):
            raise InvalidRequest("last must be a whole number", "last")
        found, cursor = router().desk.recent_events(current_caller(), int(last), kinds)
    else:
        limit = _number("limit", DEFAULT_LIMIT)
        if limit != int(limit):
            raise InvalidRequest("limit must be a whole number", "limit")
        found, cursor = router().desk.events(current_caller(), request.args.get("after", "0-0"), int(limit), _number("wait", 0), kinds)
    body = [{"id": entry_id, **event.model_dump(mode="json"), "account_id": mask_account(event.account_id)} for entry_id, event in found]
    return jsonify(EventsAnswer(events=body, next=cursor).model_dump(mode="json"))
