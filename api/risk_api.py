"""Risk controls (prefix /qmt/trade/api): admins read and change the limits; anyone who may trade throws the kill switch,
anyone who may query sees whether it is on.

Every change is validated and goes into the audit trail (api.trail).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api import router
from api.auth import current_caller, request_body
from api.openapi import documented
from common.desk.submission import RiskLimits

bp = Blueprint("risk_api", __name__, url_prefix="/qmt/trade/api")
MAX_NOTIONAL_YUAN = 10_000_000_000  # 10 billion yuan per order: more than any account the router serves holds
MAX_ACTIONS_PER_DAY = 1_000_000  # 50 times the exchanges' high-frequency threshold of 20,000 a day
MAX_ACTIONS_PER_SECOND = 10_000  # 30 times their 300 a second


class CapRange(BaseModel):
    """The values a cap accepts: from `min` to `max`, `whole` numbers only or not."""

    min: float
    max: float
    whole: bool


RANGES = {  # for the page to check a field before sending it
    "max_order_notional": CapRange(min=0, max=MAX_NOTIONAL_YUAN, whole=False),
    "max_actions_per_day": CapRange(min=0, max=MAX_ACTIONS_PER_DAY, whole=True),
    "max_actions_per_second": CapRange(min=0, max=MAX_ACTIONS_PER_SECOND, whole=True),
}


class RiskAnswer(BaseModel):
    """The limits in force, today's count of orders and cancels per account, and the range each cap accepts (the
    config page checks a field against it before sending)."""

    success: bool = True
    limits: RiskLimits
    actions_today: dict[int, int]
    ranges: dict[str, CapRange] = Field(default_factory=lambda: RANGES)


class RiskChange(BaseModel):
    """Any subset of the limits; what is left out stays as it is (an explicit null is refused, naming the field)."""

    model_config = ConfigDict(extra="forbid")

    kill_switch: bool | None = None
    # ranges a trader could mean (0 switches a cap off); beyond them a typo, refused rather than stored
    max_order_notional: float | None = Field(default=None, ge=0, le=MAX_NOTIONAL_YUAN, allow_inf_nan=False, description="yuan per order")
    max_actions_per_day: int | None = Field(default=None, ge=0, le=MAX_ACTIONS_PER_DAY, description="orders and cancels per account per day")
    max_actions_per_second: int | None = Field(default=None, ge=0, le=MAX_ACTIONS_PER_SECOND, description="per account per second")
    blocked_symbols: list[str] | None = None

    @field_validator("kill_switch", "max_order_notional", "max_actions_per_day", "max_actions_per_second", "blocked_symbols", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # null used to mean "no change", so an emptied field or a number JSON cannot hold (1e400 sent as null) said "saved"
        if value is None:
            raise ValueError("a value is required (null is not one); leave the field out to keep it as it is")
        return value


class KillSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool
    cancel_open: bool = Field(default=False, description="with on: also cancel every open order of every account")


def _answer(limits: RiskLimits, extra: dict[str, object] | None = None) -> Response:
    counts = router().desk.actions_today(current_caller())
    return jsonify({**RiskAnswer(limits=limits, actions_today=counts).model_dump(mode="json"), **(extra or {})})


@bp.get("/risk")
@documented("The risk limits and today's counts", answers={200: RiskAnswer}, errors=(401, 403, 503))
def get_risk() -> Response:
    return _answer(router().desk.risk_limits())


@bp.put("/risk")
@documented("Change risk limits (admin)", body=RiskChange, answers={200: RiskAnswer}, errors=(400, 401, 403, 422, 503))
def put_risk() -> Response:
    change = RiskChange.model_validate(request_body())
    return _answer(router().desk.change_risk_limits(current_caller(), **change.model_dump(exclude_none=True)))


class KillSwitchState(BaseModel):
    """Is the kill switch on (new orders refused with 423)? Anyone who may query may know."""

    success: bool = True
    on: bool


@bp.get("/risk/kill_switch")
@documented("Is the kill switch on (any caller with the query scope)", answers={200: KillSwitchState}, errors=(401, 403, 503))
def kill_switch_state() -> Response:
    return jsonify(KillSwitchState(on=router().desk.risk_limits().kill_switch).model_dump(mode="json"))


@bp.post("/risk/kill_switch")
@documented(
    "Throw the kill switch (anyone who may trade) or release it (admins); new orders are refused (423) while it is on, cancels still run",
    body=KillSwitch,
    answers={200: RiskAnswer},
    errors=(400, 401, 403, 422, 503),
)
def kill_switch() -> Response:
    order = KillSwitch.model_validate(request_body())
    limits, queued = router().desk.kill_switch(current_caller(), order.on, order.cancel_open)
    return _answer(limits, {"job_ids": queued.job_ids} if queued.jobs else None)
