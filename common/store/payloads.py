"""Job kinds, their payload and result models, and job ids.

The web and the scheduler build payloads; the worker validates them again before it acts.
Job functions are named by dotted path so that nothing outside the worker imports it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.rules.order_request import Side, Size, Sizing, WireSize, size_of
from common.store import keys

JobKind = Literal["order", "cancel", "query", "sim_day"]

# kind -> (queue, job function in the worker)
JOB_ROUTES: dict[str, tuple[str, str]] = {
    "order": (keys.ORDER_QUEUE, "worker.jobs.run_order"),
    "cancel": (keys.CANCEL_QUEUE, "worker.jobs.run_cancel"),
    "query": (keys.QUERY_QUEUE, "worker.jobs.run_query"),
    # after every order and cancel already waiting, so they land on the day they were sent on
    "sim_day": (keys.QUERY_QUEUE, "worker.jobs.run_sim_day"),
}
_ID_PREFIX = {"order": "o", "cancel": "c", "query": "q", "sim_day": "s"}
JOB_TAG_MAX_BYTES = 24  # the job tag travels in xtquant's order_remark


def new_job_id(kind: JobKind) -> str:
    """A fresh job id: kind letter + 16 hex digits. It is also the order's tag in order_remark (≤ 24 ASCII)."""
    return f"{_ID_PREFIX[kind]}{secrets.token_hex(8)}"


def idempotent_job_id(kind: JobKind, client_id: str, key: str, account_index: int | None) -> str:
    """The job id a client's idempotency key always maps to (per account), so a retry finds the original job."""
    digest = hashlib.sha256(f"{client_id}\n{key}\n{account_index}".encode()).hexdigest()
    return f"{_ID_PREFIX[kind]}{digest[:16]}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobMeta(_Model):
    """Who asked, and when: carried by every payload."""

    client_id: str = ""
    source: str = ""  # remote address
    created_at: float = Field(default_factory=time.time)  # unix seconds


class OrderPayload(_Model):
    """An order to place on one account. Volumes in shares (张 for bonds and repo), prices in yuan (repo: rate in percent)."""

    kind: Literal["order"] = "order"
    account_index: int = Field(ge=0)
    account_id: str
    symbol: str  # normalised, e.g. "600000.SH"
    order_type: Side
    volume: int = Field(ge=0)  # 0 when the worker sizes the order
    price: float = Field(ge=0)  # 0 with a market price type, or to take the quote (sized orders)
    price_type: int  # the old server's code (0 limit, 1 latest, 2, 3, 5)
    xt_price_type: int  # resolved for the symbol's exchange
    sizing: Sizing = "volume"  # the size on the wire (common.rules.order_request.wire_fields); read it as `size`
    position_pct: float | None = Field(default=None, gt=0, le=1)  # buy: of total asset; sell: of can_use_volume
    reserve_amount: float = Field(default=0.0, ge=0)  # repo: yuan never lent
    repo_codes: list[str] | None = None  # repo: the codes to compare (None: R-001 and GC001)
    strategy_name: str = ""
    deadline: float  # unix seconds; an order not started by then is never sent
    meta: JobMeta = Field(default_factory=JobMeta)

    @property
    def size(self) -> Size:
        """The order's size as its typed variant (Shares, Percent, AllIn or Repo)."""
        return size_of(WireSize(self.sizing, self.volume, self.position_pct, self.reserve_amount, self.repo_codes))

    @model_validator(mode="after")
    def _sized_or_given(self) -> OrderPayload:
        if self.sizing == "volume" and self.volume <= 0:
            raise ValueError("volume must be greater than 0")
        if self.sizing == "position_pct" and self.position_pct is None:
            raise ValueError("position_pct sizing needs position_pct")
        return self


class CancelPayload(_Model):
    """Cancel one order (order_id), or every open order of one side on the account (side).

    A side cancel counts each cancel it sends against the account's caps in the worker and stops at a cap,
    unless it is the kill switch's (`kill_switch`): stopping a runaway strategy is never refused.
    """

    kind: Literal["cancel"] = "cancel"
    account_index: int = Field(ge=0)
    account_id: str
    order_id: int | None = Field(default=None, gt=0)
    side: Literal["buy", "sell"] | None = None
    kill_switch: bool = False  # sent by the kill switch: neither counted nor refused by the caps (default: payloads queued before it)
    meta: JobMeta = Field(default_factory=JobMeta)

    @model_validator(mode="after")
    def _one_target(self) -> CancelPayload:
        if (self.order_id is None) == (self.side is None):
            raise ValueError("a cancel names either order_id or side")
        return self


QueryWhat = Literal["accounts", "asset", "positions", "orders", "order", "trades", "quote"]


class QueryPayload(_Model):
    kind: Literal["query"] = "query"
    what: QueryWhat
    account_index: int | None = Field(default=None, ge=0)
    account_id: str | None = None
    order_id: int | None = None
    cancelable_only: bool = False
    symbol: str | None = None  # quote: the normalised code
    meta: JobMeta = Field(default_factory=JobMeta)


class SimDayPayload(_Model):
    """Move the simulator on by `days` trading days (BROKER=sim only), settling each as a real day end does."""

    kind: Literal["sim_day"] = "sim_day"
    days: int = Field(default=1, ge=1, le=10)
    meta: JobMeta = Field(default_factory=JobMeta)


# submitted: the broker has it; rejected: the broker refused it; not_submitted: it never reached the
# broker; expired: it waited past its deadline and was never sent; unknown: a call timed out and
# the order could not be found by its tag (yet).
OrderOutcome = Literal["submitted", "rejected", "not_submitted", "expired", "unknown"]


class OrderResult(BaseModel):
    """What an order job did. `outcome` says whether the broker has the order."""

    outcome: OrderOutcome
    order_id: int | None = None
    symbol: str
    side: Literal["buy", "sell"]
    requested_volume: int
    volume: int
    price: float
    price_type: int
    xt_price_type: int
    order_status: int | None = None
    status: str | None = None  # name of order_status, e.g. "filled"
    status_msg: str = ""
    traded_volume: int = 0
    traded_price: float = 0.0
    error: str | None = None
    nothing_to_send: bool = False  # sized to no legal volume (e.g. under 1,000 yuan to lend): a no-op, not a fault
    submitted_at: float | None = None
    updated_at: float = Field(default_factory=time.time)


class CancelResult(BaseModel):
    """What a cancel job asked of the broker: `cancelled` were accepted for cancelling, `refused` were not."""

    order_id: int | None = None
    side: Literal["buy", "sell"] | None = None
    accepted: bool
    cancelled: list[int] = Field(default_factory=list)
    refused: list[dict] = Field(default_factory=list)  # {"order_id", "error"}
    error: str | None = None


JobStatus = Literal["queued", "started", "finished", "failed", "expired", "canceled", "deferred", "scheduled", "stopped"]


class JobView(BaseModel):
    """A job as clients see it at GET /jobs/<id>."""

    success: bool = True
    job_id: str
    kind: str | None = None
    client_id: str | None = None  # who asked for it
    account_index: int | None = None  # the trader_index it acts on (None: no one account)
    status: JobStatus
    created_at: str | None = None
    enqueued_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    result: dict | list | None = None
    order: dict | None = None  # the order's latest broker state, updated by callbacks after the job ends
    error: str | None = None
    request: dict | None = None  # what was asked: the payload's own fields, without the account number, caller and deadline
