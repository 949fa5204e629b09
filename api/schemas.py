"""The API's request and answer models: validation at the door and the source of /openapi.json.

Field names are the old server's, so its clients work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel, ValidationInfo, field_validator, model_validator

from common.rules.exceptions import InvalidSymbol
from common.rules.loose_types import JsonObject, RawInput
from common.rules.orders import BUY, PriceType
from common.rules.symbols import normalize


def _normalise(value: str) -> str:
    try:
        return normalize(value)
    except InvalidSymbol as error:
        raise ValueError(error.message) from None


def _json_number(value: RawInput) -> RawInput:
    """A number field takes a JSON number, as every old client sends it: a boolean is never a number, and text is refused."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    if isinstance(value, str):
        raise ValueError(f"must be a JSON number, not text ({value[:20]!r})")
    return value  # an integral float (100.0 shares, as a strategy's arithmetic gives) is still an exact int


def _json_boolean(value: RawInput) -> RawInput:
    """A flag takes true or false (or 0 and 1, as some old clients write them); text is refused."""
    if isinstance(value, str):
        raise ValueError(f"must be true or false, not text ({value[:20]!r})")
    return value


# Pydantic's lax mode would read true as 1 and "100" as 100; these keep its int and float rules otherwise.
JsonInt = Annotated[int, BeforeValidator(_json_number)]
JsonFloat = Annotated[float, BeforeValidator(_json_number)]
JsonBool = Annotated[bool, BeforeValidator(_json_boolean)]

SYMBOL_FORMS = r"^\s*([A-Za-z]{2}\.?)?[0-9]{6}(\.[A-Za-z]{2,4})?\s*$"  # documents the forms; _normalise decides
Symbol = Annotated[
    str,
    AfterValidator(_normalise),
    Field(description="e.g. 600000, 600000.SH, sh600000; normalised to 600000.SH", json_schema_extra={"pattern": SYMBOL_FORMS}),
]
TraderIndex = Annotated[JsonInt, Field(ge=0, description="position of the account among enabled TRADER_CONFIGS")]
OptionalTraderIndex = Annotated[JsonInt | None, Field(default=None, ge=0, description="left out: every enabled account, one job each")]
StrategyName = Annotated[str, Field(default="", max_length=64, description="shown in QMT as the order's strategy")]
PriceTypeField = Annotated[
    PriceType, BeforeValidator(_json_number), Field(description="0 limit, 1 latest, 2 best five then cancel, 3 own best, 5 counterparty best")
]
Pct = Annotated[JsonFloat, Field(gt=0, le=1, description="a fraction: 0.25 is 25%")]
MAX_PRICE = 1_000_000  # yuan; far above any A-share, and keeps sizing arithmetic finite


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class TradeRequest(_Request):
    """POST /trade, first form: an explicit volume on one account."""

    trader_index: TraderIndex
    symbol: Symbol
    volume: JsonInt = Field(gt=0, description="shares (张 for bonds and repo)")
    price: JsonFloat = Field(ge=0, le=MAX_PRICE, description="yuan; the rate in percent for repo; ignored by market price types")
    order_type: Literal[23, 24] = Field(description="23 buy, 24 sell (xtconstant STOCK_BUY / STOCK_SELL)")
    price_type: PriceTypeField = PriceType.LIMIT
    strategy_name: StrategyName = ""


