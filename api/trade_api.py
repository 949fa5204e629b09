"""The trade API blueprint (prefix /qmt/trade/api): orders in, queries answered through the worker."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for

from api.auth import current_caller, parsed_body, require
from api.errors import error_response
from api.intake import meta_of, order_payload
from api.schemas import TradeRequest
from common import jobqueue
from common.jobs import QueryPayload

bp = Blueprint("trade_api", __name__, url_prefix="/qmt/trade/api")


def _router():
    return current_app.extensions["router"]


def _body() -> dict:
    body = parsed_body()
    return body if body is not None else {}


def accepted(job_id: str):
    """202 with the job id and where to poll it."""
    response = jsonify(
        {"success": True, "job_id": job_id, "status": "queued", "status_url": url_for("jobs.get_job", job_id=job_id, _external=False)}
    )
    response.status_code = 202
    return response


def run_query(payload: QueryPayload):
    """Enqueue a query and wait for it (QUERY_TIMEOUT); 503 with the job id when the worker does not answer in time."""
    router = _router()
    job_id = jobqueue.enqueue(router.redis, payload, router.settings.JOB_TTL)
    job = jobqueue.wait(router.redis, job_id, router.settings.QUERY_TIMEOUT)
    if job.status == "finished":
        return job.result, None
    if job.status == "failed":
        return None, error_response(f"the worker could not answer: {job.error}", 503, job_id=job_id)
    return None, error_response(
        f"the worker did not answer within {router.settings.QUERY_TIMEOUT:g} s; the query is still queued", 503, job_id=job_id
    )


@bp.post("/trade")
@require("trade")
def trade():
    router = _router()
    request = TradeRequest.model_validate(_body())
    payload = order_payload(
        router.settings,
        current_caller(),
        trader_index=request.trader_index,
        symbol=request.symbol,
        order_type=request.order_type,
        volume=request.volume,
        price=request.price,
        price_type=request.price_type,
        strategy_name=request.strategy_name,
    )
    return accepted(jobqueue.enqueue(router.redis, payload, router.settings.JOB_TTL))


@bp.get("/accounts")
@require("query")
def accounts():
    result, failure = run_query(QueryPayload(what="accounts", meta=meta_of(current_caller())))
    if failure is not None:
        return failure
    caller = current_caller()
    visible = [a for a in result if caller.accounts is None or a["index"] in caller.accounts]
    return jsonify({"success": True, "accounts": visible})
