"""What an order would be, before it is sent: the quote, the volume in lots, the notional, the fees and the nearest risk limit.

Read-only: it runs the door's own checks (Desk.order_payloads: symbol, lot, tick, price type, side), reads the quote
and, for an order the worker sizes, the account's cash or holding through the worker's query jobs (Desk.query), and
sizes it with the worker's own rules (common.rules.sizing, the fee schedule the simulator charges). Nothing is queued,
counted or remembered. The figures are estimates: the worker sizes the real order again with a fresh quote and the
account as it is then.

`confirm` says whether a page must ask the trader to confirm before sending (CONFIRM_NOTIONAL, or a size that takes
the whole cash or holding).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

from common.desk.callers import Caller
from common.desk.submission import Desk
from common.rules import risk
from common.rules.exceptions import NoQuote, SizeRoundsToZero, WorkerUnanswered
from common.rules.loose_types import Json
from common.rules.order_request import AllIn, OrderRequest, Percent, Repo
from common.rules.orders import BUY, REPO_CODES, SELL, is_market
from common.rules.quote import Quote
from common.rules.sizing import REPO_FACE_VALUE, Fees, Funds, best_repo_quote, repo_volume, sized_volume
from common.rules.symbols import Board, instrument
from common.store import risk_state
from common.store.payloads import OrderPayload

# Yuan: an order above it is confirmed in a dialog before it goes. A retail order is typically a few thousand to a few
# tens of thousands of yuan; a slipped extra zero on one crosses this, while everyday orders go with one click.
CONFIRM_NOTIONAL = 50_000.0
# seconds: a preview shares a quote read this recently (a page previews as the trader types); the cash and the holding
# are read fresh, as the trader's own last order may just have changed them
QUOTE_MAX_AGE = 2.0
QUOTE_FIELDS = tuple(quote_field.name for quote_field in fields(Quote))


@dataclass(frozen=True)
class Lot:
    """The legal volumes of one order of the instrument: at least `minimum`, then `step` at a time, at most `maximum`."""

    minimum: int
    step: int
    maximum: int
    unit: str  # "shares", or "张" (bonds and repo)


@dataclass(frozen=True)
class LimitUse:
    """How much of one risk limit the order would use: `used` of `limit` in `unit`, `share` = used / limit (1 = at it)."""

    name: str  # max_order_notional, max_actions_per_day, price_band, blocked_symbols, kill_switch
    used: float
    limit: float
    unit: str  # yuan, actions, percent, ""
    share: float


@dataclass(frozen=True)
class Problem:
    """Why the order as asked would come to nothing (e.g. the cash buys no lot), naming the field at fault."""

    field: str
    message: str


@dataclass(frozen=True)
class OrderPreview:
    """An order as it would be sent now. Money in yuan (repo: price is the rate in percent), volumes in `lot.unit`.

    `price_basis`: what `price` is: limit (the order's limit price), last (the latest price: a percent or sell-all order
    without a price), up_limit (a market order, priced at the day's upper limit as the broker freezes cash and the risk
    gate prices it), rate (repo: the best bid rate). `volume` 0 with `problems` when the order would size to nothing.
    """

    trader_index: int
    symbol: str
    side: int
    sizing: str
    quote: Quote | None
    lot: Lot
    tick: float
    volume: int
    price: float
    price_basis: str
    notional: float
    fees: float
    limits: list[LimitUse]
    closest: LimitUse | None
    confirm: bool
    confirm_because: str  # notional, whole_account, ""
    confirm_above: float  # CONFIRM_NOTIONAL, for the words of a page's dialog
    problems: list[Problem] = field(default_factory=list)


def preview(desk: Desk, caller: Caller, trader_index: int, request: OrderRequest) -> OrderPreview:
    """The preview of `request` on the account at `trader_index` (scope trade; its reads need query).

    Raises what the door raises for an order it would refuse (InvalidSymbol, LotSizeViolation, InvalidPrice, ...),
    and WorkerUnanswered / NoQuote when the worker gives no quote to price it with.
    """
    caller.require("trade")
    [order] = desk.order_payloads(caller, trader_index, request)  # the door's checks, nothing queued
    fees = Fees.from_settings(desk.settings)
    if isinstance(request.size, Repo):
        return _repo_preview(desk, caller, order, request.size, fees)
    inst = instrument(order.symbol)
    quote = _quote(desk, caller, trader_index, order.symbol)
    market = is_market(order.xt_price_type)
    problems: list[Problem] = []
    price, basis = _price(order, quote, market)
    volume = 0
    try:
        volume = _volume(desk, caller, order, request, price, fees)
    except SizeRoundsToZero as nothing:
        problems.append(Problem(nothing.field or "volume", nothing.message))
    lending = inst.board is Board.REPO
    if lending:  # repo lent by hand: each 张 lends its 100 yuan face value, at `price` percent a year; repo's own fees
        notional = float(volume * REPO_FACE_VALUE)
        cost = fees.repo_cost(notional)
        basis = "rate"
    else:
        notional = round(volume * price, 2)
        cost = fees.buy_cost(notional) if order.order_type == BUY else fees.sell_cost(notional)
    uses = _limit_uses(desk, order, notional, lending, quote, market)
    whole = isinstance(request.size, AllIn) or (isinstance(request.size, Percent) and request.side != BUY and request.size.share >= 1)
    because = "whole_account" if whole else "notional" if notional > CONFIRM_NOTIONAL else ""
    return OrderPreview(
        trader_index=trader_index,
        symbol=order.symbol,
        side=order.order_type,
        sizing=order.sizing,
        quote=quote,
        lot=_lot(order.symbol),
        tick=float(inst.tick),
        volume=volume,
        price=price,
        price_basis=basis,
        notional=notional,
        fees=cost if volume else 0.0,
        limits=uses,
        closest=max(uses, key=lambda use: use.share) if uses else None,
        confirm=bool(because),
        confirm_because=because,
        confirm_above=CONFIRM_NOTIONAL,
        problems=problems,
    )


def _repo_preview(desk: Desk, caller: Caller, order: OrderPayload, size: Repo, fees: Fees) -> OrderPreview:
    """The nhg sweep: the better-bid of the repo codes (as the worker picks it), lending cash minus the reserve."""
    index = order.account_index
    codes = size.codes or REPO_CODES
    with ThreadPoolExecutor(max_workers=len(codes), thread_name_prefix="preview-quote") as asking:  # both at once: one wait, not two
        found = [q for q in asking.map(lambda code: _quote(desk, caller, index, code, required=False), codes) if q is not None]
    best = best_repo_quote(found)
    if best is None:
        raise NoQuote(f"no quote for {' or '.join(size.codes or REPO_CODES)}: cannot price the reverse repo", "symbol")
    inst = instrument(best.code)
    problems: list[Problem] = []
    volume = 0
    try:
        volume = repo_volume(inst, _cash(desk, caller, index), size.reserve_amount, fees)
    except SizeRoundsToZero as nothing:
        problems.append(Problem(nothing.field or "reserve_amount", nothing.message))
    principal = float(volume * REPO_FACE_VALUE)
    uses = _limit_uses(desk, order, principal, True, best, False)
    return OrderPreview(
        trader_index=index,
        symbol=best.code,
        side=order.order_type,
        sizing=order.sizing,
        quote=best,
        lot=_lot(best.code),
        tick=float(inst.tick),
        volume=volume,
        price=order.price or best.bid or best.last,
        price_basis="rate",
        notional=principal,
        fees=fees.repo_cost(principal),
        limits=uses,
        closest=max(uses, key=lambda use: use.share) if uses else None,
        confirm=True,  # it lends the account's whole idle cash
        confirm_because="whole_account",
        confirm_above=CONFIRM_NOTIONAL,
        problems=problems,
    )


def _quote(desk: Desk, caller: Caller, trader_index: int, code: str, required: bool = True) -> Quote | None:
    """The worker's quote of `code` (shared with previews asking within QUOTE_MAX_AGE s); None when it has none."""
    try:
        answer = desk.query(caller, "quote", trader_index, symbol=code, max_age=QUOTE_MAX_AGE)
    except WorkerUnanswered as error:
        if not required:
            return None
        raise NoQuote(f"no quote for {code}: {error.message}", "symbol") from None
    if not isinstance(answer, dict):
        if required:
            raise NoQuote(f"the broker gave no quote for {code}", "symbol")
        return None
    known = {name: answer[name] for name in QUOTE_FIELDS if name in answer}  # a newer worker may send more
    try:
        return Quote(**known)
    except TypeError:
        raise NoQuote(f"the broker's quote for {code} lacks a field this router needs", "symbol") from None


