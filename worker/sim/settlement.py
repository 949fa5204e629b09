"""End of a trading day in the simulator: open orders end, T+1 shares become sellable, repo principal and interest return.

Trading days come from the calendar (common.rules.calendar), holidays included.
"""

from __future__ import annotations

from datetime import date, timedelta

from worker.sim.exchange import OPEN, Exchange
from worker.xtquant_sdk import xtconstant as xc

KEEP_DAYS = 7  # orders and trades older than this are dropped from the books


def roll_day(exchange: Exchange) -> date:
    """Move the simulator to the next trading day and settle; returns the new day."""
    book = exchange.book
    closes: dict[str, float] = {}
    new_day = exchange.next_session()
    for account in book.accounts.values():
        for code in account.positions:
            closes[code] = exchange.quote(code).last
        for order in account.orders.values():
            if order["status"] in OPEN:  # unfilled at the close: the exchange drops it
                order["status"] = xc.ORDER_PART_CANCEL if order["traded_volume"] else xc.ORDER_CANCELED
                exchange.release(account, order)
        for loan in list(account.loans):
            if not loan.principal_back and date.fromisoformat(loan.settles or loan.mature) <= new_day:
                account.cash = round(account.cash + loan.principal, 2)  # usable again from the first settlement day
                holding = account.holding(loan.code)
                holding.volume -= loan.volume
                holding.cost = round(holding.cost - loan.principal, 2)
                loan.principal_back = True
            if date.fromisoformat(loan.mature) <= new_day:
                account.cash = round(account.cash + loan.interest, 2)  # the interest arrives at maturity
                account.loans.remove(loan)
        for code, holding in list(account.positions.items()):
            if holding.volume <= 0 and holding.frozen_volume <= 0:
                del account.positions[code]
                continue
            holding.can_use_volume = holding.volume - holding.frozen_volume
            holding.yesterday_volume = holding.volume
        oldest = (new_day - timedelta(days=KEEP_DAYS)).isoformat()
        account.orders = {i: o for i, o in account.orders.items() if o["day"] >= oldest}
        account.trades = [t for t in account.trades if t["day"] >= oldest]
    exchange.prices.roll(closes)
    book.day = new_day.isoformat()
    return new_day


def roll_until(exchange: Exchange, today: date) -> int:
    """Roll day by day until the simulator's day is `today` (or later); returns how many days were rolled."""
    rolled = 0
    while exchange.day < today:
        roll_day(exchange)
        rolled += 1
    return rolled
