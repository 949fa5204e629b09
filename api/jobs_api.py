"""GET /qmt/trade/api/jobs/<job_id>[?wait=N]: a job's status and result, optionally held until it ends."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from api import router
from api.auth import current_caller, require
from api.openapi import documented
from common.exceptions import InvalidRequest
from common.payloads import JobView
from common.submission import WAIT_MAX_SECONDS

bp = Blueprint("jobs", __name__, url_prefix="/qmt/trade/api")


@bp.get("/jobs/<job_id>")
@documented(
    "A job: status, result, the order's latest broker state; ?wait=N (<= 30 s) holds the answer until it ends",
    answers={200: JobView},
    query={"wait": "seconds to wait for the job to end (0-30)"},
    errors=(400, 401, 403, 404, 503),
)
@require("query")
def get_job(job_id: str):
    raw_wait = request.args.get("wait", "0")
    try:
        wait = float(raw_wait)
    except ValueError:
        raise InvalidRequest(f"wait must be a number of seconds (0 to {WAIT_MAX_SECONDS}), got {raw_wait!r}", "wait") from None
    return jsonify(router().desk.job(current_caller(), job_id, wait).model_dump(mode="json"))
