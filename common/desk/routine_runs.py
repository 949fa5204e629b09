"""Firing routines exactly once per trading day, and what each run did.

A run is keyed by routine name and trading day (keys.routine_run); taking that key with SET NX
comes before any job is queued, so two schedulers, a restart after the fire time or a catch-up
never fire a routine twice. The jobs' idempotency key is derived from the name and the day, so a
scheduler that died between taking the key and queuing the jobs queues the same jobs again, never
new ones. The run record then follows the jobs to the broker's verdict: lent or bought, no-op
(nothing to send), or failed with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from common.rules.exceptions import RouterError, RoutineAlreadyRan, TradingHalted, UnknownRoutine
from common.rules.loose_types import JsonObject, RedisReply
from common.rules.order_request import AllIn
from common.rules.routines import AllinRoutine, NhgRoutine
from common.store import keys, risk_state, routine_store

RunState = Literal["firing", "fired", "done", "no_op", "failed", "missed", "skipped"]
RUN_KEPT_SECONDS = 8 * 86_400  # a week of runs stays readable; the marker only needs to outlive its day
STALE_FIRING_SECONDS = 60  # a run still "firing" this long after it began was left by a scheduler that died
Due = Literal["early", "fire", "missed", "closed", "unknown"]
RAN = ("firing", "fired", "done", "no_op", "failed")  # a run that queued jobs, or tried to
DUE_SLACK_SECONDS = 15  # the scheduler ticks every second: this soon after its time, a routine with no record is still due
KILL_SWITCH_REASON = "the kill switch was on at its time"


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

    `resume` re-queues a run a dead scheduler left "firing": the same idempotency key, so the same jobs. An account the
    door refuses does not hide the jobs queued for the others: they are recorded, with the refusal as the reason.
    """
    run = resume or RoutineRun(name=routine.name, day=day.isoformat(), state="firing", trigger=trigger, forced=force)
    key = f"routine:{routine.name}:{day.isoformat()}"
    if force:
        key += f":forced:{int(run.started_at)}"
    elif resume is None and not desk.redis.set(keys.routine_run(run.name, run.day), run.model_dump_json(), nx=True, ex=RUN_KEPT_SECONDS):
        existing = read(desk.redis, routine.name, run.day)
        raise RoutineAlreadyRan(
            f"routine {routine.name!r} already has a run on {run.day} ({existing.state if existing else 'taken'}); send force to run it again"
        )
    queued, refusals = _submit(desk, routine, trigger, Idempotency(key))
    reason = "; ".join(refusal.message for refusal in refusals)
    if queued:
        run = run.model_copy(update={"state": "fired", "job_ids": queued, "reason": reason})
    elif refusals and all(isinstance(refusal, TradingHalted) for refusal in refusals):
        run = run.model_copy(update={"state": "skipped", "reason": KILL_SWITCH_REASON})
    else:
        run = run.model_copy(update={"state": "failed" if refusals else "no_op", "reason": reason or "no account to act on"})
    _record(desk.redis, run, force)
    return run


def _record(connection: redis.Redis, run: RoutineRun, forced: bool) -> None:
    if forced:  # a forced run never replaces the day's own record; it is kept beside it
        key = keys.routine_run(run.name, f"{run.day}-forced")
        connection.hset(key, str(int(run.started_at)), run.model_dump_json())
        connection.expire(key, RUN_KEPT_SECONDS)
        return
    write(connection, run)


def forced_runs(connection: redis.Redis, name: str, day: str) -> list[RoutineRun]:
    """The forced runs of `name` on `day`, oldest first."""
    found: RedisReply = connection.hgetall(keys.routine_run(name, f"{day}-forced"))
    return sorted((RoutineRun.model_validate_json(raw) for raw in found.values()), key=lambda run: run.started_at)


