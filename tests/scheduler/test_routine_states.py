"""The scheduler and the routines' states with the clock moved, on the real Redis: a routine saved or enabled after its
time is not missed (it runs the next trading day); a routine due under a thrown kill switch is skipped, never fired
into it; a forced run shows as ran; only a scheduler that was down at the fire time makes a miss."""

from __future__ import annotations

import pytest

from common.config import clock
from common.desk import routine_runs
from common.rules.exceptions import TradingHalted
from common.rules.routines import validate
from common.store import events, risk_state, routine_store
from common.store.calendar_store import load as load_calendar
from scheduler.routine_loop import RoutineLoop
from tests.scheduler import test_routines
from tests.scheduler.test_routines import NHG, at, run_of, tick_at
from worker.runner import serve

settings_for = test_routines.settings_for  # the fixture, found here by its name


def shown(loop: RoutineLoop, moment: str, name: str = "nhg-daily") -> routine_runs.RoutineState:
    """The state GET /routines gives the routine at `moment`."""
    with clock.travel_to(at(moment)):
        routine = routine_store.current(loop.redis, loop.settings.ROUTINES)[0]
        listed = routine_runs.status(loop.desk, load_calendar(loop.settings), clock.now(), routine_runs.caller_for(routine, "test"))
    return routine_runs.RoutineState.model_validate(next(r for r in listed if r["name"] == name)["state"])


def test_a_routine_saved_after_its_time_runs_the_next_trading_day_and_is_never_missed(settings_for, real_redis):
    loop = RoutineLoop(settings_for(routines=()), real_redis, follow_outcomes=False)
    tick_at("2026-12-01T14:50:00", loop)  # the scheduler runs all afternoon; no routine yet
    tick_at("2026-12-01T14:57:30", loop)
    with clock.travel_to(at("2026-12-01T15:00:00")):
        routine_store.save(real_redis, validate([NHG]))  # saved at 15:00, its time 14:57
    tick_at("2026-12-01T15:00:01", loop)
    tick_at("2026-12-01T15:10:00", loop)  # past the grace too: still no record
    assert run_of(real_redis, "2026-12-01") is None and real_redis.llen("rq:queue:order") == 0
    state = shown(loop, "2026-12-01T15:10:01")
    assert (state.kind, state.reason, state.at) == ("next", "saved_after_time", at("2026-12-02T14:57"))
    tick_at("2026-12-02T14:56:59", loop)
    tick_at("2026-12-02T14:57:01", loop)
    assert run_of(real_redis, "2026-12-02").state == "fired"
    assert shown(loop, "2026-12-02T14:57:02").outcome == "running"


def test_a_routine_enabled_after_its_time_is_not_missed_and_a_disabled_one_is_skipped(settings_for, real_redis):
    loop = RoutineLoop(settings_for(routines=[{**NHG, "enabled": False}]), real_redis, follow_outcomes=False)
    tick_at("2026-12-01T14:56:00", loop)
    tick_at("2026-12-01T14:57:01", loop)
    assert run_of(real_redis, "2026-12-01") is None
    assert (shown(loop, "2026-12-01T15:00").kind, shown(loop, "2026-12-01T15:00").reason) == ("skipped", "disabled")
    routine_store.save(real_redis, validate([NHG]))
    tick_at("2026-12-01T15:00:00", loop)
    assert run_of(real_redis, "2026-12-01") is None
    assert shown(loop, "2026-12-01T15:00:01").reason == "saved_after_time"


def test_a_scheduler_down_at_the_fire_time_makes_a_miss_saying_so(settings_for, real_redis):
    loop = RoutineLoop(settings_for(), real_redis, follow_outcomes=False)
    tick_at("2026-12-01T14:50:00", loop)  # then down until 15:10
    state = shown(loop, "2026-12-01T15:05:00")
    assert (state.kind, state.at) == ("missed", at("2026-12-01T14:57"))  # already visible while it is down
    tick_at("2026-12-01T15:10:00", RoutineLoop(loop.settings, real_redis, follow_outcomes=False))
    missed = run_of(real_redis, "2026-12-01")
    assert missed.state == "missed" and "no scheduler was running at 14:57" in missed.reason
    assert shown(loop, "2026-12-01T15:10:01").kind == "missed"


