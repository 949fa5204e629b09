"""Firing routines exactly once per trading day, and what each run did.

A run is keyed by routine name and trading day (keys.routine_run); taking that key with SET NX
comes before any job is queued, so two schedulers, a restart after the fire time or a catch-up
never fire a routine twice. The jobs' idempotency key is derived from the name and the day, so a
scheduler that died between taking the key and queuing the jobs queues the same jobs again, never
new ones. The run record then follows the jobs to the broker's verdict: lent or bought, no-op
(nothing to send), or failed with the reason.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import redis
from pydantic import BaseModel, Field

from common.config import clock
from common.config.settings import SCOPES
from common.desk.callers import Caller, Idempotency, Queued
from common.desk.submission import Desk
from common.desk.verdicts import Verdict
from common.rules import order_request, routines
from common.rules.calendar import TradingCalendar
from common.rules.exceptions import RouterError, RoutineAlreadyRan, UnknownRoutine
from common.rules.loose_types import JsonObject, RedisReply
from common.rules.order_request import AllIn
from common.rules.routines import AllinRoutine, NhgRoutine
from common.store import keys, routine_store

RunState = Literal["firing", "fired", "done", "no_op", "failed", "missed"]
RUN_KEPT_SECONDS = 8 * 86_400  # a week of runs stays readable; the marker only needs to outlive its day
STALE_FIRING_SECONDS = 60  # a run still "firing" this long after it began was left by a scheduler that died
Due = Literal["early", "fire", "missed", "closed", "unknown"]


class RoutineRun(BaseModel):
    """One routine on one trading day: who started it, its jobs, and the outcome once the broker answered."""

    name: str
    day: str  # ISO trading day
    state: RunState
    trigger: str  # "schedule", "catch-up", or the user who ran it now
    forced: bool = False
    started_at: float = Field(default_factory=clock.time)
    job_ids: list[str] = Field(default_factory=list)
    reason: str = ""  # why it did nothing, or failed
    outcome: JsonObject = Field(default_factory=dict)  # lent / bought (yuan), order ids


def due(routine: NhgRoutine | AllinRoutine, calendar: TradingCalendar, now: datetime, grace_seconds: int) -> Due:
    """Whether `routine` should fire at `now`: early; fire (on time, or late by less than the grace, inside its
    session); missed; closed (not a session); unknown (no calendar data for the day)."""
    verdict = calendar.is_session(now.date())
    if verdict is None:
        return "unknown"
    if not verdict:
        return "closed"
    at = datetime.combine(now.date(), routine.time, now.tzinfo)
    if now < at:
        return "early"
    if now - at > timedelta(seconds=grace_seconds) or not _tradable(routine, now):
        return "missed"
    return "fire"


def _tradable(routine: NhgRoutine | AllinRoutine, now: datetime) -> bool:
    """Inside a span of the day in which the routine's order can trade."""
    moment = now.time().replace(tzinfo=None)
    return any(start <= moment < end for start, end in routine.sessions())


def caller_for(routine: NhgRoutine | AllinRoutine, trigger: str) -> Caller:
    """Jobs of a routine are its own, whoever triggered it, so their idempotent ids never depend on the trigger."""
    return Caller(client_id=f"routine:{routine.name}", scopes=SCOPES, source=trigger)


def read(connection: redis.Redis, name: str, day: str) -> RoutineRun | None:
    raw: RedisReply = connection.get(keys.routine_run(name, day))
    return RoutineRun.model_validate_json(raw) if raw else None


def write(connection: redis.Redis, run: RoutineRun) -> None:
    connection.set(keys.routine_run(run.name, run.day), run.model_dump_json(), ex=RUN_KEPT_SECONDS)


def latest(connection: redis.Redis, name: str, today: date, days: int = 7) -> RoutineRun | None:
    """The newest run of `name` within `days` days before `today` (the status page's "last result")."""
    for back in range(days + 1):
        found = read(connection, name, (today - timedelta(days=back)).isoformat())
        if found is not None:
            return found
    return None


def fire(
    desk: Desk, routine: NhgRoutine | AllinRoutine, day: date, *, trigger: str, force: bool = False, resume: RoutineRun | None = None
) -> RoutineRun:
    """Queue the routine's jobs for trading day `day`, once: raises RoutineAlreadyRan when a run of that day exists (unless `force`).

    `resume` re-queues a run a dead scheduler left "firing": the same idempotency key, so the same jobs.
    """
    run = resume or RoutineRun(name=routine.name, day=day.isoformat(), state="firing", trigger=trigger, forced=force)
    key = f"routine:{routine.name}:{day.isoformat()}"
    if force:
        key += f":forced:{int(run.started_at)}"
    elif resume is None and not desk.redis.set(keys.routine_run(run.name, run.day), run.model_dump_json(), nx=True, ex=RUN_KEPT_SECONDS):
        existing = read(desk.redis, routine.name, run.day)
        raise RoutineAlreadyRan(
            f"routine {routine.name!r} already ran on {run.day} ({existing.state if existing else 'taken'}); send force to run it again"
        )
    try:
        queued = _submit(desk, routine, trigger, Idempotency(key))
    except RouterError as error:
        run = run.model_copy(update={"state": "failed", "reason": error.message})
        _record(desk.redis, run, force)
        return run
    run = run.model_copy(update={"state": "fired", "job_ids": queued.job_ids})
    _record(desk.redis, run, force)
    return run


def _record(connection: redis.Redis, run: RoutineRun, forced: bool) -> None:
    if forced:  # a forced run never replaces the day's own record; it is kept beside it
        connection.set(keys.routine_run(run.name, f"{run.day}-forced-{int(run.started_at)}"), run.model_dump_json(), ex=RUN_KEPT_SECONDS)
        return
    write(connection, run)


