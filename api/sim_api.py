"""Simulator controls (prefix /qmt/trade/api/sim), registered only with BROKER=sim: move the trading day on.

Trying a sell of shares bought today needs the next trading day (T+1); this settles the day as a
real day end does, as a job through the queue like any other, and the request is audited.
"""

from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from api import router
from api.auth import current_caller, request_body
from api.openapi import documented
from api.schemas import Queued, Waited
from api.trade_api import accepted

bp = Blueprint("sim_api", __name__, url_prefix="/qmt/trade/api/sim")


class NextDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(default=1, ge=1, le=10, description="trading days to move on")


@bp.post("/next_day")
@documented(
    "Simulator only (admin): move to the next trading day — T+1 released, repo repaid, open orders end",
    body=NextDay,
    answers={200: Waited, 202: Queued},
    errors=(400, 401, 403, 404, 422, 503),
)
def next_day() -> Response:
    roll = NextDay.model_validate(request_body())
    return accepted(router().desk.next_sim_day(current_caller(), roll.days), single=True)
