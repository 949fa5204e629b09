"""From a validated request to a job payload: account, price type, lot and tick checks at the door.

A request that fails here never becomes a job.
"""
from __future__ import annotations

import time

from flask import request

from api.auth import Caller
from common.exceptions import InvalidPrice, UnknownAccount
from common.jobs import JobMeta, OrderPayload
from common.orders import BUY, PriceType, is_market, xt_price_type
from common.settings import AccountConfig, Settings
from common.symbols import check_buy_volume, check_sell_volume, instrument, is_on_tick


def account_at(settings: Settings, index: int) -> AccountConfig:
    accounts = settings.enabled_accounts
    if not 0 <= index < len(accounts):
        raise UnknownAccount(f"trader_index {index} selects no enabled account ({len(accounts)} enabled)", "trader_index")
    return accounts[index]


def meta_of(caller: Caller) -> JobMeta:
    return JobMeta(client_id=caller.client_id, source=request.remote_addr or "")


def order_payload(
    settings: Settings,
    caller: Caller,
    *,
    trader_index: int,
    symbol: str,
    order_type: int,
    volume: int,
    price: float,
    price_type: PriceType,
    strategy_name: str,
) -> OrderPayload:
    """Check an order as far as the door can know and build its payload (deadline = now + ORDER_TTL)."""
    caller.require_account(trader_index)
    account = account_at(settings, trader_index)
    inst = instrument(symbol)
    xt_type = xt_price_type(price_type, inst)
    if order_type == BUY:
        check_buy_volume(inst, volume)
    else:
        check_sell_volume(inst, volume)
    if not is_market(xt_type):
        if price <= 0:
            raise InvalidPrice("a limit order needs a price above 0", "price")
        if not is_on_tick(inst, price):
            raise InvalidPrice(f"price {price} is not on the {inst.tick} tick of {inst.code}", "price")
    return OrderPayload(
        account_index=trader_index,
        account_id=account.account_id,
        symbol=inst.code,
        order_type=order_type,
        volume=volume,
        price=price,
        price_type=int(price_type),
        xt_price_type=xt_type,
        strategy_name=strategy_name,
        deadline=time.time() + settings.ORDER_TTL,
        meta=meta_of(caller),
    )
