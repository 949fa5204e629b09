"""Scheduled routines on the exchange calendar, fired by the scheduler's tick with the clock moved, on the real Redis.

The worker drains the queues in this process (serve with burst), against the simulator.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from common.config import clock
from common.config.clock import SHANGHAI
from common.desk import routine_runs
from common.store import keys
from common.store.calendar_store import load as load_calendar
from scheduler.routine_loop import RoutineLoop
from tests.support import make_settings, sim_prices_file
from worker.runner import serve

NHG = {"name": "nhg-daily", "kind": "nhg", "time": "14:57", "accounts": 0, "reserve_amount": 5000}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def settings_for(tmp_path):
    def make(routines=(NHG,), **change):
        values = dict(
            SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path), ROUTINES=list(routines), TRADER_CONFIGS=[
                {"account_id": "SIM000001", "nick_name": "main"}
            ],
        )  # fmt: skip
        values.update(change)
        return make_settings(**values)

    return make


def tick_at(moment: str, loop: RoutineLoop) -> None:
    """One tick of `loop` with the clock at `moment`; the loop then stops cleanly (gives up the lease), so the
    next loop a test makes is a restarted scheduler."""
    with clock.travel_to(at(moment)):
        loop.tick()
    assert loop.redis.get(keys.SCHEDULER_LEADER) == loop.identity.encode(), "the loop did not lead"
    loop.resign()


def run_of(connection, day: str, name: str = "nhg-daily"):
    return routine_runs.read(connection, name, day)


def settle_at(moment: str, settings, connection, day: str, name: str = "nhg-daily"):
    """Run the worker on the queued jobs with the clock at `moment`, then record the run's outcome."""
    with clock.travel_to(at(moment)):
        serve(settings, connection, burst=True)
        loop = RoutineLoop(settings, connection, follow_outcomes=False)
        run = run_of(connection, day, name)
        routine = next(r for r in settings.ROUTINES if r.name == name)
        return routine_runs.settle(loop.desk, run, routine, 10)


def test_the_sweep_at_1457_lends_idle_cash_minus_the_reserve_on_the_better_quoted_code(settings_for, real_redis):
    settings = settings_for(SIM_STARTING_CASH=105_600)
    loop = RoutineLoop(settings, real_redis, follow_outcomes=False)
    tick_at("2026-12-01T14:56:58", loop)  # a Tuesday: not yet
    assert run_of(real_redis, "2026-12-01") is None
    tick_at("2026-12-01T14:57:01", loop)
    fired = run_of(real_redis, "2026-12-01")
    assert fired.state == "fired" and len(fired.job_ids) == 1 and fired.trigger == "schedule"
    done = settle_at("2026-12-01T14:57:03", settings, real_redis, "2026-12-01")
    assert done.state == "done" and done.outcome["lent"] == 100_000 and done.outcome["codes"] == ["131810.SZ"]  # 1.80% beats 1.75%
    assert len(done.outcome["order_ids"]) == 1
    tick_at("2026-12-01T14:58:00", loop)  # the next tick, and a restarted scheduler: no second sweep
    tick_at("2026-12-01T14:58:00", RoutineLoop(settings, real_redis, follow_outcomes=False))
    assert run_of(real_redis, "2026-12-01").job_ids == fired.job_ids
    assert real_redis.llen("rq:queue:order") == 0


def test_with_900_yuan_the_sweep_is_a_recorded_no_op(settings_for, real_redis):
    settings = settings_for(SIM_STARTING_CASH=900)
    tick_at("2026-12-01T14:57:01", RoutineLoop(settings, real_redis, follow_outcomes=False))
    settled = settle_at("2026-12-01T14:57:03", settings, real_redis, "2026-12-01")
    assert settled.state == "no_op" and "below the 1,000-yuan minimum" in settled.reason
    assert settled.outcome["lent"] == 0


@pytest.mark.parametrize(
    "moment",
    [
        "2026-10-01T14:57:30",  # National Day
        "2026-02-14T14:57:30",  # a make-up working Saturday: a working day, not a trading day
        "2026-11-28T14:57:30",  # an ordinary Saturday
    ],
)
def test_nothing_fires_on_a_closed_day(settings_for, real_redis, moment):
    tick_at(moment, RoutineLoop(settings_for(), real_redis, follow_outcomes=False))
    assert run_of(real_redis, moment[:10]) is None and real_redis.llen("rq:queue:order") == 0


