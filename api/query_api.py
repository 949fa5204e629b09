"""Query routes (prefix /qmt/trade/api): each runs as a job on the query queue; the web waits for it.

The answer is the data in the old server's shape; when the worker does not answer within
QUERY_TIMEOUT seconds, 503 with the job id (the query stays queued and can be polled).
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from api.auth import current_caller, request_body, require
from api.errors import error_response
from api.intake import meta_of, target_accounts
from api.openapi import documented
from api.schemas import AccountsAnswer, OrderAnswer, OrderLookup, OrdersAnswer, OrdersLookup, PortfolioAnswer, PositionsAnswer
from common import jobqueue
from common.jobs import QueryPayload

bp = Blueprint("query_api", __name__, url_prefix="/qmt/trade/api")
QUERY_ERRORS = (401, 403, 404, 503)


def run_query(what: str, trader_index: int | None = None, **fields):
    """Enqueue a query and wait for it (QUERY_TIMEOUT); (result, None) or (None, a 503 answer with the job id)."""
    router = current_app.extensions["router"]
    caller = current_caller()
    account_id = None
    if trader_index is not None:
        [(trader_index, account)] = target_accounts(router.settings, caller, trader_index)
        account_id = account.account_id
    payload = QueryPayload(what=what, account_index=trader_index, account_id=account_id, meta=meta_of(caller), **fields)
    job_id = jobqueue.enqueue(router.redis, payload, router.settings.JOB_TTL)
    job = jobqueue.wait(router.redis, job_id, router.settings.QUERY_TIMEOUT)
    if job.status == "finished":
        return job.result, None
    if job.status == "failed":
        return None, error_response(f"the worker could not answer: {job.error}", 503, job_id=job_id)
    return None, error_response(
        f"the worker did not answer within {router.settings.QUERY_TIMEOUT:g} s; the query is still queued", 503, job_id=job_id
    )


@bp.get("/accounts")
@documented("The enabled accounts, by trader_index", answers={200: AccountsAnswer}, errors=(401, 403, 503))
@require("query")
def accounts():
    result, failure = run_query("accounts")
    if failure is not None:
        return failure
    caller = current_caller()
    return jsonify({"success": True, "accounts": [a for a in result if caller.accounts is None or a["index"] in caller.accounts]})


@bp.get("/portfolio/<int:trader_index>")
@documented("Cash, frozen cash, market value, total asset and floating profit of one account", answers={200: PortfolioAnswer},
            errors=QUERY_ERRORS)
@require("query")
def portfolio(trader_index: int):
    result, failure = run_query("asset", trader_index)
    return failure or jsonify({"success": True, "portfolio": result})


@bp.get("/positions/<int:trader_index>")
@documented("The positions of one account", answers={200: PositionsAnswer}, errors=QUERY_ERRORS)
@require("query")
def positions(trader_index: int):
    result, failure = run_query("positions", trader_index)
    return failure or jsonify({"success": True, "positions": result})


@bp.post("/order")
@documented("One of today's orders", body=OrderLookup, answers={200: OrderAnswer}, errors=(400,) + QUERY_ERRORS + (422,))
@require("query")
def order():
    lookup = OrderLookup.model_validate(request_body())
    result, failure = run_query("order", lookup.trader_index, order_id=lookup.order_id)
    if failure is not None:
        return failure
    if result is None:
        return error_response(f"no order {lookup.order_id} today on trader_index {lookup.trader_index}", 404, field="order_id")
    return jsonify({"success": True, "order": result})


@bp.post("/orders")
@documented("Today's orders of one account (cancelable_only: the open ones)", body=OrdersLookup, answers={200: OrdersAnswer},
            errors=(400,) + QUERY_ERRORS + (422,))
@require("query")
def orders():
    lookup = OrdersLookup.model_validate(request_body())
    result, failure = run_query("orders", lookup.trader_index, cancelable_only=lookup.cancelable_only)
    return failure or jsonify({"success": True, "orders": result})
