"""The simulator's price source: deterministic by default, overridable per symbol and by a prices file.

Each code has a stable base price (from its code, so every run sees the same numbers) and moves by
a seeded amount of at most ±3% a trading day around it, so the previous close is always known and
the move stays inside every board's daily limit. `set_price` pins a code (tests, a prices file).
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from common.rules.loose_types import Json, JsonObject
from common.rules.symbols import Board, Instrument, instrument

DAILY_MOVE = 0.03


@dataclass
class SimPrice:
    """Prices in yuan (repo: the annualised rate in percent). `available` shares can trade now; None is unlimited."""

    code: str
    last: float
    prev_close: float
    available: int | None = None

    def full_tick(self) -> dict:
        """The quote in xtdata.get_full_tick's shape (what the worker reads for real QMT too)."""
        return {
            "lastPrice": self.last,
            "lastClose": self.prev_close,
            "bidPrice": [self.last],
            "askPrice": [self.last],
            "bidVol": [self.available or 0],
            "askVol": [self.available or 0],
        }


def _round(inst: Instrument, value: float) -> float:
    return float(Decimal(str(value)).quantize(inst.tick, rounding=ROUND_HALF_UP))


def _base(inst: Instrument) -> float:
    """A stable per-code base price: stocks 10.00-10.99, funds 1.000-1.999, bonds 100-119.9, repo rate 1.50-2.49%."""
    spread = zlib.crc32(inst.code.encode()) % 100
    if inst.board is Board.REPO:
        return 1.5 + spread / 100
    if inst.board is Board.FUND:
        return 1.0 + spread / 100
    if inst.board is Board.CONVERTIBLE:
        return 100 + spread / 5
    return 10.0 + spread / 100


def _price_on(inst: Instrument, day: date) -> float:
    move = random.Random(f"{inst.code}:{day.isoformat()}").uniform(-DAILY_MOVE, DAILY_MOVE)
    return _round(inst, _base(inst) * (1 + move))


class PriceSource:
    """Quotes for the simulator's trading day; pinned prices override the seeded ones until the next day."""

    def __init__(self, prices_file: str | None = None):
        self._pinned: dict[str, SimPrice] = {}
        self._names: dict[str, str] = {}
        self._file = Path(prices_file) if prices_file else None
        self._entries: JsonObject = {}  # the prices file as last parsed, and its bytes then
        self._read: bytes | None = None

    def name_of(self, code: str) -> str:
        """The instrument's name (an ST name narrows the main board's daily limit to ±5%)."""
        if code in self._names:
            return self._names[code]
        entry = self._file_entry(code)
        if isinstance(entry, dict) and entry.get("name"):
            return str(entry["name"])
        return f"SIM{code[:6]}"

    def quote(self, code: str, day: date, previous_day: date) -> SimPrice:
        inst = instrument(code)
        if code in self._pinned:
            return self._pinned[code]
        entry = self._file_entry(code)
        if isinstance(entry, dict):  # {"last": ..., "prev_close": ..., "name": ...}
            last = _round(inst, float(entry["last"]))
            return SimPrice(code, last, _round(inst, float(entry.get("prev_close", last))))
        if entry is not None:  # a fixed price: it is also the previous close
            return SimPrice(code, _round(inst, float(entry)), _round(inst, float(entry)))
        return SimPrice(code, _price_on(inst, day), _price_on(inst, previous_day))

    def set_price(self, code: str, last: float, prev_close: float | None = None, available: int | None = None, name: str | None = None) -> SimPrice:
        """Pin `code` at `last` (and its previous close, how much can trade at that price, and its name)."""
        if name is not None:
            self._names[code] = name
        current = self._pinned.get(code)
        prev = prev_close if prev_close is not None else (current.prev_close if current else last)
        self._pinned[code] = SimPrice(code, float(last), float(prev), available)
        return self._pinned[code]

    def take(self, code: str, volume: int) -> None:
        """`volume` traded at the pinned price: less is available until set_price adds more."""
        quote = self._pinned.get(code)
        if quote is not None and quote.available is not None:
            quote.available = max(quote.available - volume, 0)

    def roll(self, closes: dict[str, float]) -> None:
        """A new day: pinned codes open where they closed, their close is the new previous close."""
        for code, quote in list(self._pinned.items()):
            self._pinned[code] = SimPrice(code, quote.last, closes.get(code, quote.last), None)

    def _file_entry(self, code: str) -> Json:  # a number, or an object
        """The prices file's entry for `code`: a price, or {"last", "prev_close", "name"}; None when absent."""
        if self._file is None:
            return None
        try:
            text = self._file.read_bytes()  # every time: a test or a user may edit it while it runs
        except OSError:
            return None
        if text != self._read:  # parsed again only when it changed
            self._entries, self._read = json.loads(text.decode("utf-8")), text
        return self._entries.get(code)
