"""Symbol rules: normalisation to xtquant's `CODE.SH|SZ|BJ`, boards, lots, ticks, daily limits.

Facts from docs/internals.md, "Domain rules". Where the real terminal can say (xtdata.get_instrument_detail),
the worker prefers it over these tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

from common.rules.exceptions import InvalidSymbol, LotSizeViolation


class Board(StrEnum):
    MAIN = "main"
    CHINEXT = "chinext"
    STAR = "star"
    BEIJING = "beijing"
    FUND = "fund"
    CONVERTIBLE = "convertible"
    REPO = "repo"


# (exchange, code prefix, board); the longest matching prefix wins.
_PREFIXES: tuple[tuple[str, str, Board], ...] = (
    *(("SH", p, Board.MAIN) for p in ("600", "601", "603", "605")),
    *(("SH", p, Board.STAR) for p in ("688", "689")),
    *(("SH", p, Board.FUND) for p in ("50", "51", "52", "56", "58")),
    *(("SH", p, Board.CONVERTIBLE) for p in ("110", "111", "113", "118")),
    ("SH", "204", Board.REPO),
    *(("SZ", p, Board.MAIN) for p in ("000", "001", "002", "003")),
    *(("SZ", p, Board.CHINEXT) for p in ("300", "301")),
    *(("SZ", p, Board.FUND) for p in ("15", "16")),
    *(("SZ", p, Board.CONVERTIBLE) for p in ("123", "127", "128")),
    ("SZ", "1318", Board.REPO),
    # 920 since 2025-10-09; the retired 43/83/87/88 are still accepted.
    *(("BJ", p, Board.BEIJING) for p in ("920", "43", "83", "87", "88")),
)

_SUFFIX_ALIASES = {"SH": "SH", "SS": "SH", "XSHG": "SH", "SZ": "SZ", "XSHE": "SZ", "BJ": "BJ", "BSE": "BJ"}
_FORMS = (
    re.compile(r"^(?P<code>\d{6})$"),
    re.compile(r"^(?P<code>\d{6})\.(?P<ex>[A-Z]+)$"),
    re.compile(r"^(?P<ex>SH|SZ|BJ)\.?(?P<code>\d{6})$"),
)


@dataclass(frozen=True)
class LotRule:
    """Legal volumes for one order: at least `minimum`, then `step` at a time, at most `maximum`.

    Unit: shares for stocks and funds, 张 for bonds and repo.
    """

    minimum: int
    step: int
    maximum: int


@dataclass(frozen=True)
class Instrument:
    code: str  # "600000.SH"
    exchange: str  # "SH" | "SZ" | "BJ"
    board: Board

    @property
    def tick(self) -> Decimal:
        """Price tick in yuan (rate percent for repo)."""
        return Decimal("0.01") if self.board in _STOCK_BOARDS else Decimal("0.001")

    @property
    def buy_lot(self) -> LotRule:
        return _LOTS[self.board]

    @property
    def limit_pct(self) -> Decimal | None:
        """Daily price limit as a fraction of the previous close; None where there is none.

        ST main-board stocks (±5%) are known only by name: see `limit_pct_for`.
        """
        return _LIMITS.get(self.board)

    def limit_pct_for(self, name: str) -> Decimal | None:
        if self.board is Board.MAIN and "ST" in name.upper():
            return Decimal("0.05")
        return self.limit_pct


_STOCK_BOARDS = frozenset({Board.MAIN, Board.CHINEXT, Board.STAR, Board.BEIJING})
_LOTS: dict[Board, LotRule] = {
    Board.MAIN: LotRule(100, 100, 1_000_000),
    Board.CHINEXT: LotRule(100, 100, 300_000),
    Board.STAR: LotRule(200, 1, 100_000),
    Board.BEIJING: LotRule(100, 1, 1_000_000),
    Board.FUND: LotRule(100, 100, 1_000_000),
    Board.CONVERTIBLE: LotRule(10, 10, 100_000),
    Board.REPO: LotRule(10, 10, 100_000),
}
_LIMITS: dict[Board, Decimal] = {
    Board.MAIN: Decimal("0.10"),
    Board.CHINEXT: Decimal("0.20"),
    Board.STAR: Decimal("0.20"),
    Board.BEIJING: Decimal("0.30"),
    Board.FUND: Decimal("0.10"),
    Board.CONVERTIBLE: Decimal("0.20"),
}


def price_decimals() -> dict[str, dict[str, int]]:
    """Exchange -> code prefix -> decimals of a price (2 for stocks, 3 for funds, bonds and repo): for the pages,
    which show prices to the tick; the longest matching prefix wins, as in `_board_of`."""
    table: dict[str, dict[str, int]] = {}
    for exchange, prefix, board in _PREFIXES:
        table.setdefault(exchange, {})[prefix] = 2 if board in _STOCK_BOARDS else 3
    return table


def _board_of(exchange: str, code: str) -> Board | None:
    best: tuple[int, Board] | None = None
    for ex, prefix, board in _PREFIXES:
        if ex == exchange and code.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), board)
    return best[1] if best else None


def _exchange_of_bare(code: str) -> str | None:
    for exchange in ("SZ", "SH", "BJ"):  # a bare 000001 is the Shenzhen stock, not the SH index
        if _board_of(exchange, code) is not None:
            return exchange
    return None


def instrument(symbol: str) -> Instrument:
    """Parse `000001`, `000001.SZ`, `sz000001`, `SH.600000`, `600000.XSHG` into an Instrument.

    Raises InvalidSymbol for anything that is not a tradable code of SH, SZ or BJ.
    """
    if not isinstance(symbol, str):
        raise InvalidSymbol(f"symbol must be a string, got {type(symbol).__name__}", "symbol")
    text = symbol.strip().upper()
    for form in _FORMS:
        match = form.match(text)
        if match:
            break
    else:
        raise InvalidSymbol(f"symbol {symbol!r} is not a 6-digit code with an optional SH/SZ/BJ market", "symbol")
    code = match.group("code")
    given = match.groupdict().get("ex")
    if given is None:
        exchange = _exchange_of_bare(code)
        if exchange is None:
            raise InvalidSymbol(f"symbol {symbol!r} is not a known A-share, fund, bond or repo code", "symbol")
    else:
        exchange = _SUFFIX_ALIASES.get(given)
        if exchange is None:
            raise InvalidSymbol(f"symbol {symbol!r} has unknown market {given!r} (use SH, SZ or BJ)", "symbol")
    board = _board_of(exchange, code)
    if board is None:
        raise InvalidSymbol(f"symbol {symbol!r} is not a tradable code on {exchange}", "symbol")
    return Instrument(f"{code}.{exchange}", exchange, board)


def normalize(symbol: str) -> str:
    """The xtquant form of a symbol, e.g. `sz000001` -> `000001.SZ`."""
    return instrument(symbol).code


def check_buy_volume(inst: Instrument, volume: int) -> None:
    """Raise LotSizeViolation unless `volume` is a legal buy quantity for the board."""
    lot = inst.buy_lot
    unit = "张" if inst.board in (Board.CONVERTIBLE, Board.REPO) else "shares"
    if volume < lot.minimum:
        raise LotSizeViolation(f"volume {volume} is below the minimum of {lot.minimum} {unit} for {inst.board.value} {inst.code}", "volume")
    if (volume - lot.minimum) % lot.step:
        raise LotSizeViolation(
            f"volume {volume} is not a legal lot for {inst.board.value} {inst.code}: at least {lot.minimum}, then steps of {lot.step} {unit}",
            "volume",
        )
    if volume > lot.maximum:
        raise LotSizeViolation(f"volume {volume} exceeds the per-order maximum of {lot.maximum} {unit} for {inst.board.value} {inst.code}", "volume")


def check_sell_volume(inst: Instrument, volume: int, can_use_volume: int | None = None) -> None:
    """Raise LotSizeViolation unless `volume` is a legal sell.

    An odd lot is legal only when it closes the whole sellable remainder (`can_use_volume`);
    without the holding (at the door) only the per-order maximum and positivity are checked.
    """
    lot = inst.buy_lot
    if volume <= 0:
        raise LotSizeViolation(f"volume must be positive, got {volume}", "volume")
    if volume > lot.maximum:
        raise LotSizeViolation(f"volume {volume} exceeds the per-order maximum of {lot.maximum} for {inst.board.value} {inst.code}", "volume")
    if can_use_volume is None or volume == can_use_volume:
        return
    if volume > can_use_volume:
        raise LotSizeViolation(f"volume {volume} exceeds the sellable {can_use_volume} of {inst.code}", "volume")
    if volume < lot.minimum or (volume - lot.minimum) % lot.step:
        raise LotSizeViolation(
            f"volume {volume} of {inst.code} is an odd lot that does not close the sellable remainder {can_use_volume}",
            "volume",
        )


def check_volume(inst: Instrument, order_type: int, volume: int, can_use_volume: int | None = None) -> None:
    """Raise LotSizeViolation unless `volume` is legal for an order of `order_type` (23 buy, 24 sell) on `inst`.

    Reverse repo is lent with a sell but follows the exchange's lending amounts (a minimum and a multiple, the buy lot
    of the REPO board); other sells may close an odd remainder (`can_use_volume`, unknown at the door).
    """
    if order_type == 23 or inst.board is Board.REPO:
        check_buy_volume(inst, volume)
    else:
        check_sell_volume(inst, volume, can_use_volume)


def price_limits(inst: Instrument, prev_close: float, name: str = "") -> tuple[float, float] | None:
    """The day's (down, up) price limits in yuan from the previous close, on the tick; None where the board has none.

    The exchange's own figure (the terminal's instrument detail) is better where it is known: a new listing has
    no limit for its first days, which this table cannot tell.
    """
    pct = inst.limit_pct_for(name)
    if pct is None or prev_close <= 0:
        return None
    down = (Decimal(str(prev_close)) * (1 - pct) / inst.tick).to_integral_value(ROUND_HALF_UP) * inst.tick
    up = (Decimal(str(prev_close)) * (1 + pct) / inst.tick).to_integral_value(ROUND_HALF_UP) * inst.tick
    return float(down), float(up)


def round_down_volume(inst: Instrument, volume: float) -> int:
    """The largest legal buy volume not above `volume`; 0 when none is."""
    lot = inst.buy_lot
    whole = min(int(volume), lot.maximum)
    if whole < lot.minimum:
        return 0
    return lot.minimum + (whole - lot.minimum) // lot.step * lot.step


def round_to_tick(inst: Instrument, price: float) -> Decimal:
    """`price` rounded down to the instrument's tick (yuan, or rate percent for repo)."""
    return (Decimal(str(price)) / inst.tick).to_integral_value(ROUND_DOWN) * inst.tick


def is_on_tick(inst: Instrument, price: float) -> bool:
    """True when `price` is a whole number of ticks (tolerating float noise)."""
    ticks = Decimal(str(round(price, 6))) / inst.tick  # a client's 0.1 + 0.2 is still 0.30
    return ticks == ticks.to_integral_value()