class PctTradeRequest(_Request):
    """POST /trade, second form: a share of the account. Buys size from total asset, sells from the sellable holding."""

    trader_index: OptionalTraderIndex = None
    symbol: Symbol
    trade_price: JsonFloat = Field(ge=0, le=MAX_PRICE, description="yuan; 0 takes the latest quote")
    position_pct: JsonFloat = Field(
        ge=-1, le=1, description="buy this fraction of total asset (0.2 = 20%); a negative value sells that fraction of the holding"
    )
    pricetype: PriceTypeField = PriceType.LIMIT
    order_type: Literal[23, 24] | None = Field(default=None, description="optional: 24 sells position_pct of the holding")
    strategy_name: StrategyName = ""

    @field_validator("position_pct")
    @classmethod
    def _nonzero(cls, position_pct: float) -> float:  # a field's own check: the refusal names position_pct, not the body
        if position_pct == 0:
            raise ValueError("position_pct must not be 0")
        return position_pct

    @field_validator("order_type")
    @classmethod
    def _side_agrees(cls, order_type: int | None, info: ValidationInfo) -> int | None:
        """A negative position_pct sells, so order_type 23 (buy) beside it is a contradiction, never guessed."""
        pct = info.data.get("position_pct")
        if order_type == BUY and pct is not None and pct < 0:
            raise ValueError(
                f"order_type 23 buys but position_pct {pct} is negative, which sells: send order_type 24 (or none) to sell, "
                "or a positive position_pct to buy"
            )
        return order_type


class SharesRequest(_Request):
    """POST /buy and POST /sell."""

    trader_index: OptionalTraderIndex = None
    symbol: Symbol
    price: JsonFloat = Field(ge=0, le=MAX_PRICE, description="yuan; ignored by market price types")
    shares: JsonInt = Field(gt=0, description="shares (张 for bonds and repo)")
    price_type: PriceTypeField = PriceType.LIMIT
    strategy_name: StrategyName = ""


class OuterTradeRequest(_Request):
    """POST /outer/trade/<buy|sell>: one of position_pct (buy: of total asset; sell: of the sellable holding) or order_num."""

    trader_index: OptionalTraderIndex = None
    symbol: Symbol
    trade_price: JsonFloat = Field(ge=0, le=MAX_PRICE, description="yuan; 0 takes the latest quote")
    price_type: PriceTypeField = PriceType.LIMIT
    position_pct: Pct | None = None
    order_num: JsonInt | None = Field(default=None, gt=0, description="shares")
    strategy_name: StrategyName = ""

    @model_validator(mode="after")
    def _one_size(self) -> OuterTradeRequest:
        if (self.position_pct is None) == (self.order_num is None):
            raise ValueError("give exactly one of position_pct and order_num")
        return self


class AllinRequest(_Request):
    """POST /trade/allin: buy as much as the available cash allows, at cur_price."""

    trader_index: OptionalTraderIndex = None
    symbol: Symbol
    cur_price: JsonFloat = Field(gt=0, le=MAX_PRICE, description="yuan; the limit price of the buy")
    strategy_name: StrategyName = ""


class NhgRequest(_Request):
    """POST /trade/nhg: lend idle cash minus reserve_amount in 1-day reverse repo (the better of R-001 and GC001)."""

    trader_index: OptionalTraderIndex = None
    reserve_amount: JsonFloat = Field(default=0.0, ge=0, le=1e12, description="yuan never lent")


class OrderLookup(_Request):
    """POST /order and POST /cancel_order."""

    trader_index: TraderIndex
    order_id: JsonInt = Field(gt=0)


class OrdersLookup(_Request):
    """POST /orders: today's orders."""

    trader_index: TraderIndex
    cancelable_only: JsonBool = False


class SideCancelRequest(_Request):
    """POST /cancel_orders/buy and /cancel_orders/sale."""

    trader_index: OptionalTraderIndex = None


class LoginRequest(_Request):
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


# -- answers -----------------------------------------------------------------------------------
class Accepted(BaseModel):
    """202: the job is queued; poll status_url."""

    success: Literal[True] = True
    job_id: str
    status: Literal["queued"] = "queued"
    status_url: str


class JobRef(BaseModel):
    trader_index: int
    job_id: str
    status_url: str


class FanOutAccepted(BaseModel):
    """202 for a request that fans out to several accounts: one job each."""

    success: Literal[True] = True
    job_ids: list[str]
    jobs: list[JobRef]