def _submit(desk: Desk, routine: NhgRoutine | AllinRoutine, trigger: str, idempotency: Idempotency) -> tuple[list[str], list[RouterError]]:
    """The job ids queued, one account at a time, and the door's refusals of the others."""
    caller = caller_for(routine, trigger)
    job_ids: list[str] = []
    refusals: list[RouterError] = []
    for index in routine.indexes(len(desk.settings.enabled_accounts)):
        try:
            if isinstance(routine, NhgRoutine):
                queued = desk.sweep_repo(caller, index, routine.reserve_amount, repo_codes=routine.repo_codes, idempotency=idempotency)
            else:
                price = 0.0 if routine.price == "latest" else float(routine.price)
                request = order_request.buy(routine.symbol, AllIn(), price, strategy_name=routine.name)
                queued = desk.place(caller, index, request, idempotency=idempotency)
        except RouterError as refusal:
            refusals.append(refusal)
            continue
        job_ids += queued.job_ids
    return job_ids, refusals


def mark_missed(connection: redis.Redis, routine: NhgRoutine | AllinRoutine, day: date, reason: str) -> RoutineRun | None:
    """Record that the routine did not fire on `day`, once; None when the day already has a record."""
    return _mark(connection, RoutineRun(name=routine.name, day=day.isoformat(), state="missed", trigger="schedule", reason=reason))


def mark_skipped(connection: redis.Redis, routine: NhgRoutine | AllinRoutine, day: date, reason: str) -> RoutineRun | None:
    """Record that the scheduler did not fire the routine on `day` on purpose (the kill switch), once; None when the day has a record."""
    return _mark(connection, RoutineRun(name=routine.name, day=day.isoformat(), state="skipped", trigger="schedule", reason=reason))


def _mark(connection: redis.Redis, run: RoutineRun) -> RoutineRun | None:
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
    summary = summarize(routine, verdicts)
    if run.reason:  # the door refused some accounts when it fired: the run failed there, whatever the others did
        summary = {**summary, "state": "failed", "reason": "; ".join(filter(None, [run.reason, str(summary.get("reason") or "")]))}
    settled = run.model_copy(update=summary)
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
    limited to some accounts may run only a routine acting on those alone; one it may not see is unknown to it.

    Refused (TradingHalted) while the kill switch is on, before the day's run is taken: released, it can run today."""
    routine = routines.find(routine_store.current(desk.redis, desk.settings.ROUTINES), name)
    caller = who if isinstance(who, Caller) else None
    if routine is None or (caller is not None and not desk.reaches_routine(caller, routine)):
        raise UnknownRoutine(f"no routine named {name!r}", "name")
    if caller is not None:
        desk.require_routine_reach(caller, routine)
        who = caller.client_id
    if risk_state.load(desk.redis).kill_switch:
        raise TradingHalted(f"routine {name!r} does not run while the kill switch is on; release it first")
    return fire(desk, routine, clock.today(), trigger=str(who), force=force)


# -- what a routine shows ----------------------------------------------------------------------------------------
StateKind = Literal["next", "ran", "skipped", "missed"]
Outcome = Literal["running", "done", "no_op", "failed"]


class RoutineState(BaseModel):
    """What a routine shows today, exactly one `kind`:

    - next: `at` is its next run (today, or the next trading day); `reason` "saved_after_time" when it was saved or
      enabled after today's time, "kill_switch" when the switch is on now (it will be skipped unless released);
    - ran: `at` is when today's latest run (scheduled or forced) began; `outcome` running, done, no_op or failed,
      `why` the router's words for a no-op or a failure, `amounts` what it lent or bought (yuan), `job_ids` its jobs;
    - skipped: today it does not run: `reason` disabled, weekend, holiday, calendar_unknown or kill_switch;
    - missed: `at` is the time no scheduler was running to fire it (`reason` scheduler_down).
    """

    kind: StateKind
    at: datetime | None = None
    reason: str = ""
    outcome: Outcome | None = None
    why: str = ""
    amounts: JsonObject = Field(default_factory=dict)
    job_ids: list[str] = Field(default_factory=list)
    trigger: str = ""
    forced: bool = False


