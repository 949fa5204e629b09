"""Quotes for sizing, pricing and market orders: the simulator's price source, or QMT's own (xtdata).

The price comes from the full tick; the day's price limits from the instrument detail (UpStopPrice /
DownStopPrice), which the risk gate prices a market order at (common.rules.risk). Where the terminal does not give a
limit the quote has none: nothing here guesses one.
"""

from __future__ import annotations

import logging

from common.rules.quote import Quote
from worker.xtquant_sdk import QuoteSource, XtTrader, market_data

__all__ = ["Quote", "from_full_tick", "read_quote"]
log = logging.getLogger("worker.quotes")


def _limit(detail: dict | None, field: str) -> float | None:
    try:
        value = float((detail or {}).get(field) or 0.0)
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 1e8 else None  # 0 (or a sentinel) where the board has no limit


def from_full_tick(code: str, tick: dict | None, detail: dict | None = None) -> Quote | None:
    """A Quote from xtdata.get_full_tick's dict for one code (lastPrice, lastClose, bidPrice[], askPrice[]) and, when
    given, xtdata.get_instrument_detail's (UpStopPrice, DownStopPrice)."""
    if not tick or not tick.get("lastPrice"):
        return None
    bids, asks = tick.get("bidPrice") or [0.0], tick.get("askPrice") or [0.0]
    return Quote(
        code,
        float(tick["lastPrice"]),
        float(tick.get("lastClose") or 0.0),
        float(bids[0] or 0.0),
        float(asks[0] or 0.0),
        up_limit=_limit(detail, "UpStopPrice"),
        down_limit=_limit(detail, "DownStopPrice"),
    )


def read_quote(trader: XtTrader, code: str) -> Quote | None:
    """The quote of `code` from the trader's own price source when it has one (the simulator), else xtdata."""
    if isinstance(trader, QuoteSource):
        return from_full_tick(code, trader.get_full_tick([code]).get(code), trader.get_instrument_detail(code))
    try:
        xtdata = market_data()  # Windows with QMT only
    except ImportError:
        return None
    try:
        return from_full_tick(code, xtdata.get_full_tick([code]).get(code), xtdata.get_instrument_detail(code))
    except Exception as error:  # noqa: BLE001 - xtdata raises when the terminal's data service is down, with no documented type
        log.warning("no quote for %s from xtdata: %s", code, error)
        return None
