"""A quote: the latest price of a code with the day's price limits (a value; the store keeps copies: common.store.quotes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quote:
    """The latest price of a code (yuan; repo: rate in percent); bid/ask 0 when the book is empty.

    `up_limit` / `down_limit`: the day's price limits in yuan (涨停价 / 跌停价), None where the board has none or the
    broker did not say. `day`: the trading day (ISO, Shanghai) the quote was read on.
    """

    code: str
    last: float
    prev_close: float
    bid: float = 0.0
    ask: float = 0.0
    up_limit: float | None = None
    down_limit: float | None = None
    day: str = ""