def test_back_within_the_grace_a_scheduler_catches_up_once(settings_for, real_redis):
    loop = RoutineLoop(settings_for(), real_redis, follow_outcomes=False)
    tick_at("2026-12-01T14:50:00", loop)
    tick_at("2026-12-01T14:59:00", RoutineLoop(loop.settings, real_redis, follow_outcomes=False))
    assert run_of(real_redis, "2026-12-01").trigger == "catch-up"


def test_under_a_thrown_kill_switch_the_routine_is_skipped_not_fired_and_run_now_refused(settings_for, real_redis):
    loop = RoutineLoop(settings_for(), real_redis, follow_outcomes=False)
    risk_state.change(real_redis, kill_switch=True)
    assert shown(loop, "2026-12-01T14:00").reason == "kill_switch"  # it will be skipped unless released
    tick_at("2026-12-01T14:56:59", loop)
    tick_at("2026-12-01T14:57:01", loop)
    skipped = run_of(real_redis, "2026-12-01")
    assert skipped.state == "skipped" and skipped.job_ids == [] and real_redis.llen("rq:queue:order") == 0
    told = [e for _, e in events.read(real_redis) if isinstance(e, events.RoutineEvent)]
    assert [e.state for e in told] == ["skipped"]
    state = shown(loop, "2026-12-01T14:58")
    assert (state.kind, state.reason) == ("skipped", "kill_switch")
    with clock.travel_to(at("2026-12-01T14:58")), pytest.raises(TradingHalted):
        routine_runs.run_now(loop.desk, "nhg-daily", "user:admin", force=True)
    risk_state.change(real_redis, kill_switch=False)
    with clock.travel_to(at("2026-12-01T14:59")):
        forced = routine_runs.run_now(loop.desk, "nhg-daily", "user:admin", force=True)
    state = shown(loop, "2026-12-01T14:59:01")
    assert (state.kind, state.forced, state.job_ids, state.outcome) == ("ran", True, forced.job_ids, "running")
    assert run_of(real_redis, "2026-12-01").state == "skipped"  # the day's own record stays what it was


def test_a_kill_switch_thrown_between_the_check_and_the_send_records_a_skip(settings_for, real_redis):
    loop = RoutineLoop(settings_for(), real_redis, follow_outcomes=False)
    routine = loop.settings.ROUTINES[0]
    risk_state.change(real_redis, kill_switch=True)
    with clock.travel_to(at("2026-12-01T14:57:01")):
        run = routine_runs.fire(loop.desk, routine, at("2026-12-01T14:57").date(), trigger="schedule")
    assert (run.state, run.job_ids, run.reason) == ("skipped", [], routine_runs.KILL_SWITCH_REASON)


def test_a_run_now_forced_or_not_gets_its_outcome_from_the_next_ticks(settings_for, real_redis):
    settings = settings_for(SIM_STARTING_CASH=105_600)
    loop = RoutineLoop(settings, real_redis)  # following outcomes, as the scheduler process does
    with clock.travel_to(at("2026-12-01T10:00:00")):
        first = routine_runs.run_now(loop.desk, "nhg-daily", "user:admin")
        forced = routine_runs.run_now(loop.desk, "nhg-daily", "user:admin", force=True)
        serve(settings, real_redis, burst=True)
    tick_at("2026-12-01T10:00:05", loop)
    assert run_of(real_redis, "2026-12-01").state == "done" and run_of(real_redis, "2026-12-01").job_ids == first.job_ids
    [settled] = routine_runs.forced_runs(real_redis, "nhg-daily", "2026-12-01")
    assert settled.state == "no_op" and settled.job_ids == forced.job_ids  # the cash was lent by the first
    state = shown(loop, "2026-12-01T10:00:06")
    assert (state.kind, state.forced, state.outcome) == ("ran", True, "no_op")
