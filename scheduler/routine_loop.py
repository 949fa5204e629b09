"""The scheduler's routine loop: every tick, the leader fires the routines that are due, once per trading day.

One scheduler process at a time leads (a lease in Redis, renewed each tick); the per-day run record
of common.desk.routine_runs makes firing exactly-once even if two ever lead at once. A routine is due
from its time on a trading day until its grace runs out; a scheduler that starts late fires it
once within the grace and records it as missed after. A routine saved or enabled after its time
(a scheduler was watching then: common.store.routine_store.watched) is not missed: it first runs
the next trading day. A routine due while the kill switch is on is recorded as skipped, never
fired into it. A day the calendar cannot judge fires nothing and says so loudly. The clock is
common.config.clock, so tests can move it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from datetime import date, datetime

import redis

from common.config import clock
from common.config.settings import Settings
from common.desk import routine_runs
from common.desk.routine_runs import RoutineRun
from common.desk.submission import Desk
from common.rules import routines
from common.rules.calendar import TradingCalendar
from common.rules.exceptions import RoutineAlreadyRan
from common.rules.loose_types import JsonObject, RedisReply
from common.store import calendar_store, continuity, events, keys, risk_state, routine_store
from common.store.continuity import Continuity
from common.store.scripts import fences

log = logging.getLogger("scheduler.routines")
LEASE_SECONDS = 10  # the leader renews every tick; a dead leader is replaced after this
SETTLE_SECONDS = 30.0  # how long a run's outcome is awaited before the record keeps just its job ids


class RoutineLoop:
    """What one scheduler process does each tick."""

    def __init__(self, settings: Settings, connection: redis.Redis, follow_outcomes: bool = True):
        """`follow_outcomes`: after firing, await the broker's verdict in a background thread (tests settle by hand)."""
        self.settings = settings
        self.follow_outcomes = follow_outcomes
        self.redis = connection
        self.desk = Desk(settings, connection)
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._calendar: tuple[date, TradingCalendar] | None = None
        self._unknown_logged: set[tuple[str, str]] = set()
        self.continuity = Continuity(connection, settings.VAR_DIR, "scheduler")
        self._halt_logged = ""
        self._followed: set[tuple[str, str, float]] = set()  # runs a thread of this process follows to their outcome

    def tick(self) -> None:
        """Lead if nobody else does, then fire what is due. Never raises: the next tick tries again."""
        try:
            if self.continuity.known is None:
                self.continuity.start()
            else:
                self.continuity.check()
            if not self.lead():
                return
            now = clock.now()
            trading = self.calendar(now.date())
            self.publish_calendar(now, trading)
            halted = continuity.halted_by_loss(self.redis)
            if halted:  # the routines' once-a-day records are gone with Redis's data: none fires until an admin confirms
                if halted != self._halt_logged:
                    log.error("routines do not fire: %s", halted)
                    self._halt_logged = halted
                return
            watched = routine_store.watched(self.redis, now.date())
            for routine in routine_store.current(self.redis, self.settings.ROUTINES):
                if routine.enabled:
                    self.consider(routine, trading, now, watched)
                self.follow(routine, now.date())
            if trading.is_session(now.date()):  # every routine considered on a day they can fire: a later one is not missed
                routine_store.watch(self.redis, now)
        except redis.RedisError as error:
            log.warning("routine tick skipped: Redis %s", error.__class__.__name__)
        except Exception:  # a routine's bad day must not stop the others tomorrow
            log.exception("routine tick failed")

    def lead(self) -> bool:
        """Take or renew the leader lease; True while this process holds it."""
        lease_ms = LEASE_SECONDS * 1000
        if self.redis.set(keys.SCHEDULER_LEADER, self.identity, nx=True, px=lease_ms):
            log.info("scheduler %s leads the routines", self.identity)
            return True
        return fences.extend(self.redis, keys.SCHEDULER_LEADER, self.identity, lease_ms)

    def leading(self) -> bool:
        """True while this process holds the lease (taken and renewed by `tick`)."""
        holder: RedisReply = self.redis.get(keys.SCHEDULER_LEADER)
        return holder is not None and (holder.decode() if isinstance(holder, bytes) else str(holder)) == self.identity

    def resign(self) -> None:
        """Give up the lease at a clean stop, so another scheduler leads at once instead of after LEASE_SECONDS."""
        try:
            fences.release(self.redis, keys.SCHEDULER_LEADER, self.identity)
        except redis.RedisError:
            pass  # it lapses by itself

    def calendar(self, today: date) -> TradingCalendar:
        """The trading calendar, rebuilt once a day (QMT may have published a newer one)."""
        if self._calendar is None or self._calendar[0] != today:
            self._calendar = (today, calendar_store.load(self.settings, self.redis))
        return self._calendar[1]

    def consider(
        self, routine: routines.NhgRoutine | routines.AllinRoutine, trading: TradingCalendar, now: datetime, watched: datetime | None = None
    ) -> None:
        """Fire, skip or mark the routine as its day's record, the calendar and `watched` (the last tick that considered
        every routine today, before this one) say."""
        day = now.date()
        existing = routine_runs.read(self.redis, routine.name, day.isoformat())
        if existing is not None:
            if existing.state == "firing" and clock.time() - existing.started_at > routine_runs.STALE_FIRING_SECONDS:
                log.warning("routine %s: a scheduler died while firing it; queuing the same jobs again", routine.name)
                self.after_fire(routine_runs.fire(self.desk, routine, day, trigger=existing.trigger, resume=existing), routine)
            return
        verdict = routine_runs.due(routine, trading, now, self.settings.ROUTINE_GRACE_SECONDS)
        if verdict in ("fire", "missed") and watched is not None and watched >= routines.fire_time(routine, day, now.tzinfo):
            return  # a tick at or after its time did not find it (saved or enabled since): it first runs the next trading day
        if verdict == "fire" and risk_state.load(self.redis).kill_switch:
            skipped = routine_runs.mark_skipped(self.redis, routine, day, routine_runs.KILL_SWITCH_REASON)
            if skipped is not None:
                self.announce(skipped)
        elif verdict == "fire":
            late = (now - datetime.combine(day, routine.time, now.tzinfo)).total_seconds() > 60
            try:
                run = routine_runs.fire(self.desk, routine, day, trigger="catch-up" if late else "schedule")
            except RoutineAlreadyRan:
                return  # another scheduler fired it a moment ago
            self.after_fire(run, routine)
        elif verdict == "missed":
            reason = f"no scheduler was running at {routine.time:%H:%M} nor within the {self.settings.ROUTINE_GRACE_SECONDS} s grace after"
            missed = routine_runs.mark_missed(self.redis, routine, day, reason)
            if missed is not None:
                self.announce(missed)
        elif verdict == "unknown" and (routine.name, day.isoformat()) not in self._unknown_logged:
            self._unknown_logged.add((routine.name, day.isoformat()))
            message = f"routine {routine.name} does not fire on {day}: the trading calendar has no data for it"
            log.warning(message)
            events.append(self.redis, events.CalendarEvent(message=message))

    def after_fire(self, run: RoutineRun, routine: routines.NhgRoutine | routines.AllinRoutine) -> None:
        """Say that it fired, then follow its jobs to the broker's verdict in the background and say how it ended."""
        self.announce(run)
        if run.state != "fired" or not self.follow_outcomes:
            return
        followed = (run.name, run.day, run.started_at)
        self._followed.add(followed)

        def settle() -> None:
            try:
                settled = routine_runs.settle(self.desk, run, routine, SETTLE_SECONDS)
            except Exception:  # the run record keeps its job ids; the status page shows them
                log.exception("routine %s: outcome not recorded", run.name)
                return
            finally:
                self._followed.discard(followed)
            if settled.state != "fired":
                self.announce(settled)

        threading.Thread(target=settle, name=f"routine-{run.name}", daemon=True).start()

    def follow(self, routine: routines.NhgRoutine | routines.AllinRoutine, day: date) -> None:
        """Record the outcome of today's runs no thread of this process follows, once their jobs ended: an admin's
        "run now" (forced or not), or a run whose scheduler died before its outcome came. Never waits."""
        if not self.follow_outcomes:
            return
        today = routine_runs.read(self.redis, routine.name, day.isoformat())
        for run in [today, *routine_runs.forced_runs(self.redis, routine.name, day.isoformat())]:
            if run is None or run.state != "fired" or (run.name, run.day, run.started_at) in self._followed:
                continue
            settled = routine_runs.settle(self.desk, run, routine, 0)
            if settled.state != "fired":
                self.announce(settled)

    def announce(self, run: RoutineRun) -> None:
        log.info("routine %s on %s: %s %s %s", run.name, run.day, run.state, run.job_ids or "", run.reason)
        events.append(
            self.redis,
            events.RoutineEvent(
                name=run.name, day=run.day, state=run.state, trigger=run.trigger, reason=run.reason, job_ids=run.job_ids, outcome=run.outcome
            ),
        )

    def publish_calendar(self, now: datetime, trading: TradingCalendar) -> None:
        """Today's verdict and the data's end for /health and the status page; the data-end warning once a day."""
        warning = trading.warning(now.date())
        status: JsonObject = {
            "today": now.date().isoformat(),
            "session": trading.is_session(now.date()),
            "source": trading.source_of(now.date()),
            "data_ends": trading.data_ends.isoformat() if trading.data_ends else None,
            "warning": warning,
            "updated_at": clock.time(),
        }
        self.redis.set(keys.CALENDAR_STATUS, json.dumps(status), ex=3600)
        if warning and self.redis.set(keys.calendar_warned(now.date().isoformat()), "1", nx=True, ex=2 * 86_400):
            log.warning(warning)
            events.append(self.redis, events.CalendarEvent(message=warning, data_ends=status["data_ends"]))
