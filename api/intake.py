"""From a validated request to job payloads: accounts (fan-out), price type, lot and tick checks at the door.

A request that fails here never becomes a job.
"""
from __future__ import annotations

import time
from typing import Any

from flask import request

from api.auth import Caller
from common.exceptions import InvalidOrderSide, InvalidPrice, UnknownAccount
from common.jobs import JobMeta, OrderPayload, Sizing
from common.orders import BUY, REPO_CODES, SELL, PriceType, is_market, xt_price_type
from common.settings import AccountConfig, Settings
from common.symbols import Board, check_buy_volume, check_sell_volume, instrument, is_on_tick


def account_at(settings: Settings, index: int) -> AccountConfig:
    accounts = settings.enabled_accounts
    if not 0 <= index < len(accounts):
        raise UnknownAccount(f"trader_index {index} selects no enabled account ({len(accounts)} enabled)", "trader_index")
    return accounts[index]


def target_accounts(settings: Settings, caller: Caller, trader_index: int | None) -> list[tuple[int, AccountConfig]]:
    """The one account named, or every enabled account the caller may use (fan-out)."""
    if trader_index is not None:
        caller.require_account(trader_index)
        return [(trader_index, account_at(settings, trader_index))]
    found = [(i, a) for i, a in enumerate(settings.enabled_accounts) if caller.accounts is None or i in caller.accounts]
    if not found:
        raise UnknownAccount("no enabled account that this client may use", "trader_index")
    return found


def meta_of(caller: Caller) -> JobMeta:
    return JobMeta(client_id=caller.client_id, source=request.remote_addr or "")


def order_payloads(
    settings: Settings,
    caller: Caller,
    trader_index: int | None,
    *,
    symbol: str,
    order_type: int,
    price: float,
    price_type: PriceType,
    strategy_name: str = "",
    volume: int = 0,
    sizing: Sizing = "volume",
    position_pct: float | None = None,
    reserve_amount: float = 0.0,
) -> list[OrderPayload]:
    """Check an order as far as the door can know and build one payload per target account.

    `price` 0 on a sized order (position_pct, allin) takes the latest quote in the worker.
    """
    targets = target_accounts(settings, caller, trader_index)
    inst = instrument(symbol)
    if inst.board is Board.REPO and order_type == BUY:
        raise InvalidOrderSide(f"reverse repo {inst.code} is lent with a sell (order_type 24); buying it is borrowing", "order_type")
    xt_type = xt_price_type(price_type, inst)
    if sizing == "volume":
        (check_buy_volume if order_type == BUY else check_sell_volume)(inst, volume)
    if 0 < price < float(inst.tick):
        raise InvalidPrice(f"price {price} is below one tick ({inst.tick}) of {inst.code}", "price")
    if not is_market(xt_type):
        if price <= 0 and sizing == "volume":
            raise InvalidPrice("a limit order needs a price above 0", "price")
        if price > 0 and not is_on_tick(inst, price):
            raise InvalidPrice(f"price {price} is not on the {inst.tick} tick of {inst.code}", "price")
    deadline = time.time() + settings.ORDER_TTL
    meta = meta_of(caller)
    return [
        OrderPayload(
            account_index=index,
            account_id=account.account_id,
            symbol=inst.code,
            order_type=order_type,
            volume=volume,
            price=price,
            price_type=int(price_type),
            xt_price_type=xt_type,
            sizing=sizing,
            position_pct=position_pct,
            reserve_amount=reserve_amount,
            strategy_name=strategy_name,
            deadline=deadline,
            meta=meta,
        )
        for index, account in targets
    ]


def repo_payloads(settings: Settings, caller: Caller, trader_index: int | None, reserve_amount: float) -> list[OrderPayload]:
    """The nhg sweep: a repo SELL per account, sized and priced (the better of R-001 and GC001) in the worker."""
    return order_payloads(
        settings, caller, trader_index, symbol=REPO_CODES[0], order_type=SELL, price=0.0, price_type=PriceType.LIMIT,
        strategy_name="nhg", sizing="repo", reserve_amount=reserve_amount,
    )


def side_of(value: Any) -> int:
    return BUY if value == "buy" else SELL
