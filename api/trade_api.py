"""Order and cancel routes (prefix /qmt/trade/api): validate, enqueue, answer 202 with the job id(s).

Where `trader_index` is optional and left out, the order or cancel fans out to every enabled
account the client may use, one job each.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for

from api import idempotency
from api.auth import current_caller, request_body, require
from api.errors import error_response
from api.intake import meta_of, order_payloads, repo_payloads, side_of, target_accounts
from api.openapi import documented
from api.schemas import (
    Accepted,
    AllinRequest,
    NhgRequest,
    OrderLookup,
    OuterTradeRequest,
    PctTradeRequest,
    Queued,
    SharesRequest,
    SideCancelRequest,
    TradeBody,
    TradeRequest,
)
from common import jobqueue, risk
from common.exceptions import DuplicateJob, IdempotencyConflict, RateLimited, StoreUnavailable
from common.jobs import CancelPayload, OrderPayload, idempotent_job_id
from common.orders import BUY, SELL, PriceType

bp = Blueprint("trade_api", __name__, url_prefix="/qmt/trade/api")
ORDER_ANSWERS = {202: Queued}
ORDER_ERRORS = (400, 401, 403, 404, 409, 422, 423, 429, 503)


def _router():
    return current_app.extensions["router"]


def _status_url(job_id: str) -> str:
    return url_for("jobs.get_job", job_id=job_id, _external=False)


def enqueue_all(payloads: list, single: bool):
    """Enqueue one job per payload; 202 with the job (single) or every job (fan-out).

    With an idempotency key, each job's id follows from the key, and a retry answers the original
    job(s) instead of queuing new ones. If Redis fails part-way, the answer is 503 and names the
    jobs already queued, so nothing is lost silently.
    """
    router = _router()
    key = idempotency.request_key()
    seen = idempotency.fingerprint() if key else None
    client_id = current_caller().client_id
    queued: list[tuple[int, str]] = []
    replayed = False
    limits = risk.load(router.redis)
    for payload in payloads:
        if isinstance(payload, OrderPayload):
            known = payload.sizing == "volume" and payload.price > 0
            risk.check_order(limits, payload.symbol, payload.volume * payload.price if known else None)
    counted: list[int] = []
    try:
        for payload in payloads:  # all or none: a fan-out is refused whole when one account is over its cap
            risk.count_action(router.redis, limits, payload.account_index)
            counted.append(payload.account_index)
    except RateLimited:
        for index in counted:
            risk.uncount_action(router.redis, index)
        raise
    try:
        for payload in payloads:
            job_id = idempotent_job_id(payload.kind, client_id, key, payload.account_index) if key else None
            try:
                queued.append((payload.account_index, jobqueue.enqueue(router.redis, payload, router.settings.JOB_TTL, job_id, seen)))
            except DuplicateJob as duplicate:
                risk.uncount_action(router.redis, payload.account_index)  # a retry is not a new order
                if duplicate.fingerprint != seen:
                    raise IdempotencyConflict(f"idempotency key {key!r} was used for a different request (job {duplicate.job_id})") from None
                queued.append((payload.account_index, duplicate.job_id))
                replayed = True
    except StoreUnavailable as error:
        if not queued:
            raise
        return error_response(f"{error.message}; only these jobs were queued: {', '.join(j for _, j in queued)}", 503, job_ids=[j for _, j in queued])
    if single:
        body = Accepted(job_id=queued[0][1], status_url=_status_url(queued[0][1])).model_dump()
    else:
        body = {
            "success": True,
            "job_ids": [job_id for _, job_id in queued],
            "jobs": [{"trader_index": index, "job_id": job_id, "status_url": _status_url(job_id)} for index, job_id in queued],
        }
    response = jsonify(body)
    response.status_code = 202
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/trade")
@documented("Place an order: an explicit volume on one account, or position_pct of each account",
            body=TradeBody, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
@require("trade")
def trade():
    body = request_body()
    settings = _router().settings
    if isinstance(body, dict) and "volume" not in body and "position_pct" in body:
        pct = PctTradeRequest.model_validate(body)
        order_type = pct.order_type or (SELL if pct.position_pct < 0 else BUY)
        payloads = order_payloads(
            settings, current_caller(), pct.trader_index, symbol=pct.symbol, order_type=order_type, price=pct.trade_price,
            price_type=pct.pricetype, strategy_name=pct.strategy_name, sizing="position_pct", position_pct=abs(pct.position_pct),
        )
        return enqueue_all(payloads, single=pct.trader_index is not None)
    order = TradeRequest.model_validate(body)
    payloads = order_payloads(
        settings, current_caller(), order.trader_index, symbol=order.symbol, order_type=order.order_type, volume=order.volume,
        price=order.price, price_type=order.price_type, strategy_name=order.strategy_name,
    )
    return enqueue_all(payloads, single=True)


def _shares(side: int):
    order = SharesRequest.model_validate(request_body())
    payloads = order_payloads(
        _router().settings, current_caller(), order.trader_index, symbol=order.symbol, order_type=side, volume=order.shares,
        price=order.price, price_type=order.price_type, strategy_name=order.strategy_name,
    )
    return enqueue_all(payloads, single=order.trader_index is not None)


@bp.post("/buy")
@documented("Buy `shares` of a symbol", body=SharesRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
@require("trade")
def buy():
    return _shares(BUY)


@bp.post("/sell")
@documented("Sell `shares` of a symbol", body=SharesRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
@require("trade")
def sell():
    return _shares(SELL)


@bp.post("/outer/trade/<any(buy, sell):side>")
@documented("Buy or sell by position_pct (buy: of total asset; sell: of the sellable holding) or order_num shares",
            body=OuterTradeRequest, answers=ORDER_ANSWERS, errors=ORDER_ERRORS)
@require("trade")
def outer_trade(side: str):
    order = OuterTradeRequest.model_validate(request_body())
    sized = {"sizing": "position_pct", "position_pct": order.position_pct} if order.position_pct is not None else {"volume": order.order_num}
    payloads = order_payloads(
        _router().settings, current_caller(), order.trader_index, symbol=order.symbol, order_type=side_of(side),
        price=order.trade_price, price_type=order.price_type, strategy_name=order.strategy_name, **sized,
    )
    return enqueue_all(payloads, single=order.trader_index is not None)


@bp.post("/trade/allin")
@documented("Buy as much of a symbol as the available cash allows, leaving room for fees", body=AllinRequest, answers=ORDER_ANSWERS,
            errors=ORDER_ERRORS)
@require("trade")
def allin():
    order = AllinRequest.model_validate(request_body())
    payloads = order_payloads(
        _router().settings, current_caller(), order.trader_index, symbol=order.symbol, order_type=BUY, price=order.cur_price,
        price_type=PriceType.LIMIT, strategy_name=order.strategy_name or "allin", sizing="allin",
    )
    return enqueue_all(payloads, single=order.trader_index is not None)


@bp.post("/trade/nhg")
@documented("Lend idle cash minus reserve_amount in 1-day reverse repo", body=NhgRequest, answers=ORDER_ANSWERS,
            errors=ORDER_ERRORS)
@require("trade")
def nhg():
    order = NhgRequest.model_validate(request_body())
    payloads = repo_payloads(_router().settings, current_caller(), order.trader_index, order.reserve_amount)
    return enqueue_all(payloads, single=order.trader_index is not None)


@bp.post("/cancel_order")
@documented("Cancel one order", body=OrderLookup, answers={202: Accepted}, errors=ORDER_ERRORS)
@require("cancel")
def cancel_order():
    lookup = OrderLookup.model_validate(request_body())
    caller = current_caller()
    [(index, account)] = target_accounts(_router().settings, caller, lookup.trader_index)
    payload = CancelPayload(account_index=index, account_id=account.account_id, order_id=lookup.order_id, meta=meta_of(caller))
    return enqueue_all([payload], single=True)


@bp.post("/cancel_orders/<any(buy, sale):side>")
@documented("Cancel every open buy (or sell: /cancel_orders/sale)", body=SideCancelRequest, answers=ORDER_ANSWERS,
            errors=ORDER_ERRORS)
@require("cancel")
def cancel_side(side: str):
    lookup = SideCancelRequest.model_validate(request_body())
    caller = current_caller()
    wanted = "buy" if side == "buy" else "sell"
    payloads = [
        CancelPayload(account_index=index, account_id=account.account_id, side=wanted, meta=meta_of(caller))
        for index, account in target_accounts(_router().settings, caller, lookup.trader_index)
    ]
    return enqueue_all(payloads, single=lookup.trader_index is not None)