def _price(order: OrderPayload, quote: Quote | None, market: bool) -> tuple[float, str]:
    """The price per share the worker would size and the risk gate price the order at (common.rules.risk.worst_price)."""
    if market:
        return risk.worst_price(risk.OrderCost(order.symbol, True, None, 0.0), quote), "up_limit"
    if order.price > 0:
        return order.price, "limit"
    if quote is None or quote.last <= 0:
        raise NoQuote(f"no latest price of {order.symbol} to price the order with", "symbol")
    return quote.last, "last"


def _volume(desk: Desk, caller: Caller, order: OrderPayload, request: OrderRequest, price: float, fees: Fees) -> int:
    """The volume the worker would send, sized by the worker's own rule (common.rules.sizing.sized_volume) with the
    account's figures read through the worker's query jobs."""
    size = request.size
    if isinstance(size, Repo):  # never: preview() hands the sweep to _repo_preview
        raise TypeError("a reverse-repo sweep is previewed by _repo_preview")
    index = order.account_index
    asset = functools.cache(lambda: _object(desk.query(caller, "asset", index)))

    def can_use_volume(code: str) -> int:
        holding = next((p for p in _list(desk.query(caller, "positions", index)) if p.get("symbol") == code), {})
        return int(_number(holding, "can_use_volume"))

    funds = Funds(lambda: _number(asset(), "total_asset"), lambda: _number(asset(), "cash"), can_use_volume)
    return sized_volume(instrument(order.symbol), size, order.order_type, price, funds, fees)