def _submit(desk: Desk, routine: NhgRoutine | AllinRoutine, trigger: str, idempotency: Idempotency) -> Queued:
    caller = caller_for(routine, trigger)
    jobs: list[tuple[int | None, str]] = []
    for index in routine.indexes(len(desk.settings.enabled_accounts)):
        if isinstance(routine, NhgRoutine):
            queued = desk.sweep_repo(caller, index, routine.reserve_amount, repo_codes=routine.repo_codes, idempotency=idempotency)
        else:
            price = 0.0 if routine.price == "latest" else float(routine.price)
            queued = desk.place(caller, index, order_request.buy(routine.symbol, AllIn(), price, strategy_name=routine.name), idempotency=idempotency)
        jobs += queued.jobs
    return Queued(tuple(jobs))


def mark_missed(connection: redis.Redis, routine: NhgRoutine | AllinRoutine, day: date, reason: str) -> RoutineRun | None:
    """Record that the routine did not fire on `day`, once; None when the day already has a record."""
    run = RoutineRun(name=routine.name, day=day.isoformat(), state="missed", trigger="schedule", reason=reason)
    if connection.set(keys.routine_run(run.name, run.day), run.model_dump_json(), nx=True, ex=RUN_KEPT_SECONDS):
        return run
    return None


def settle(desk: Desk, run: RoutineRun, routine: NhgRoutine | AllinRoutine, wait_seconds: float) -> RoutineRun:
    """Wait for the broker's verdict on the run's jobs and record the outcome (done, no_op, failed)."""
    if run.state != "fired":
        return run
    jobs = tuple((None, job_id) for job_id in run.job_ids)
    verdicts = desk.verdicts(caller_for(routine, run.trigger), Queued(jobs), wait_seconds)
    if verdicts is None:
        return run  # still under way; the record keeps its job ids for the status page
    settled = run.model_copy(update=summarize(routine, verdicts))
    _record(desk.redis, settled, run.forced)
    return settled


def summarize(routine: NhgRoutine | AllinRoutine, verdicts: list[Verdict]) -> JsonObject:
    """The run's state, reason and outcome from its jobs' verdicts (money in yuan)."""
    accepted = [v.result for v in verdicts if v.succeeded]
    idle = [v for v in verdicts if not v.succeeded and v.result.get("nothing_to_send")]
    failed = [v for v in verdicts if not v.succeeded and not v.result.get("nothing_to_send")]
    if isinstance(routine, NhgRoutine):
        outcome = {"lent": sum(r.get("volume", 0) * 100.0 for r in accepted), "codes": sorted({str(r.get("symbol")) for r in accepted})}
    else:
        outcome = {"bought": sum(r.get("volume", 0) * r.get("price", 0.0) for r in accepted), "volume": sum(r.get("volume", 0) for r in accepted)}
    outcome["order_ids"] = [r.get("order_id") for r in accepted]
    if failed:
        return {"state": "failed", "reason": "; ".join(v.error or "failed" for v in failed), "outcome": outcome}
    if not accepted:
        return {"state": "no_op", "reason": "; ".join(v.error or "nothing to send" for v in idle), "outcome": outcome}
    return {"state": "done", "outcome": outcome}


def describe(run: RoutineRun) -> str:
    """One line for a notification."""
    if run.state == "done":
        amount = run.outcome.get("lent", run.outcome.get("bought", 0.0))
        verb = "lent" if "lent" in run.outcome else "bought"
        return f"routine {run.name} on {run.day}: {verb} {amount:,.2f} yuan, orders {run.outcome.get('order_ids')}"
    return f"routine {run.name} on {run.day}: {run.state}{': ' + run.reason if run.reason else ''}"


def run_now(desk: Desk, name: str, who: str | Caller, *, force: bool = False) -> RoutineRun:
    """An admin's "run it now": still once per trading day unless `force` (which the audit trail records). A caller
    limited to some accounts may run only a routine acting on those alone; one it may not see is unknown to it."""
    routine = routines.find(routine_store.current(desk.redis, desk.settings.ROUTINES), name)
    caller = who if isinstance(who, Caller) else None
    if routine is None or (caller is not None and not desk.reaches_routine(caller, routine)):
        raise UnknownRoutine(f"no routine named {name!r}", "name")
    if caller is not None:
        desk.require_routine_reach(caller, routine)
        who = caller.client_id
    return fire(desk, routine, clock.today(), trigger=str(who), force=force)


def status(desk: Desk, trading: TradingCalendar, now: datetime, caller: Caller) -> list[JsonObject]:
    """Every routine with its next fire time, today's verdict and its latest run, for the API and the status page.

    A caller limited to some accounts sees only the routines that act on those alone: a run's jobs and sums are of
    every account it acts on."""
    found = []
    for routine in routine_store.current(desk.redis, desk.settings.ROUTINES):
        if not desk.reaches_routine(caller, routine):
            continue
        today = read(desk.redis, routine.name, now.date().isoformat())
        upcoming = routines.next_fire(routine, trading, now, fired_today=today is not None)
        last = today or latest(desk.redis, routine.name, now.date())
        found.append(
            {
                **routine.model_dump(mode="json"),
                "next_fire": upcoming.isoformat() if upcoming else None,
                "today": due(routine, trading, now, desk.settings.ROUTINE_GRACE_SECONDS) if today is None else today.state,
                "last": last.model_dump(mode="json") if last else None,
            }
        )
    return found