class OrderVerdict(BaseModel):
    """One job's outcome in a waiting answer, in the old server's shape."""

    trader_index: int | None = Field(description="the account; null for a job of no one account (the simulator's day roll)")
    job_id: str
    status: Literal["success", "failed"] = Field(description="success: the broker accepted the order (reported or filled)")
    outcome: Literal["success", "failed", "not_yet_known"] = Field(
        description="not_yet_known (status failed, to an old client only): no verdict within the wait; the job may still place the order"
    )
    error: str | None = Field(description="failed: the broker's reason, why it was never sent, or that the outcome is not yet known")
    result: JsonObject = Field(
        description="order_id, symbol, side, volume (shares), price (yuan), price_type, order_status "
        "(xtquant code), status (its name), status_msg, traded_volume, traded_price; "
        "cancels: cancelled, refused"
    )


class Waited(BaseModel):
    """200 to `Prefer: wait=N` (or a client's default wait) when every job got the broker's verdict within N s."""

    success: bool = Field(description="true when the broker accepted every order")
    message: str
    results: list[OrderVerdict]
    job_ids: list[str]
    operation: str | None = Field(default=None, description="/outer/trade only: buy or sell")
    trade_mode: str | None = Field(default=None, description="/outer/trade only: position_pct or order_num")
    trade_param: float | None = Field(default=None, description="/outer/trade only: the position_pct or order_num sent")
    strategy_name: str | None = Field(default=None, description="/outer/trade only")
    reserve_amount: float | None = Field(default=None, description="/trade/nhg only: yuan kept back")


class Failure(BaseModel):
    success: Literal[False] = False
    error: str
    field: str | None = None
    job_id: str | None = Field(default=None, description="with 503: the query job still queued, or the order job whose enqueue is unknown")
    job_ids: list[str] | None = Field(default=None, description="with 503 part-way through a fan-out: the jobs that were queued")
    retry_after: int | None = Field(default=None, description="with 429 from /login: seconds until the next attempt (also the Retry-After header)")


class Done(BaseModel):
    success: Literal[True] = True


class AccountsAnswer(BaseModel):
    success: Literal[True] = True
    accounts: list[JsonObject]


class PortfolioAnswer(BaseModel):
    success: Literal[True] = True
    portfolio: JsonObject = Field(
        description="cash, frozen_cash, market_value, total_asset, profit (yuan), profit_ratio (percent of cost); repo_loans: each reverse-repo "
        "loan (symbol, volume, amount and interest in yuan, rate in annual percent, days, traded_on, usable_on, withdrawable_on, "
        "principal_back) where the broker lists them, null where it does not (QMT)"
    )


class PositionsAnswer(BaseModel):
    success: Literal[True] = True
    positions: list[JsonObject] = Field(
        description="symbol, name, volume, can_use_volume, market_value, avg_price, current_price, profit (yuan), "
        "profit_ratio (percent of cost: 1.5 is +1.5%), ..."
    )


class OrderAnswer(BaseModel):
    success: Literal[True] = True
    order: JsonObject


class OrdersAnswer(BaseModel):
    success: Literal[True] = True
    orders: list[JsonObject] = Field(
        description="order_id, symbol, side, volume, price, traded_volume, status, status_msg, strategy_name, order_remark, ..."
    )


class TradesAnswer(BaseModel):
    success: Literal[True] = True
    trades: list[JsonObject] = Field(
        description="traded_id, order_id, symbol, side, traded_volume, traded_price (yuan), traded_amount, traded_time, strategy_name, ..."
    )


class HealthAnswer(BaseModel):
    """Is the worker alive and every account's broker session connected (ready)."""

    success: Literal[True] = True
    ready: bool
    can_trade: bool = Field(description="worker heartbeat fresh, every enabled account connected, today's calendar known, kill switch off")
    reasons: list[str] = Field(description="why it cannot trade, one reason per failing condition; empty when it can")
    state: Literal["starting", "trading", "not trading"] = Field(default="trading", description="starting until every worker's first heartbeat")
    starting_for: float | None = Field(default=None, description="seconds it has been starting; null once started")
    worker: JsonObject
    scheduler: JsonObject
    accounts: list[JsonObject]
    queues: dict[str, int]
    terminals: list[JsonObject] = Field(default_factory=list, description="per QMT terminal: its worker's heartbeat and its accounts")
    calendar: JsonObject | None = Field(default=None, description="today, session (true/false/null), source, data_ends, warning")
    redis: JsonObject = Field(
        default_factory=dict,
        description="embedded, keeps_data (AOF or RDB, and no eviction), warnings: one line each; master (host:port in use), "
        "sentinel, wait_replicas, replicas_online, replica_confirms (a replica confirms every write before it is said to exist)",
    )


