"""Query routes (prefix /qmt/trade/api): each runs as a job on the query queue; the Desk waits for it.

The answer is the data in the old server's shape; when the worker does not answer within
QUERY_TIMEOUT seconds, 503 with the job id (the query stays queued and can be polled).
`?max_age=S` accepts an answer up to S seconds old, shared with every caller asking the same (the status pages).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import router
from api.auth import current_caller, request_body
from api.openapi import documented
from api.schemas import AccountsAnswer, OrderAnswer, OrderLookup, OrdersAnswer, OrdersLookup, PortfolioAnswer, PositionsAnswer, TradesAnswer
from common.rules.exceptions import InvalidRequest
from common.store.payloads import QueryWhat

bp = Blueprint("query_api", __name__, url_prefix="/qmt/trade/api")
QUERY_ERRORS = (401, 403, 404, 503)
SHARING = {"max_age": "seconds (0-10): an answer this recent will do, shared with callers asking the same (default 0: a fresh one)"}


def _query(what: QueryWhat, trader_index: int | None = None, *, order_id: int | None = None, cancelable_only: bool = False) -> object:
    raw = request.args.get("max_age", "0")
    try:
        max_age = float(raw)
    except ValueError:
        raise InvalidRequest(f"max_age must be a number of seconds, got {raw[:20]!r}", "max_age") from None
    return router().desk.query(current_caller(), what, trader_index, max_age=max_age, order_id=order_id, cancelable_only=cancelable_only)


@bp.get("/accounts")
@documented("The enabled accounts, by trader_index", answers={200: AccountsAnswer}, query=SHARING, errors=(400, 401, 403, 503))
def accounts() -> Response:
    return jsonify({"success": True, "accounts": _query("accounts")})


@bp.get("/portfolio/<int:trader_index>")
@documented(
    "Cash, frozen cash, market value, total asset and floating profit of one account",
    answers={200: PortfolioAnswer},
    query=SHARING,
    errors=(400,) + QUERY_ERRORS,
)
def portfolio(trader_index: int) -> Response:
    return jsonify({"success": True, "portfolio": _query("asset", trader_index)})


@bp.get("/positions/<int:trader_index>")
@documented("The positions of one account", answers={200: PositionsAnswer}, query=SHARING, errors=(400,) + QUERY_ERRORS)
def positions(trader_index: int) -> Response:
    return jsonify({"success": True, "positions": _query("positions", trader_index)})


@bp.post("/order")
@documented("One of today's orders", body=OrderLookup, answers={200: OrderAnswer}, query=SHARING, errors=(400,) + QUERY_ERRORS + (422,))
def order() -> Response:
    lookup = OrderLookup.model_validate(request_body())
    return jsonify({"success": True, "order": _query("order", lookup.trader_index, order_id=lookup.order_id)})


@bp.post("/orders")
@documented(
    "Today's orders of one account (cancelable_only: the open ones)",
    body=OrdersLookup,
    answers={200: OrdersAnswer},
    query=SHARING,
    errors=(400,) + QUERY_ERRORS + (422,),
)
def orders() -> Response:
    lookup = OrdersLookup.model_validate(request_body())
    return jsonify({"success": True, "orders": _query("orders", lookup.trader_index, cancelable_only=lookup.cancelable_only)})


@bp.get("/trades/<int:trader_index>")
@documented("Today's trades (fills) of one account", answers={200: TradesAnswer}, query=SHARING, errors=(400,) + QUERY_ERRORS)
def trades(trader_index: int) -> Response:
    return jsonify({"success": True, "trades": _query("trades", trader_index)})
