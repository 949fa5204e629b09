"""Order vocabulary: sides, the old server's price-type codes mapped to xtquant's, order statuses."""
from __future__ import annotations

from enum import IntEnum

from xtquant import xtconstant

from common.exceptions import PriceTypeUnsupported
from common.symbols import Board, Instrument

BUY = xtconstant.STOCK_BUY  # 23
SELL = xtconstant.STOCK_SELL  # 24
SIDE_NAMES = {BUY: "buy", SELL: "sell"}
REPO_CODES = ("131810.SZ", "204001.SH")  # 1-day reverse repo: R-001, GC001


class PriceType(IntEnum):
    """The old server's `price_type` codes (what clients send)."""

    LIMIT = 0
    LATEST = 1
    BEST_FIVE_THEN_CANCEL = 2
    OWN_BEST = 3
    COUNTERPARTY_BEST = 5


# Per exchange: old code -> xtquant price type. SH and BJ share the SH codes (42-45).
_XT_PRICE_TYPES: dict[str, dict[PriceType, int]] = {
    "SH": {
        PriceType.LIMIT: xtconstant.FIX_PRICE,
        PriceType.LATEST: xtconstant.LATEST_PRICE,
        PriceType.BEST_FIVE_THEN_CANCEL: xtconstant.MARKET_SH_CONVERT_5_CANCEL,
        PriceType.OWN_BEST: xtconstant.MARKET_MINE_PRICE_FIRST,
        PriceType.COUNTERPARTY_BEST: xtconstant.MARKET_PEER_PRICE_FIRST,
    },
    "SZ": {
        PriceType.LIMIT: xtconstant.FIX_PRICE,
        PriceType.LATEST: xtconstant.LATEST_PRICE,
        PriceType.BEST_FIVE_THEN_CANCEL: xtconstant.MARKET_SZ_CONVERT_5_CANCEL,
        PriceType.OWN_BEST: xtconstant.MARKET_MINE_PRICE_FIRST,
        PriceType.COUNTERPARTY_BEST: xtconstant.MARKET_PEER_PRICE_FIRST,
    },
}
_XT_PRICE_TYPES["BJ"] = _XT_PRICE_TYPES["SH"]
MARKET_XT_PRICE_TYPES = frozenset(range(42, 49))


def xt_price_type(price_type: PriceType, inst: Instrument) -> int:
    """The xtquant price type for an old-server code on the instrument's exchange.

    Raises PriceTypeUnsupported for a combination the exchange does not accept.
    """
    price_type = PriceType(price_type)
    if inst.board is Board.REPO and price_type is not PriceType.LIMIT:
        raise PriceTypeUnsupported(f"reverse repo {inst.code} trades only at a limit rate (price_type 0), not {price_type.name.lower()}", "price_type")
    try:
        return _XT_PRICE_TYPES[inst.exchange][price_type]
    except KeyError:
        raise PriceTypeUnsupported(f"price_type {int(price_type)} is not supported on {inst.exchange}", "price_type") from None


def is_market(xt_type: int) -> bool:
    """True for the price types that ignore the order price (latest and the market types)."""
    return xt_type == xtconstant.LATEST_PRICE or xt_type in MARKET_XT_PRICE_TYPES


# xtquant order statuses (DESIGN.md section 7).
STATUS_NAMES: dict[int, str] = {
    xtconstant.ORDER_UNREPORTED: "unreported",
    xtconstant.ORDER_WAIT_REPORTING: "wait_reporting",
    xtconstant.ORDER_REPORTED: "reported",
    xtconstant.ORDER_REPORTED_CANCEL: "reported_cancel_pending",
    xtconstant.ORDER_PARTSUCC_CANCEL: "part_filled_cancel_pending",
    xtconstant.ORDER_PART_CANCEL: "part_cancelled",
    xtconstant.ORDER_CANCELED: "cancelled",
    xtconstant.ORDER_PART_SUCC: "part_filled",
    xtconstant.ORDER_SUCCEEDED: "filled",
    xtconstant.ORDER_JUNK: "rejected",
    xtconstant.ORDER_UNKNOWN: "unknown",
}
OPEN_STATUSES = frozenset(
    {
        xtconstant.ORDER_UNREPORTED,
        xtconstant.ORDER_WAIT_REPORTING,
        xtconstant.ORDER_REPORTED,
        xtconstant.ORDER_REPORTED_CANCEL,
        xtconstant.ORDER_PARTSUCC_CANCEL,
        xtconstant.ORDER_PART_SUCC,
    }
)


def status_name(status: int | None) -> str | None:
    return None if status is None else STATUS_NAMES.get(status, f"status_{status}")
