"""Order and cancel routes (prefix /qmt/trade/api): parse, hand to the Desk, answer 202 with the job id(s).

Where `trader_index` is optional and left out, the order or cancel fans out to every enabled
account the client may use, one job each. The door checks, risk, idempotency and the enqueue
are the Desk's (common.desk.submission); these routes only translate. POST /preview/<order route> answers what
that order would be on one account (common.desk.preview), queuing nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, url_for
from pydantic import BaseModel

from api import idempotency, router, waiting
from api.auth import current_caller, request_body
from api.openapi import documented
from api.schemas import (
    Accepted,
    AllinRequest,
    NhgRequest,
    OrderLookup,
    OrderPreviewModel,
    OuterTradeRequest,
    PctTradeRequest,
    PreviewAnswer,
    Queued,
    SharesRequest,
    SideCancelRequest,
    TradeBody,
    TradeRequest,
    Waited,
)
from common.desk import preview, submission
from common.rules.exceptions import InvalidRequest
from common.rules.order_request import AllIn, OrderRequest, Percent, Shares, Side
from common.rules.orders import BUY, SELL, PriceType

bp = Blueprint("trade_api", __name__, url_prefix="/qmt/trade/api")
ORDER_ANSWERS: dict[int, type[BaseModel]] = {200: Waited, 202: Queued}  # 200 only to a caller who asked to wait (Prefer: wait=N)
ORDER_ERRORS = (400, 401, 403, 404, 409, 422, 423, 429, 503)


def _status_url(job_id: str) -> str:
    return url_for("jobs.get_job", job_id=job_id, _external=False)


def accepted(queued: submission.Queued, single: bool, **old_fields: object) -> Response:
    """202 with the job (single) or every job (fan-out); `Idempotent-Replayed` when these are the original jobs.

    A caller who asked to wait (api.waiting) gets the old server's 200 answer instead when the broker decides in time.
    """
    caller = current_caller()
    wait = waiting.requested_wait(caller)
    if wait:
        waited = waiting.waited_answer(router().desk, caller, queued, wait, **old_fields)
        if waited is not None:
            if queued.replayed:
                waited.headers["Idempotent-Replayed"] = "true"
            return waited
    if single:
        job_id = queued.jobs[0][1]
        body = Accepted(job_id=job_id, status_url=_status_url(job_id)).model_dump()
    else:
        body = {
            "success": True,
            "job_ids": queued.job_ids,
            "jobs": [{"trader_index": index, "job_id": job_id, "status_url": _status_url(job_id)} for index, job_id in queued.jobs],
        }
    response = jsonify(body)
    response.status_code = 202
    if queued.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if wait:
        response.headers["Preference-Applied"] = "respond-async"
    return response


def _place(trader_index: int | None, single: bool, request: OrderRequest, old_fields: Mapping[str, object] | None = None) -> Response:
    queued = router().desk.place(current_caller(), trader_index, request, idempotency=idempotency.of_request())
    return accepted(queued, single, **(old_fields or {}))


@bp.post("/trade")
@documented(
    "Place an order: an explicit volume on one account, or position_pct of each account", body=TradeBody, answers=ORDER_ANSWERS, errors=ORDER_ERRORS
)
def trade() -> Response:
    trader_index, single, request = _trade_order()
    return _place(trader_index, single, request)


def _trade_order() -> tuple[int | None, bool, OrderRequest]:
    """POST /trade's body as an order: the account (None: every account), whether it is one job, and the request."""
    body = request_body()
    if isinstance(body, dict) and "volume" not in body and "position_pct" in body:
        pct = PctTradeRequest.model_validate(body)
        side = pct.order_type or (SELL if pct.position_pct < 0 else BUY)
        request = OrderRequest(pct.symbol, side, Percent(abs(pct.position_pct)), pct.trade_price, pct.pricetype, pct.strategy_name)
        return pct.trader_index, pct.trader_index is not None, request
    order = TradeRequest.model_validate(body)
    request = OrderRequest(order.symbol, order.order_type, Shares(order.volume), order.price, order.price_type, order.strategy_name)
    return order.trader_index, True, request


def _shares(side: Side) -> Response:
    order = SharesRequest.model_validate(request_body())
    request = OrderRequest(order.symbol, side, Shares(order.shares), order.price, order.price_type, order.strategy_name)
    return _place(order.trader_index, order.trader_index is not None, request)


