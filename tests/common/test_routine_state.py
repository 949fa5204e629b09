"""What a routine shows (common.desk.routine_runs.routine_state): exactly one of next run, ran, skipped with why, or
missed, decided from its day's record, forced runs, the calendar, the scheduler's watch and the kill switch."""

from __future__ import annotations

from datetime import datetime

import pytest

from common.config.clock import SHANGHAI
from common.desk.routine_runs import RoutineRun, routine_state
from common.rules.routines import NhgRoutine
from common.store.calendar_store import load as load_calendar
from tests.support import make_settings

CALENDAR = load_calendar(make_settings())
NHG = NhgRoutine(name="nhg-daily", time="14:57", accounts=0)
DAY = "2026-12-01"  # a Tuesday


def at(clock: str, day: str = DAY) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)


def run(state: str, clock: str = "14:57:01", **fields) -> RoutineRun:
    return RoutineRun(name="nhg-daily", day=DAY, state=state, trigger="schedule", started_at=at(clock).timestamp(), **fields)


def state(now: str, *, routine=NHG, day_run=None, forced=(), watched: str | None = None, kill_switch=False, day=DAY):
    return routine_state(
        routine,
        now=at(now, day),
        calendar=CALENDAR,
        day_run=day_run,
        forced=forced,
        watched=at(watched, day) if watched else None,
        kill_switch=kill_switch,
    )


def test_before_its_time_on_a_trading_day_it_runs_today():
    shown = state("10:00", watched="09:59:59")
    assert (shown.kind, shown.at, shown.reason) == ("next", at("14:57"), "")


def test_with_the_kill_switch_on_before_its_time_it_says_it_will_be_skipped():
    assert state("10:00", kill_switch=True).reason == "kill_switch"


@pytest.mark.parametrize(
    ("record", "outcome"), [("firing", "running"), ("fired", "running"), ("done", "done"), ("no_op", "no_op"), ("failed", "failed")]
)
def test_a_run_today_shows_when_it_began_its_outcome_and_jobs(record, outcome):
    shown = state("15:00", day_run=run(record, job_ids=["j1"], reason="why", outcome={"lent": 100_000.0}), watched="14:59:59")
    assert (shown.kind, shown.at, shown.outcome, shown.job_ids, shown.why, shown.amounts) == (
        "ran", at("14:57:01"), outcome, ["j1"], "why", {"lent": 100_000.0}
    )  # fmt: skip


def test_a_forced_run_shows_as_ran_even_beside_a_missed_or_skipped_day_record():
    forced = run("done", "15:30", forced=True, job_ids=["f1"])
    for record in ("missed", "skipped"):
        shown = state("15:31", day_run=run(record, "15:02"), forced=[forced], watched="15:30:59")
        assert (shown.kind, shown.forced, shown.job_ids, shown.at) == ("ran", True, ["f1"], at("15:30"))


def test_the_latest_of_the_days_runs_is_shown():
    shown = state("15:31", day_run=run("done", job_ids=["d1"]), forced=[run("fired", "15:30", forced=True, job_ids=["f1"])])
    assert (shown.outcome, shown.job_ids) == ("running", ["f1"])


def test_a_skip_for_the_kill_switch_is_shown_with_why():
    shown = state("15:00", day_run=run("skipped", "14:57:01", reason="the kill switch was on at its time"), watched="14:59")
    assert (shown.kind, shown.reason, shown.at) == ("skipped", "kill_switch", at("14:57:01"))


def test_a_recorded_miss_names_its_time():
    shown = state("15:10", day_run=run("missed", "15:10"))
    assert (shown.kind, shown.reason, shown.at) == ("missed", "scheduler_down", at("14:57"))


def test_a_disabled_routine_is_skipped_never_missed():
    shown = state("15:10", routine=NHG.model_copy(update={"enabled": False}))
    assert (shown.kind, shown.reason) == ("skipped", "disabled")


@pytest.mark.parametrize(("day", "why"), [("2026-11-28", "weekend"), ("2026-10-01", "holiday"), ("2026-02-14", "weekend")])
def test_a_closed_day_is_skipped_saying_why(day, why):
    shown = state("10:00", day=day)
    assert (shown.kind, shown.reason) == ("skipped", why)


def test_a_day_the_calendar_does_not_know_is_skipped_saying_so():
    assert state("10:00", day="2027-01-04").reason == "calendar_unknown"


def test_just_after_its_time_with_no_record_yet_it_is_still_due():
    shown = state("14:57:05", watched="14:56:59")
    assert (shown.kind, shown.at) == ("next", at("14:57"))


def test_past_its_time_with_no_scheduler_watching_since_it_is_missed():
    for watched in (None, "14:50"):
        shown = state("15:00", watched=watched)
        assert (shown.kind, shown.at, shown.reason) == ("missed", at("14:57"), "scheduler_down")


def test_saved_or_enabled_after_its_time_it_first_runs_the_next_trading_day():
    shown = state("15:00", watched="14:59:59")
    assert (shown.kind, shown.at, shown.reason) == ("next", at("14:57", "2026-12-02"), "saved_after_time")
    friday = state("15:00", watched="14:59:59", day="2026-12-04")
    assert friday.at == at("14:57", "2026-12-07")  # over the weekend
