"""Quotes for sizing and market orders: the simulator's price source, or QMT's own (xtdata full tick)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from worker.xtquant_sdk import market_data

log = logging.getLogger("worker.quotes")


@dataclass(frozen=True)
class Quote:
    """The latest price of a code (yuan; repo: rate in percent); bid/ask 0 when the book is empty."""

    code: str
    last: float
    prev_close: float
    bid: float = 0.0
    ask: float = 0.0


def from_full_tick(code: str, tick: dict | None) -> Quote | None:
    """A Quote from xtdata.get_full_tick's dict for one code (lastPrice, lastClose, bidPrice[], askPrice[])."""
    if not tick or not tick.get("lastPrice"):
        return None
    bids, asks = tick.get("bidPrice") or [0.0], tick.get("askPrice") or [0.0]
    return Quote(code, float(tick["lastPrice"]), float(tick.get("lastClose") or 0.0), float(bids[0] or 0.0), float(asks[0] or 0.0))


def read_quote(trader: Any, code: str) -> Quote | None:
    """The quote of `code` from the trader's own price source when it has one (the simulator), else xtdata."""
    own = getattr(trader, "get_full_tick", None)
    if own is not None:
        return from_full_tick(code, own([code]).get(code))
    try:
        xtdata = market_data()  # Windows with QMT only
    except ImportError:
        return None
    try:
        return from_full_tick(code, xtdata.get_full_tick([code]).get(code))
    except Exception as error:  # xtdata raises when the terminal's data service is down
        log.warning("no quote for %s from xtdata: %s", code, error)
        return None
