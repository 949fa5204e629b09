"""The broker's answers (worker.broker_api's Order, Trade, Position, Asset) as the JSON the old server's clients read."""

from __future__ import annotations

import time

from common.rules.orders import SIDE_NAMES, status_name
from worker.broker_api import Asset, Order, Position, RepoLoan, Trade


def order_view(order: Order) -> dict:
    """An order as JSON (prices in yuan, volumes in shares or 张)."""
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "symbol": order.symbol,
        "name": order.name,
        "side": SIDE_NAMES.get(order.order_type, str(order.order_type)),
        "order_type": order.order_type,
        "volume": order.volume,
        "price": order.price,
        "price_type": order.price_type,
        "order_status": order.order_status,
        "status": status_name(order.order_status),
        "status_msg": order.status_msg,
        "traded_volume": order.traded_volume,
        "traded_price": order.traded_price,
        "strategy_name": order.strategy_name,
        "order_remark": order.order_remark,
        "order_time": order.order_time,
        "updated_at": time.time(),
    }


def trade_view(trade: Trade) -> dict:
    """A fill as JSON (yuan, shares or 张)."""
    return {
        "order_id": trade.order_id,
        "account_id": trade.account_id,
        "symbol": trade.symbol,
        "name": trade.name,
        "side": SIDE_NAMES.get(trade.order_type, str(trade.order_type)),
        "traded_id": trade.traded_id,
        "traded_time": trade.traded_time,
        "traded_volume": trade.traded_volume,
        "traded_price": trade.traded_price,
        "traded_amount": trade.traded_amount,
        "commission": trade.commission,
        "strategy_name": trade.strategy_name,
        "order_remark": trade.order_remark,
    }


def position_view(position: Position) -> dict:
    """A holding as JSON, with its floating profit (yuan) and profit_ratio in percent of cost, as the old server gave it."""
    cost = position.volume * position.avg_price
    profit = position.market_value - cost
    return {
        "symbol": position.symbol,
        "name": position.name,
        "volume": position.volume,
        "can_use_volume": position.can_use_volume,
        "frozen_volume": position.frozen_volume,
        "on_road_volume": position.on_road_volume,
        "yesterday_volume": position.yesterday_volume,
        "market_value": position.market_value,
        "avg_price": position.avg_price,
        "open_price": position.open_price,
        "current_price": position.last_price,
        "profit": round(profit, 2),
        "profit_ratio": percent_of_cost(profit, cost),
    }


def portfolio_view(asset: Asset, positions: list[Position]) -> dict:
    """An account's money plus the floating profit of its positions (yuan; profit_ratio in percent of cost)."""
    cost = sum(p.volume * p.avg_price for p in positions)
    profit = sum(p.market_value for p in positions) - cost
    return {
        "account_id": asset.account_id,
        "cash": asset.cash,
        "frozen_cash": asset.frozen_cash,
        "market_value": asset.market_value,
        "total_asset": asset.total_asset,
        "fetch_balance": asset.fetch_balance,
        "profit": round(profit, 2),
        "profit_ratio": percent_of_cost(profit, cost),
    }


def repo_loan_view(loan: RepoLoan) -> dict:
    """A reverse-repo loan as JSON: amount and interest in yuan, rate in annualised percent, days of interest, ISO dates
    (usable_on: the cash can trade again; withdrawable_on: it can leave the account, with the interest)."""
    return {
        "symbol": loan.symbol,
        "volume": loan.volume,
        "amount": loan.amount,
        "rate": loan.rate,
        "days": loan.days,
        "interest": loan.interest,
        "traded_on": loan.traded_on,
        "usable_on": loan.usable_on,
        "withdrawable_on": loan.withdrawable_on,
        "principal_back": loan.principal_back,
    }


def percent_of_cost(profit: float, cost: float) -> float:
    """profit / cost in percent (the old server's unit: 1.5 is +1.5%); 0 with no cost."""
    return round(profit / cost * 100, 4) if cost else 0.0