@bp.post("/buy")
@documented("Buy `shares` of a symbol", body=SharesRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
def buy() -> Response:
    return _shares(BUY)


@bp.post("/sell")
@documented("Sell `shares` of a symbol", body=SharesRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
def sell() -> Response:
    return _shares(SELL)


@bp.post("/outer/trade/<any(buy, sell):side>")
@bp.post("/outer/trade/batch/<any(buy, sell):side>")  # the old server's batch route, which its SDK script calls: every account
@documented(
    "Buy or sell by position_pct (buy: of total asset; sell: of the sellable holding) or order_num shares",
    body=OuterTradeRequest,
    answers=ORDER_ANSWERS,
    errors=ORDER_ERRORS,
)
def outer_trade(side: str) -> Response:
    order = OuterTradeRequest.model_validate(request_body())
    by_pct = order.position_pct is not None
    size = Percent(order.position_pct) if order.position_pct is not None else Shares(order.order_num or 0)
    old_fields = {
        "operation": side,
        "trade_mode": "position_pct" if by_pct else "order_num",
        "trade_param": order.position_pct if by_pct else order.order_num,
        "strategy_name": order.strategy_name,
    }
    request = OrderRequest(order.symbol, BUY if side == "buy" else SELL, size, order.trade_price, order.price_type, order.strategy_name)
    return _place(order.trader_index, order.trader_index is not None, request, old_fields)


@bp.post("/trade/allin")
@documented(
    "Buy as much of a symbol as the available cash allows, leaving room for fees", body=AllinRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS
)
def allin() -> Response:
    order = AllinRequest.model_validate(request_body())
    return _place(order.trader_index, order.trader_index is not None, _allin_order(order))


def _allin_order(order: AllinRequest) -> OrderRequest:
    return OrderRequest(order.symbol, BUY, AllIn(), order.cur_price, PriceType.LIMIT, order.strategy_name or "allin")


@bp.post("/trade/nhg")
@documented("Lend idle cash minus reserve_amount in 1-day reverse repo", body=NhgRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
def nhg() -> Response:
    order = NhgRequest.model_validate(request_body())
    queued = router().desk.sweep_repo(current_caller(), order.trader_index, order.reserve_amount, idempotency=idempotency.of_request())
    return accepted(queued, order.trader_index is not None, reserve_amount=order.reserve_amount)


@bp.post("/cancel_order")
@documented("Cancel one order", body=OrderLookup, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
def cancel_order() -> Response:
    lookup = OrderLookup.model_validate(request_body())
    queued = router().desk.cancel_order(current_caller(), lookup.trader_index, lookup.order_id, idempotency=idempotency.of_request())
    return accepted(queued, single=True)


@bp.post("/cancel_orders/<any(buy, sale):side>")
@documented("Cancel every open buy (or sell: /cancel_orders/sale)", body=SideCancelRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
def cancel_side(side: str) -> Response:
    lookup = SideCancelRequest.model_validate(request_body())
    queued = router().desk.cancel_side(
        current_caller(), lookup.trader_index, "buy" if side == "buy" else "sell", idempotency=idempotency.of_request()
    )
    return accepted(queued, single=lookup.trader_index is not None)


# -- previews: what an order would be, before it is sent (read-only: nothing queued or counted) ---------------------
PREVIEW_ERRORS = (400, 401, 403, 404, 422, 429, 503)


def _previewed(trader_index: int | None, request: OrderRequest | None = None, reserve_amount: float = 0.0) -> Response:
    if trader_index is None:
        raise InvalidRequest("trader_index is required: a preview is of one account", "trader_index")
    desk, caller = router().desk, current_caller()
    found = preview.preview(desk, caller, trader_index, request) if request else preview.preview_repo(desk, caller, trader_index, reserve_amount)
    return jsonify(PreviewAnswer(preview=OrderPreviewModel.model_validate(asdict(found))).model_dump(mode="json"))


@bp.post("/preview/trade")
@documented("Preview POST /trade's order on one account: quote, volume in lots, notional, fees, nearest risk limit", body=TradeBody,
            answers={200: PreviewAnswer}, errors=PREVIEW_ERRORS)  # fmt: skip
def preview_trade() -> Response:
    trader_index, _, request = _trade_order()
    return _previewed(trader_index, request)


@bp.post("/preview/trade/allin")
@documented("Preview POST /trade/allin on one account", body=AllinRequest, answers={200: PreviewAnswer}, errors=PREVIEW_ERRORS)
def preview_allin() -> Response:
    order = AllinRequest.model_validate(request_body())
    return _previewed(order.trader_index, _allin_order(order))


@bp.post("/preview/trade/nhg")
@documented("Preview POST /trade/nhg on one account", body=NhgRequest, answers={200: PreviewAnswer}, errors=PREVIEW_ERRORS)
def preview_nhg() -> Response:
    order = NhgRequest.model_validate(request_body())
    return _previewed(order.trader_index, reserve_amount=order.reserve_amount)
