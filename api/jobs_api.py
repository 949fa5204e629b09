"""GET /qmt/trade/api/jobs/<job_id>[?wait=N]: a job's status and result, optionally held until it ends; GET /jobs: the latest jobs.

Account numbers leave masked (common.rules.masking): the order's account_id, and a client id that is an account
number (the old server's clients were named by one).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from api import router
from api.auth import current_caller
from api.openapi import documented
from common.desk.reads import WAIT_MAX_SECONDS
from common.rules.exceptions import InvalidRequest
from common.rules.loose_types import JsonObject
from common.rules.masking import mask_account
from common.store.payloads import JobView

bp = Blueprint("jobs", __name__, url_prefix="/qmt/trade/api")


@bp.get("/jobs/<job_id>")
@documented(
    "A job: status, result, the order's latest broker state; ?wait=N (<= 30 s) holds the answer until it ends",
    answers={200: JobView},
    query={"wait": "seconds to wait for the job to end (0-30)"},
    errors=(400, 401, 403, 404, 503),
)
def get_job(job_id: str) -> Response:
    raw_wait = request.args.get("wait", "0")
    try:
        wait = float(raw_wait)
    except ValueError:
        raise InvalidRequest(f"wait must be a number of seconds (0 to {WAIT_MAX_SECONDS}), got {raw_wait!r}", "wait") from None
    job = router().desk.job(current_caller(), job_id, wait)
    order = {**job.order, "account_id": mask_account(str(job.order.get("account_id", "")))} if job.order else job.order
    return jsonify(job.model_copy(update={"client_id": _masked_client(job.client_id), "order": order}).model_dump(mode="json"))


def _masked_client(client_id: str | None) -> str | None:
    """`client_id` with every enabled account's number in it masked (an old client named by its account)."""
    if not client_id:
        return client_id
    for account in router().settings.enabled_accounts:
        if account.account_id:
            client_id = client_id.replace(account.account_id, mask_account(account.account_id))
    return client_id


class RecentJob(BaseModel):
    """An order or cancel job as accepted at the door, with its status now."""

    job_id: str
    kind: str = Field(description="order or cancel")
    status: str
    client_id: str
    accepted_at: float = Field(description="unix seconds")
    account_index: int | None
    symbol: str = ""
    side: str = ""
    volume: int = Field(description="shares (张); 0 when the worker sizes it")
    price: float
    ended_at: str | None = None
    result: dict | list | None = None
    error: str | None = None


class RecentJobsAnswer(BaseModel):
    """The caller's latest order and cancel jobs, newest first (a job kept no longer than JOB_TTL is left out)."""

    success: bool = True
    jobs: list[RecentJob]


@bp.get("/jobs")
@documented(
    "The latest order and cancel jobs, newest first, with their status now",
    answers={200: RecentJobsAnswer},
    query={"limit": "at most this many jobs (1-200, default 20)"},
    errors=(400, 401, 403, 503),
)
def recent_jobs() -> Response:
    raw = request.args.get("limit", "20")
    if not raw.isdigit():
        raise InvalidRequest(f"limit must be a whole number from 1 to 200, got {raw[:20]!r}", "limit")
    found: list[JsonObject] = []
    for event, job in router().desk.recent_jobs(current_caller(), int(raw)):
        found.append(
            RecentJob(
                job_id=job.job_id,
                kind=event.job_kind,
                status=job.status,
                client_id=_masked_client(event.client_id) or "",
                accepted_at=event.ts,
                account_index=event.account_index,
                symbol=event.symbol,
                side=event.side,
                volume=event.volume,
                price=event.price,
                ended_at=job.ended_at,
                result=job.result,
                error=job.error,
            ).model_dump(mode="json")
        )
    return jsonify({"success": True, "jobs": found})