def test_a_day_past_the_calendar_data_fires_nothing_and_warns_until_configuration_adds_it(settings_for, real_redis):
    tick_at("2027-01-04T14:57:30", RoutineLoop(settings_for(), real_redis, follow_outcomes=False))
    assert run_of(real_redis, "2027-01-04") is None and real_redis.llen("rq:queue:order") == 0
    status = real_redis.get(keys.CALENDAR_STATUS)
    assert b'"session": null' in status and b"ended on 2026-12-31" in status
    tick_at("2027-01-04T14:57:40", RoutineLoop(settings_for(CALENDAR_SESSIONS="2027-01-04"), real_redis, follow_outcomes=False))
    assert run_of(real_redis, "2027-01-04").state == "fired"


def test_the_calendar_warns_from_14_days_before_its_data_ends():
    calendar = load_calendar(make_settings())
    assert calendar.warning(at("2026-12-01T10:00").date()) is None  # 30 days left
    assert "ends on 2026-12-31 (13 days)" in calendar.warning(at("2026-12-18T10:00").date())


def test_a_scheduler_started_late_fires_once_within_the_grace_and_records_a_miss_after(settings_for, real_redis):
    settings = settings_for()
    tick_at("2026-12-02T14:58:00", RoutineLoop(settings, real_redis, follow_outcomes=False))  # started a minute late: fires, once
    late = run_of(real_redis, "2026-12-02")
    assert late.state == "fired" and late.trigger == "catch-up"
    tick_at("2026-12-02T14:58:30", RoutineLoop(settings, real_redis, follow_outcomes=False))
    assert run_of(real_redis, "2026-12-02").job_ids == late.job_ids

    tick_at("2026-12-03T15:10:00", RoutineLoop(settings, real_redis, follow_outcomes=False))  # 13 minutes late: past the 5-minute grace
    missed = run_of(real_redis, "2026-12-03")
    assert missed.state == "missed" and "grace" in missed.reason and missed.job_ids == []


def test_a_scheduler_that_died_between_its_record_and_its_jobs_queues_the_same_jobs_once(settings_for, real_redis):
    settings = settings_for(TRADER_CONFIGS=[{"account_id": "SIM000001"}, {"account_id": "SIM000002"}], ROUTINES=[{**NHG, "accounts": "all"}])
    loop = RoutineLoop(settings, real_redis, follow_outcomes=False)
    routine = settings.ROUTINES[0]
    with clock.travel_to(at("2026-12-01T14:57:01")):
        first = routine_runs.fire(loop.desk, routine, at("2026-12-01T14:57").date(), trigger="schedule")
    stale = first.model_copy(update={"state": "firing", "job_ids": [], "started_at": first.started_at - 120})
    routine_runs.write(real_redis, stale)  # as if the scheduler died after taking the day, before recording its jobs
    tick_at("2026-12-01T14:58:00", loop)
    again = run_of(real_redis, "2026-12-01")
    assert again.state == "fired" and sorted(again.job_ids) == sorted(first.job_ids)  # the same idempotent jobs, not new ones
    assert real_redis.llen("rq:queue:order") == 2


def test_an_allin_routine_buys_with_all_available_cash_at_the_latest_quote(settings_for, real_redis):
    allin = {"name": "etf-allin", "kind": "allin", "time": "10:00", "accounts": 0, "symbol": "510300", "price": "latest"}
    settings = settings_for(routines=[allin], SIM_STARTING_CASH=100_000)
    tick_at("2026-12-01T10:00:01", RoutineLoop(settings, real_redis, follow_outcomes=False))
    done = settle_at("2026-12-01T10:00:02", settings, real_redis, "2026-12-01", "etf-allin")
    # 100,000 yuan at 4.000 (the quote), leaving room for fees: 24,900 shares, as /trade/allin sizes it
    assert done.state == "done" and done.outcome["volume"] == 24_900 and done.outcome["bought"] == pytest.approx(99_600)


def test_run_now_is_once_a_day_unless_forced(settings_for, real_redis):
    from common.rules.exceptions import RoutineAlreadyRan

    loop = RoutineLoop(settings_for(), real_redis, follow_outcomes=False)
    with clock.travel_to(at("2026-12-01T10:00:00")):
        first = routine_runs.run_now(loop.desk, "nhg-daily", "user:admin")
        with pytest.raises(RoutineAlreadyRan):
            routine_runs.run_now(loop.desk, "nhg-daily", "user:admin")
        forced = routine_runs.run_now(loop.desk, "nhg-daily", "user:admin", force=True)
    assert first.trigger == "user:admin" and forced.forced and forced.job_ids != first.job_ids