def routine_state(
    routine: NhgRoutine | AllinRoutine,
    *,
    now: datetime,
    calendar: TradingCalendar,
    day_run: RoutineRun | None,
    forced: Sequence[RoutineRun] = (),
    watched: datetime | None,
    kill_switch: bool,
) -> RoutineState:
    """The one decision of what `routine` shows at `now` (pure): today's run record `day_run` and `forced` runs, the
    calendar, `watched` (the last moment today at which a scheduler had considered every routine; None: none did) and
    whether the kill switch is on now."""
    runs = [run for run in [day_run, *forced] if run is not None and run.state in RAN]
    if runs:
        run = max(runs, key=lambda r: r.started_at)
        outcome: Outcome = "running" if run.state in ("firing", "fired") else run.state  # type: ignore[assignment]
        return RoutineState(
            kind="ran",
            at=datetime.fromtimestamp(run.started_at, now.tzinfo),
            outcome=outcome,
            why=run.reason,
            amounts=run.outcome,
            job_ids=run.job_ids,
            trigger=run.trigger,
            forced=run.forced,
        )
    fire_time = datetime.combine(now.date(), routine.time, now.tzinfo)
    if day_run is not None and day_run.state == "skipped":
        return RoutineState(kind="skipped", at=datetime.fromtimestamp(day_run.started_at, now.tzinfo), reason="kill_switch", why=day_run.reason)
    if day_run is not None and day_run.state == "missed":
        return RoutineState(kind="missed", at=fire_time, reason="scheduler_down", why=day_run.reason)
    if not routine.enabled:
        return RoutineState(kind="skipped", reason="disabled")
    session = calendar.is_session(now.date())
    if session is None:
        return RoutineState(kind="skipped", reason="calendar_unknown")
    if not session:
        return RoutineState(kind="skipped", reason="weekend" if now.weekday() >= 5 else "holiday")
    reason = "kill_switch" if kill_switch else ""
    unwatched = watched is None or watched < fire_time  # no scheduler has considered the routines since its time
    if now < fire_time or (unwatched and now - fire_time <= timedelta(seconds=DUE_SLACK_SECONDS)):
        return RoutineState(kind="next", at=fire_time, reason=reason)
    if unwatched:
        return RoutineState(kind="missed", at=fire_time, reason="scheduler_down")
    following = calendar.next_session(now.date())  # a scheduler watched at its time, and it was not there then (saved or enabled since)
    at = datetime.combine(following, routine.time, now.tzinfo) if following else None
    return RoutineState(kind="next", at=at, reason="saved_after_time")


def status(desk: Desk, trading: TradingCalendar, now: datetime, caller: Caller) -> list[JsonObject]:
    """Every routine with its next fire time, today's verdict, its latest run and its `state` (routine_state), for the
    API and the pages.

    A caller limited to some accounts sees only the routines that act on those alone: a run's jobs and sums are of
    every account it acts on."""
    found = []
    day = now.date().isoformat()
    watched = routine_store.watched(desk.redis, now.date())
    kill_switch = risk_state.load(desk.redis).kill_switch
    for routine in routine_store.current(desk.redis, desk.settings.ROUTINES):
        if not desk.reaches_routine(caller, routine):
            continue
        today = read(desk.redis, routine.name, day)
        upcoming = routines.next_fire(routine, trading, now, fired_today=today is not None)
        last = today or latest(desk.redis, routine.name, now.date())
        state = routine_state(
            routine,
            now=now,
            calendar=trading,
            day_run=today,
            forced=forced_runs(desk.redis, routine.name, day),
            watched=watched,
            kill_switch=kill_switch,
        )
        found.append(
            {
                **routine.model_dump(mode="json"),
                "next_fire": upcoming.isoformat() if upcoming else None,
                "today": due(routine, trading, now, desk.settings.ROUTINE_GRACE_SECONDS) if today is None else today.state,
                "last": last.model_dump(mode="json") if last else None,
                "state": state.model_dump(mode="json"),
            }
        )
    return found
