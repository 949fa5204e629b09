"""GET /qmt/trade/api/jobs/<job_id>[?wait=N]: a job's status and result, optionally held until it ends."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from api.auth import current_caller, require
from api.errors import error_response
from api.openapi import documented
from common import jobqueue
from common.exceptions import JobNotFound
from common.jobs import JobView

bp = Blueprint("jobs", __name__, url_prefix="/qmt/trade/api")


@bp.get("/jobs/<job_id>")
@documented("A job: status, result, the order's latest broker state; ?wait=N (<= 30 s) holds the answer until it ends",
            answers={200: JobView}, query={"wait": "seconds to wait for the job to end (0-30)"}, errors=(400, 401, 403, 404, 503))
@require("query")
def get_job(job_id: str):
    router = current_app.extensions["router"]
    raw_wait = request.args.get("wait", "0")
    try:
        wait = float(raw_wait)
    except ValueError:
        return error_response(f"wait must be a number of seconds (0 to {jobqueue.WAIT_MAX_SECONDS}), got {raw_wait!r}", 400, field="wait")
    if not 0 <= wait <= jobqueue.WAIT_MAX_SECONDS:
        return error_response(f"wait must be between 0 and {jobqueue.WAIT_MAX_SECONDS} seconds", 400, field="wait")
    caller = current_caller()
    job = jobqueue.view(router.redis, job_id)
    # a signing client sees its own jobs; admins and logged-in users see every job (the status page)
    if "admin" not in caller.scopes and not caller.client_id.startswith("user:") and job.client_id != caller.client_id:
        raise JobNotFound(f"no job {job_id}")
    if wait:
        job = jobqueue.wait(router.redis, job_id, wait)
    return jsonify(job.model_dump(mode="json"))
