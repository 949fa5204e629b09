"""Order sizing (pure: the worker calls it where the account is known): percent buys and sells, all-in buys, the repo sweep.

Every size rounds down to a legal volume for the board; a size that rounds to zero raises
SizeRoundsToZero with the reason, so no zero order ever reaches QMT. Money in yuan, volumes in
shares (张 for bonds and repo), rates as fractions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from common.rules.exceptions import SizeRoundsToZero
from common.rules.order_request import AllIn, Percent, Shares
from common.rules.orders import BUY
from common.rules.quote import Quote
from common.rules.symbols import Board, Instrument, round_down_volume

REPO_FACE_VALUE = 100  # yuan per 张 of reverse repo


class FeeSettings(Protocol):
    """The settings a fee schedule is read from (common.config.settings.Settings has them)."""

    FEE_COMMISSION_RATE: float
    FEE_COMMISSION_MIN: float
    FEE_STAMP_DUTY_RATE: float
    FEE_TRANSFER_RATE: float


@dataclass(frozen=True)
class Fees:
    """A retail fee schedule (docs/internals.md, "Domain rules"); rates are fractions of the traded amount."""

    commission_rate: float = 0.00025
    commission_min: float = 5.0
    stamp_duty_rate: float = 0.0005  # sells only
    transfer_rate: float = 0.00001
    repo_rate_1day: float = 0.00001

    @classmethod
    def from_settings(cls, settings: FeeSettings) -> Fees:
        return cls(settings.FEE_COMMISSION_RATE, settings.FEE_COMMISSION_MIN, settings.FEE_STAMP_DUTY_RATE, settings.FEE_TRANSFER_RATE)

    def commission(self, amount: float) -> float:
        return round(max(amount * self.commission_rate, self.commission_min), 2)

    def buy_cost(self, amount: float) -> float:
        """Fees on a buy of `amount` yuan: commission (with its minimum) and transfer fee."""
        return round(self.commission(amount) + amount * self.transfer_rate, 2)

    def sell_cost(self, amount: float) -> float:
        """Fees on a sell of `amount` yuan: commission, stamp duty and transfer fee."""
        return round(self.commission(amount) + amount * (self.stamp_duty_rate + self.transfer_rate), 2)

    def repo_cost(self, principal: float, days: int = 1) -> float:
        """The fee of lending `principal` yuan in reverse repo for `days` (0.001% a day for 1-day repo)."""
        return round(principal * self.repo_rate_1day * days, 2)


def pct_buy_volume(inst: Instrument, total_asset: float, price: float, position_pct: float, cash: float, fees: Fees) -> int:
    """Buy `position_pct` of total asset at `price`, no more than the cash pays for with fees."""
    if price <= 0:
        raise SizeRoundsToZero(f"no price to size a position_pct buy of {inst.code}", "price")
    budget = min(total_asset * position_pct, cash)
    volume = _affordable(inst, budget, price, fees)
    if volume == 0:
        raise SizeRoundsToZero(
            f"{position_pct:.2%} of total asset {total_asset:,.2f} (cash {cash:,.2f}) buys no legal lot of {inst.code} at {price}",
            "position_pct",
        )
    return volume


def pct_sell_volume(inst: Instrument, can_use_volume: int, position_pct: float) -> int:
    """Sell `position_pct` of the sellable holding; 100% sells it all, odd lot included."""
    if can_use_volume <= 0:
        raise SizeRoundsToZero(f"nothing of {inst.code} is sellable (can_use_volume 0)", "position_pct")
    if position_pct >= 1:
        return can_use_volume
    volume = round_down_volume(inst, can_use_volume * position_pct)
    if volume == 0:
        raise SizeRoundsToZero(f"{position_pct:.2%} of sellable {can_use_volume} {inst.code} is less than one lot", "position_pct")
    return volume


def allin_volume(inst: Instrument, cash: float, price: float, fees: Fees) -> int:
    """The most `inst` that available `cash` buys at `price`, leaving room for fees."""
    if price <= 0:
        raise SizeRoundsToZero(f"no price to size an all-in buy of {inst.code}", "cur_price")
    volume = _affordable(inst, cash, price, fees)
    if volume == 0:
        raise SizeRoundsToZero(f"available cash {cash:,.2f} buys no legal lot of {inst.code} at {price}", "cur_price")
    return volume


def repo_volume(inst: Instrument, cash: float, reserve_amount: float, fees: Fees) -> int:
    """张 of reverse repo to lend: cash minus the reserve and the fee, in steps of 10 张 (1,000 yuan)."""
    if inst.board is not Board.REPO:
        raise ValueError(f"{inst.code} is not a reverse repo code")
    idle = (cash - reserve_amount) / (1 + fees.repo_rate_1day)
    volume = round_down_volume(inst, math.floor(idle / REPO_FACE_VALUE + 1e-9))
    if volume == 0:
        raise SizeRoundsToZero(
            f"cash {cash:,.2f} minus reserve {reserve_amount:,.2f} is below the 1,000-yuan minimum of reverse repo", "reserve_amount"
        )
    return volume


def _affordable(inst: Instrument, budget: float, price: float, fees: Fees) -> int:
    if price < float(inst.tick) or not math.isfinite(budget / price):
        return 0
    volume = round_down_volume(inst, budget / price)
    while volume > 0 and volume * price + fees.buy_cost(volume * price) > budget + 1e-6:
        volume = round_down_volume(inst, volume - 1)
    return volume


@dataclass(frozen=True)
class Funds:
    """What sizing needs of the account, read only when the size needs it (a broker query each): total asset and cash
    (yuan), and the sellable volume of a code."""

    total_asset: Callable[[], float]
    cash: Callable[[], float]
    can_use_volume: Callable[[str], int]


def sized_volume(inst: Instrument, size: Shares | Percent | AllIn, side: int, price: float, funds: Funds, fees: Fees) -> int:
    """The volume an order of `size` sends at `price` (yuan a share: the risk gate's worst price for a market buy): the
    one rule the worker sizes with and the order preview shows. Raises SizeRoundsToZero."""
    if isinstance(size, Shares):
        return size.volume
    if isinstance(size, Percent) and side == BUY:
        return pct_buy_volume(inst, funds.total_asset(), price, size.share, funds.cash(), fees)
    if isinstance(size, Percent):
        return pct_sell_volume(inst, funds.can_use_volume(inst.code), size.share)
    return allin_volume(inst, funds.cash(), price, fees)


def best_repo_quote(found: list[Quote]) -> Quote | None:
    """The quote a reverse-repo sweep lends at: the higher bid rate (a lender sells), else the higher last."""
    return max(found, key=lambda quote: quote.bid or quote.last) if found else None
