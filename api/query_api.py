"""Query routes (prefix /qmt/trade/api): each runs as a job on the query queue; the Desk waits for it.

The answer is the data in the old server's shape; when the worker does not answer within
QUERY_TIMEOUT seconds, 503 with the job id (the query stays queued and can be polled).
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from api import router
from api.auth import current_caller, request_body, require
from api.openapi import documented
from api.schemas import AccountsAnswer, OrderAnswer, OrderLookup, OrdersAnswer, OrdersLookup, PortfolioAnswer, PositionsAnswer, TradesAnswer

bp = Blueprint("query_api", __name__, url_prefix="/qmt/trade/api")
QUERY_ERRORS = (401, 403, 404, 503)


def _query(what, trader_index: int | None = None, **fields):
    return router().desk.query(current_caller(), what, trader_index, **fields)


@bp.get("/accounts")
@documented("The enabled accounts, by trader_index", answers={200: AccountsAnswer}, errors=(401, 403, 503))
@require("query")
def accounts():
    return jsonify({"success": True, "accounts": _query("accounts")})


@bp.get("/portfolio/<int:trader_index>")
@documented("Cash, frozen cash, market value, total asset and floating profit of one account", answers={200: PortfolioAnswer}, errors=QUERY_ERRORS)
@require("query")
def portfolio(trader_index: int):
    return jsonify({"success": True, "portfolio": _query("asset", trader_index)})


@bp.get("/positions/<int:trader_index>")
@documented("The positions of one account", answers={200: PositionsAnswer}, errors=QUERY_ERRORS)
@require("query")
def positions(trader_index: int):
    return jsonify({"success": True, "positions": _query("positions", trader_index)})


@bp.post("/order")
@documented("One of today's orders", body=OrderLookup, answers={200: OrderAnswer}, errors=(400,) + QUERY_ERRORS + (422,))
@require("query")
def order():
    lookup = OrderLookup.model_validate(request_body())
    return jsonify({"success": True, "order": _query("order", lookup.trader_index, order_id=lookup.order_id)})


@bp.post("/orders")
@documented(
    "Today's orders of one account (cancelable_only: the open ones)",
    body=OrdersLookup,
    answers={200: OrdersAnswer},
    errors=(400,) + QUERY_ERRORS + (422,),
)
@require("query")
def orders():
    lookup = OrdersLookup.model_validate(request_body())
    return jsonify({"success": True, "orders": _query("orders", lookup.trader_index, cancelable_only=lookup.cancelable_only)})


@bp.get("/trades/<int:trader_index>")
@documented("Today's trades (fills) of one account", answers={200: TradesAnswer}, errors=QUERY_ERRORS)
@require("query")
def trades(trader_index: int):
    return jsonify({"success": True, "trades": _query("trades", trader_index)})