class LivenessAnswer(BaseModel):
    """This web process serves HTTP (it checks nothing else)."""

    success: Literal[True] = True
    alive: Literal[True] = True


class ReadinessAnswer(BaseModel):
    """Whether this web process can take work (Redis answers, the settings let someone in); 503 with the reasons when not."""

    success: bool
    ready: bool
    reasons: list[str]


class NotYetKnown(Waited):
    """202 to a client of the old server (QMT_CLIENT_*, OUTER_CLIENT_*, a script logged in by /login) whose wait ended
    before every verdict: the old failure shape, saying the outcome is not yet known, with the job ids."""

    success: Literal[False] = False
    error: str


class Queued(RootModel[Accepted | FanOutAccepted | NotYetKnown]):
    """202: queued; one job when trader_index was given, else one job per account (an old client: NotYetKnown)."""


class TradeBody(RootModel[TradeRequest | PctTradeRequest]):
    """POST /trade: an explicit volume (first form) or position_pct (second form)."""


class PreviewQuote(BaseModel):
    """The worker's quote the preview priced with (yuan; repo: rate in percent); bid/ask 0 when the book is empty."""

    code: str
    last: float
    prev_close: float
    bid: float
    ask: float
    up_limit: float | None = Field(description="涨停价; null where the board has none")
    down_limit: float | None = Field(description="跌停价; null where the board has none")
    day: str


class PreviewLot(BaseModel):
    minimum: int
    step: int
    maximum: int
    unit: str = Field(description="shares, or 张 for bonds and repo")


class PreviewLimitUse(BaseModel):
    """How much of one risk limit the order uses: share 1.0 is at the limit, above it the order is refused."""

    name: Literal["kill_switch", "blocked_symbols", "max_order_notional", "max_actions_per_day", "price_band"]
    used: float
    limit: float
    unit: str = Field(description="yuan, actions, percent (price_band: percent from the latest price), or none")
    share: float


class PreviewProblem(BaseModel):
    field: str
    message: str


class OrderPreviewModel(BaseModel):
    """What the order would be if sent now (an estimate: the worker sizes the real one with a fresh quote)."""

    trader_index: int
    symbol: str
    side: Literal[23, 24]
    sizing: Literal["volume", "position_pct", "allin", "repo"]
    quote: PreviewQuote | None
    lot: PreviewLot
    tick: float = Field(description="yuan (repo: rate percent)")
    volume: int = Field(description="shares (张 for bonds and repo), in legal lots; 0 when it sizes to nothing (see problems)")
    price: float = Field(description="yuan per share the order is priced at (repo: rate percent)")
    price_basis: Literal["limit", "last", "up_limit", "rate"] = Field(
        description="limit: its limit price; last: the latest price; up_limit: a market order at the day's upper limit; rate: repo"
    )
    notional: float = Field(description="yuan: volume x price (repo: the principal lent)")
    fees: float = Field(description="yuan: estimated commission, stamp duty and transfer fee (repo: its fee)")
    limits: list[PreviewLimitUse]
    closest: PreviewLimitUse | None = Field(description="the limit the order comes closest to")
    confirm: bool = Field(description="a page asks the trader to confirm before sending")
    confirm_because: Literal["notional", "whole_account", ""]
    confirm_above: float = Field(description="yuan: a notional above it asks for confirmation")
    problems: list[PreviewProblem]


class PreviewAnswer(BaseModel):
    success: Literal[True] = True
    preview: OrderPreviewModel
