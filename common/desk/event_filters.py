"""Narrower reads of the event stream for a caller: one account's events, one job's story (GET /events' account= and job=).

Each is a test the Desk applies inside its own visibility rule while it reads (Desk.events, Desk.recent_events), so a
long wait is not cut short by events the answer would drop, and a job's story is read from shortly before the job was
accepted (stream ids are milliseconds) rather than from the stream's start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from common.desk.callers import Caller
from common.desk.submission import Desk
from common.rules.exceptions import InvalidRequest
from common.store import events
from common.store.events import EventBase

STORY_KINDS = ("job", "order", "trade", "order_error")  # the kinds that carry a job's id
STORY_MARGIN_MS = 60_000  # a job's story is read from this long before it was accepted (the web's and Redis's clocks)
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Keep = Callable[[EventBase], bool]


def account(desk: Desk, caller: Caller, raw: str) -> Keep:
    """Only the events of the account at trader_index `raw`, which the caller must be allowed to use (403 otherwise)."""
    accounts = desk.settings.enabled_accounts
    if not (raw.isascii() and raw.isdigit()) or int(raw) >= len(accounts):
        raise InvalidRequest(f"account must be a trader_index from 0 to {len(accounts) - 1}, got {raw[:20]!r}", "account")
    caller.require_account(int(raw))
    account_id = accounts[int(raw)].account_id
    return lambda event: event.account_id == account_id


def job_story(desk: Desk, caller: Caller, job_id: str) -> tuple[Keep, str]:
    """The test of `job_id`'s events and the cursor its story starts after, once the caller may see the job as
    GET /jobs/<id> rules (JobNotFound, 404, otherwise)."""
    if not JOB_ID.match(job_id):
        raise InvalidRequest(f"job must be a job id (letters, digits, '_' and '-'), got {job_id[:64]!r}", "job")
    job = desk.job(caller, job_id)
    accounts = desk.settings.enabled_accounts
    account_id = accounts[job.account_index].account_id if job.account_index is not None and job.account_index < len(accounts) else ""

    def mine(event: EventBase) -> bool:  # an order event names its job by the order's tag: one of another account carrying it is not this job's
        return event.job_id == job_id and (not event.account_id or not account_id or event.account_id == account_id)

    return mine, _story_start(desk, job.created_at or job.enqueued_at)


def _story_start(desk: Desk, accepted_at: str | None) -> str:
    """The cursor a job's story is read after: shortly before it was accepted, or the oldest kept when that is older."""
    if not accepted_at:
        return "0-0"
    start_ms = int(datetime.fromisoformat(accepted_at).timestamp() * 1000) - STORY_MARGIN_MS
    oldest = events.oldest(desk.redis)
    if start_ms <= 0 or oldest is None or start_ms <= int(oldest.split("-")[0]):
        return "0-0"
    return f"{start_ms}-0"