def _cash(desk: Desk, caller: Caller, index: int) -> float:
    return _number(_object(desk.query(caller, "asset", index)), "cash")


def _object(answer: Json) -> dict[str, Json]:
    return answer if isinstance(answer, dict) else {}


def _list(answer: Json) -> list[dict[str, Json]]:
    return [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []


def _number(found: dict[str, Json], name: str) -> float:
    value = found.get(name)
    return float(value) if isinstance(value, int | float) else 0.0


def _lot(code: str) -> Lot:
    inst = instrument(code)
    rule = inst.buy_lot
    return Lot(rule.minimum, rule.step, rule.maximum, "张" if inst.board in (Board.CONVERTIBLE, Board.REPO) else "shares")


def _limit_uses(desk: Desk, order: OrderPayload, notional: float, lending: bool, quote: Quote | None, market: bool) -> list[LimitUse]:
    """How near the order comes to each risk limit that applies to it (common.rules.risk), as the gate would count it."""
    limits = desk.risk_limits()
    uses: list[LimitUse] = []
    if limits.kill_switch:
        uses.append(LimitUse("kill_switch", 1, 1, "", 1.0))
    if order.symbol in limits.blocked_symbols:
        uses.append(LimitUse("blocked_symbols", 1, 1, "", 1.0))
    if limits.max_order_notional and not lending:
        uses.append(LimitUse("max_order_notional", notional, limits.max_order_notional, "yuan", notional / limits.max_order_notional))
    if limits.max_actions_per_day:
        after = risk_state.actions_today(desk.redis, order.account_index) + 1  # this order is one more action
        uses.append(LimitUse("max_actions_per_day", after, limits.max_actions_per_day, "actions", after / limits.max_actions_per_day))
    band = desk.settings.MAX_PRICE_DEVIATION_PCT
    if band and not market and not lending and order.price > 0 and quote is not None and quote.last > 0:
        off = abs(order.price - quote.last) / quote.last * 100
        uses.append(LimitUse("price_band", round(off, 2), band, "percent", off / band))
    return uses


def preview_repo(desk: Desk, caller: Caller, trader_index: int, reserve_amount: float) -> OrderPreview:
    """The preview of the nhg sweep (Desk.sweep_repo) on one account: idle cash minus `reserve_amount` yuan, lent 1 day."""
    return preview(desk, caller, trader_index, OrderRequest(REPO_CODES[0], SELL, Repo(reserve_amount), strategy_name="nhg"))
