"""The simulator's books as the real xtquant.xttype objects, every documented field filled."""

from __future__ import annotations

from common.rules.symbols import instrument
from worker.sim.book import Account, Holding
from worker.xtquant_sdk import xtconstant as xc
from worker.xtquant_sdk import xttype

MARKETS = {"SH": xc.SH_MARKET, "SZ": xc.SZ_MARKET, "BJ": xc.MARKET_ENUM_BEIJING}


def _direction(order_type: int) -> tuple[int, int]:
    buy = order_type == xc.STOCK_BUY
    return (xc.DIRECTION_FLAG_BUY if buy else xc.DIRECTION_FLAG_SELL), (xc.OFFSET_FLAG_OPEN if buy else xc.OFFSET_FLAG_CLOSE)


def _name(record: dict) -> str:
    return record.get("name") or f"SIM{record['code'][:6]}"


def xt_order(account_id: str, order: dict) -> xttype.XtOrder:
    direction, offset = _direction(order["order_type"])
    traded_price = round(order["traded_amount"] / order["traded_volume"], 4) if order["traded_volume"] else 0.0
    return xttype.XtOrder(
        account_id,
        order["code"],
        order["order_id"],
        order["order_sysid"],
        order["order_time"],
        order["order_type"],
        order["volume"],
        order["price_type"],
        order["price"],
        order["traded_volume"],
        traded_price,
        order["status"],
        order["status_msg"],
        order["strategy_name"],
        order["order_remark"],
        direction,
        offset,
        account_id,
        _name(order),
    )


def xt_trade(account_id: str, trade: dict) -> xttype.XtTrade:
    direction, offset = _direction(trade["order_type"])
    return xttype.XtTrade(
        account_id,
        trade["code"],
        trade["order_type"],
        trade["traded_id"],
        trade["traded_time"],
        trade["price"],
        trade["volume"],
        trade["amount"],
        trade["order_id"],
        trade["order_sysid"],
        trade["strategy_name"],
        trade["order_remark"],
        direction,
        offset,
        trade["commission"],
        account_id,
        _name(trade),
    )


def xt_position(account_id: str, code: str, holding: Holding, last_price: float, name: str) -> xttype.XtPosition:
    market_value = round(holding.volume * last_price, 2) if instrument(code).board.value != "repo" else round(holding.cost, 2)
    profit_rate = round((market_value - holding.cost) / holding.cost, 6) if holding.cost else 0.0
    return xttype.XtPosition(
        account_id,
        code,
        holding.volume,
        holding.can_use_volume,
        holding.open_price,
        market_value,
        holding.frozen_volume,
        0,
        holding.yesterday_volume,
        holding.avg_price,
        xc.DIRECTION_FLAG_LONG,
        last_price,
        profit_rate,
        account_id,
        name,
    )


def xt_asset(account_id: str, account: Account, market_value: float) -> xttype.XtAsset:
    total = round(account.cash + account.frozen_cash + market_value, 2)
    return xttype.XtAsset(account_id, round(account.cash, 2), round(account.frozen_cash, 2), market_value, total, round(account.cash, 2))


def order_error(account_id: str, order: dict) -> xttype.XtOrderError:
    return xttype.XtOrderError(account_id, order["order_id"], -1, order["status_msg"], order["strategy_name"], order["order_remark"])


def cancel_error(account_id: str, order_id: int, order: dict | None, message: str) -> xttype.XtCancelError:
    market = MARKETS.get(order["code"][-2:], -1) if order else -1
    return xttype.XtCancelError(account_id, order_id, market, order["order_sysid"] if order else "", -1, message)
