"""Scheduled routines (prefix /qmt/trade/api/routines): see them, change them (admin), run one now (admin).

The routines themselves and their once-a-day firing are common.rules.routines and common.desk.routine_runs;
these routes authenticate, parse and translate. Every change and every run is in the audit trail.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from api import router
from api.auth import current_caller, request_body
from api.openapi import documented
from common.config import clock
from common.desk import routine_runs
from common.rules import routines
from common.rules.loose_types import JsonObject, RedisReply
from common.store import calendar_store, keys

bp = Blueprint("routines_api", __name__, url_prefix="/qmt/trade/api/routines")


class RoutinesAnswer(BaseModel):
    """Each routine with `next_fire` (ISO, Shanghai), `today` (its verdict or run state), `last` (its latest run) and
    `state`: what it shows, exactly one kind (common.desk.routine_runs.RoutineState): next {at, reason}, ran {at, outcome:
    running | done | no_op | failed, why, amounts, job_ids, trigger, forced}, skipped {reason: disabled | weekend | holiday
    | calendar_unknown | kill_switch} or missed {at, reason: scheduler_down}."""

    success: bool = True
    calendar: JsonObject = Field(description="today, session (true/false/null: unknown), source, data_ends, warning")
    routines: list[JsonObject]


class RoutineList(BaseModel):
    """PUT /routines: every routine, as a whole (names unique); what is left out is deleted."""

    model_config = ConfigDict(extra="forbid")

    routines: list[routines.Routine]


class RunNow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(default=False, description="run again although it already ran today (audited)")


class RunAnswer(BaseModel):
    success: bool = True
    run: JsonObject
    job_ids: list[str]


def _answer() -> Response:
    desk = router().desk
    now = clock.now()
    trading = calendar_store.load(desk.settings, desk.redis)
    raw: RedisReply = desk.redis.get(keys.CALENDAR_STATUS)
    published = json.loads(raw) if raw else {}
    today = {
        "today": now.date().isoformat(),
        "session": trading.is_session(now.date()),
        "source": trading.source_of(now.date()),
        "data_ends": trading.data_ends.isoformat() if trading.data_ends else None,
        "warning": trading.warning(now.date()) or published.get("warning"),
    }
    return jsonify(RoutinesAnswer(calendar=today, routines=routine_runs.status(desk, trading, now, current_caller())).model_dump(mode="json"))


@bp.get("")
@documented("Every scheduled routine: next fire time, today's verdict, the last outcome", answers={200: RoutinesAnswer}, errors=(401, 403, 503))
def list_routines() -> Response:
    return _answer()


@bp.put("")
@documented(
    "Replace the routines (admin); validated as a whole, audited", body=RoutineList, answers={200: RoutinesAnswer}, errors=(400, 401, 403, 422, 503)
)
def replace_routines() -> Response:
    change = RoutineList.model_validate(request_body())
    router().desk.change_routines(current_caller(), [r.model_dump(mode="json") for r in change.routines])
    return _answer()


@bp.post("/<name>/run")
@documented(
    "Run a routine now (admin): once per trading day unless force; refused (423) while the kill switch is on",
    body=RunNow,
    answers={202: RunAnswer},
    errors=(400, 401, 403, 404, 409, 422, 423, 503),
)
def run_now(name: str) -> Response:
    order = RunNow.model_validate(request_body())
    run = routine_runs.run_now(router().desk, name, current_caller(), force=order.force)
    response = jsonify(RunAnswer(run=run.model_dump(mode="json"), job_ids=run.job_ids).model_dump(mode="json"))
    response.status_code = 202
    return response
