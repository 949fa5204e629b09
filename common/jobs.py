"""Job kinds, their payload and result models, and job ids.

The web and the scheduler build payloads; the worker validates them again before it acts.
Job functions are named by dotted path so that nothing outside the worker imports it.
"""
from __future__ import annotations

import secrets
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common import keys

JobKind = Literal["order", "cancel", "query"]

# kind -> (queue, job function in the worker)
JOB_ROUTES: dict[str, tuple[str, str]] = {
    "order": (keys.ORDER_QUEUE, "worker.jobs.run_order"),
    "cancel": (keys.CANCEL_QUEUE, "worker.jobs.run_cancel"),
    "query": (keys.QUERY_QUEUE, "worker.jobs.run_query"),
}
_ID_PREFIX = {"order": "o", "cancel": "c", "query": "q"}
JOB_TAG_MAX_BYTES = 24  # the job tag travels in xtquant's order_remark


def new_job_id(kind: JobKind) -> str:
    """A fresh job id: kind letter + 16 hex digits. It is also the order's tag in order_remark (≤ 24 ASCII)."""
    return f"{_ID_PREFIX[kind]}{secrets.token_hex(8)}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobMeta(_Model):
    """Who asked, and when: carried by every payload."""

    client_id: str = ""
    source: str = ""  # remote address
    created_at: float = Field(default_factory=time.time)  # unix seconds


class OrderPayload(_Model):
    """An order to place on one account. Volumes in shares (张 for bonds and repo), prices in yuan."""

    kind: Literal["order"] = "order"
    account_index: int = Field(ge=0)
    account_id: str
    symbol: str  # normalised, e.g. "600000.SH"
    order_type: Literal[23, 24]  # xtconstant STOCK_BUY / STOCK_SELL
    volume: int = Field(gt=0)
    price: float = Field(ge=0)
    price_type: int  # the old server's code (0 limit, 1 latest, 2, 3, 5)
    xt_price_type: int  # resolved for the symbol's exchange
    strategy_name: str = ""
    deadline: float  # unix seconds; an order not started by then is never sent
    meta: JobMeta = Field(default_factory=JobMeta)


class CancelPayload(_Model):
    kind: Literal["cancel"] = "cancel"
    account_index: int = Field(ge=0)
    account_id: str
    order_id: int = Field(gt=0)
    meta: JobMeta = Field(default_factory=JobMeta)


QueryWhat = Literal["accounts", "asset", "positions", "orders", "order", "trades"]


class QueryPayload(_Model):
    kind: Literal["query"] = "query"
    what: QueryWhat
    account_index: int | None = Field(default=None, ge=0)
    account_id: str | None = None
    order_id: int | None = None
    cancelable_only: bool = False
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
    submitted_at: float | None = None
    updated_at: float = Field(default_factory=time.time)


class CancelResult(BaseModel):
    order_id: int
    accepted: bool
    error: str | None = None


JobStatus = Literal["queued", "started", "finished", "failed", "expired", "canceled", "deferred", "scheduled", "stopped"]


class JobView(BaseModel):
    """A job as clients see it at GET /jobs/<id>."""

    success: bool = True
    job_id: str
    kind: str | None = None
    status: JobStatus
    created_at: str | None = None
    enqueued_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    result: dict | list | None = None
    order: dict | None = None  # the order's latest broker state, updated by callbacks after the job ends
    error: str | None = None
