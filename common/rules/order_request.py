"""One typed order request: what a caller asks to trade, from the route through the desk to the payload and the worker.

An order names its code, side, price and price type and one of four sizes:
- `Shares`: an explicit volume (shares; 张 for bonds and repo);
- `Percent`: a share of the account, sized by the worker where the account is known (a buy: of total asset;
  a sell: of the sellable holding, 100% selling it all);
- `AllIn`: as much as the available cash buys, fees included;
- `Repo`: the nhg sweep, idle cash minus a reserve lent in 1-day reverse repo at the best-quoted of its codes.

The job payload (common.store.payloads.OrderPayload) carries a size as flat wire fields, so jobs queued by earlier
versions still read; `wire_fields` and `size_of` are the two directions of that mapping, and nothing else knows it.
Cancels are typed by the desk's own methods: `cancel_order` (one order by its broker id), `cancel_side` (buy or sell).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.rules.orders import BUY, PriceType

Side = Literal[23, 24]  # xtconstant STOCK_BUY / STOCK_SELL (common.rules.orders.BUY / SELL)
Sizing = Literal["volume", "position_pct", "allin", "repo"]  # the payload's wire name of each size


@dataclass(frozen=True)
class Shares:
    """An explicit volume: shares (张 for bonds and repo)."""

    volume: int


@dataclass(frozen=True)
class Percent:
    """`share` (0 < share <= 1) of the account: a buy of total asset, a sell of the sellable holding."""

    share: float


@dataclass(frozen=True)
class AllIn:
    """Buy as much as the available cash pays for, fees included."""


@dataclass(frozen=True)
class Repo:
    """The nhg sweep: lend idle cash minus `reserve_amount` yuan in 1-day reverse repo, at the best of `codes`
    (None: R-001 and GC001)."""

    reserve_amount: float = 0.0
    codes: tuple[str, ...] | None = None


Size = Shares | Percent | AllIn | Repo


@dataclass(frozen=True)
class OrderRequest:
    """An order as the caller asked for it, before the door's checks (common.desk.submission.Desk.place).

    `price` in yuan (repo: rate in percent); 0 on a sized order or a market price type takes the latest quote in the
    worker. `price_type` is the old server's code (PriceType); the exchange's own type is resolved at the door.
    """

    symbol: str
    side: Side
    size: Size
    price: float = 0.0
    price_type: PriceType = PriceType.LIMIT
    strategy_name: str = ""

    @property
    def volume(self) -> int | None:
        """The volume when the caller gave one; None when the worker sizes the order."""
        return self.size.volume if isinstance(self.size, Shares) else None


def buy(symbol: str, size: Size, price: float = 0.0, price_type: PriceType = PriceType.LIMIT, strategy_name: str = "") -> OrderRequest:
    return OrderRequest(symbol, BUY, size, price, price_type, strategy_name)


@dataclass(frozen=True)
class WireSize:
    """A size as the job payload carries it (its flat fields)."""

    sizing: Sizing
    volume: int = 0
    position_pct: float | None = None
    reserve_amount: float = 0.0
    repo_codes: list[str] | None = field(default=None)


def wire_fields(size: Size) -> WireSize:
    """The payload's fields for `size`."""
    match size:
        case Shares(volume):
            return WireSize("volume", volume=volume)
        case Percent(share):
            return WireSize("position_pct", position_pct=share)
        case AllIn():
            return WireSize("allin")
        case Repo(reserve_amount, codes):
            return WireSize("repo", reserve_amount=reserve_amount, repo_codes=list(codes) if codes else None)


def size_of(wire: WireSize) -> Size:
    """The size the payload's fields stand for (the inverse of `wire_fields`)."""
    match wire.sizing:
        case "volume":
            return Shares(wire.volume)
        case "position_pct":
            return Percent(wire.position_pct or 0.0)
        case "allin":
            return AllIn()
        case "repo":
            return Repo(wire.reserve_amount, tuple(wire.repo_codes) if wire.repo_codes else None)
