"""Order vocabulary: sides, the old server's price-type codes mapped to xtquant's, order statuses."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from common.rules.exceptions import InvalidSymbol, PriceTypeUnsupported
from common.rules.symbols import Board, Instrument, instrument

# xtquant's numbers under xtconstant's own names, copied so the web and the scheduler never import
# the broker SDK; tests/common/test_orders.py pins each one to xtconstant.
STOCK_BUY: Final = 23  # xtconstant.STOCK_BUY
STOCK_SELL: Final = 24  # xtconstant.STOCK_SELL
LATEST_PRICE = 5  # xtconstant.LATEST_PRICE: the latest trade price
FIX_PRICE = 11  # xtconstant.FIX_PRICE: limit price
MARKET_SH_CONVERT_5_CANCEL = 42  # xtconstant.MARKET_SH_CONVERT_5_CANCEL: SH/BJ best five, rest cancelled
MARKET_PEER_PRICE_FIRST = 44  # xtconstant.MARKET_PEER_PRICE_FIRST: counterparty's best price
MARKET_MINE_PRICE_FIRST = 45  # xtconstant.MARKET_MINE_PRICE_FIRST: own side's best price
MARKET_SZ_CONVERT_5_CANCEL = 47  # xtconstant.MARKET_SZ_CONVERT_5_CANCEL: SZ best five, rest cancelled
MARKET_SZ_FULL_OR_CANCEL = 48  # xtconstant.MARKET_SZ_FULL_OR_CANCEL: the highest market price type
ORDER_UNREPORTED = 48  # xtconstant.ORDER_UNREPORTED
ORDER_WAIT_REPORTING = 49  # xtconstant.ORDER_WAIT_REPORTING
ORDER_REPORTED = 50  # xtconstant.ORDER_REPORTED
ORDER_REPORTED_CANCEL = 51  # xtconstant.ORDER_REPORTED_CANCEL
ORDER_PARTSUCC_CANCEL = 52  # xtconstant.ORDER_PARTSUCC_CANCEL
ORDER_PART_CANCEL = 53  # xtconstant.ORDER_PART_CANCEL
ORDER_CANCELED = 54  # xtconstant.ORDER_CANCELED
ORDER_PART_SUCC = 55  # xtconstant.ORDER_PART_SUCC
ORDER_SUCCEEDED = 56  # xtconstant.ORDER_SUCCEEDED
ORDER_JUNK = 57  # xtconstant.ORDER_JUNK: rejected
ORDER_UNKNOWN = 255  # xtconstant.ORDER_UNKNOWN

BUY: Final = STOCK_BUY
SELL: Final = STOCK_SELL
SIDE_NAMES = {BUY: "buy", SELL: "sell"}
REPO_CODES = ("131810.SZ", "204001.SH")  # 1-day reverse repo: R-001, GC001


def repo_codes(codes: list[str]) -> list[str]:
    """Reverse-repo codes normalised, each once, in the order given; InvalidSymbol (field repo_codes) for any other code."""
    found = [instrument(code) for code in codes]
    wrong = [inst.code for inst in found if inst.board is not Board.REPO]
    if wrong:
        raise InvalidSymbol(f"repo_codes must be reverse-repo codes (e.g. {', '.join(REPO_CODES)}), got {', '.join(wrong)}", "repo_codes")
    return list(dict.fromkeys(inst.code for inst in found))


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
        PriceType.LIMIT: FIX_PRICE,
        PriceType.LATEST: LATEST_PRICE,
        PriceType.BEST_FIVE_THEN_CANCEL: MARKET_SH_CONVERT_5_CANCEL,
        PriceType.OWN_BEST: MARKET_MINE_PRICE_FIRST,
        PriceType.COUNTERPARTY_BEST: MARKET_PEER_PRICE_FIRST,
    },
    "SZ": {
        PriceType.LIMIT: FIX_PRICE,
        PriceType.LATEST: LATEST_PRICE,
        PriceType.BEST_FIVE_THEN_CANCEL: MARKET_SZ_CONVERT_5_CANCEL,
        PriceType.OWN_BEST: MARKET_MINE_PRICE_FIRST,
        PriceType.COUNTERPARTY_BEST: MARKET_PEER_PRICE_FIRST,
    },
}
_XT_PRICE_TYPES["BJ"] = _XT_PRICE_TYPES["SH"]
MARKET_XT_PRICE_TYPES = frozenset(range(MARKET_SH_CONVERT_5_CANCEL, MARKET_SZ_FULL_OR_CANCEL + 1))  # every SH and SZ market type, 42-48


def xt_price_type(price_type: PriceType, inst: Instrument) -> int:
    """The xtquant price type for an old-server code on the instrument's exchange.

    Raises PriceTypeUnsupported for a combination the exchange does not accept.
    """
    price_type = PriceType(price_type)
    if inst.board is Board.REPO and price_type is not PriceType.LIMIT:
        raise PriceTypeUnsupported(
            f"reverse repo {inst.code} trades only at a limit rate (price_type 0), not {price_type.name.lower()}", "price_type"
        )
    try:
        return _XT_PRICE_TYPES[inst.exchange][price_type]
    except KeyError:
        raise PriceTypeUnsupported(f"price_type {int(price_type)} is not supported on {inst.exchange}", "price_type") from None


def is_market(xt_type: int) -> bool:
    """True for the price types that ignore the order price (latest and the market types)."""
    return xt_type == LATEST_PRICE or xt_type in MARKET_XT_PRICE_TYPES


# xtquant order statuses (docs/internals.md, "Domain rules").
STATUS_NAMES: dict[int, str] = {
    ORDER_UNREPORTED: "unreported",
    ORDER_WAIT_REPORTING: "wait_reporting",
    ORDER_REPORTED: "reported",
    ORDER_REPORTED_CANCEL: "reported_cancel_pending",
    ORDER_PARTSUCC_CANCEL: "part_filled_cancel_pending",
    ORDER_PART_CANCEL: "part_cancelled",
    ORDER_CANCELED: "cancelled",
    ORDER_PART_SUCC: "part_filled",
    ORDER_SUCCEEDED: "filled",
    ORDER_JUNK: "rejected",
    ORDER_UNKNOWN: "unknown",
}
OPEN_STATUSES = frozenset(
    {
        ORDER_UNREPORTED,
        ORDER_WAIT_REPORTING,
        ORDER_REPORTED,
        ORDER_REPORTED_CANCEL,
        ORDER_PARTSUCC_CANCEL,
        ORDER_PART_SUCC,
    }
)


def status_name(status: int | None) -> str | None:
    return None if status is None else STATUS_NAMES.get(status, f"status_{status}")
