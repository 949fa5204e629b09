"""Trading days and the sessions within them, for Shanghai and Shenzhen: one answer for every part of the router.

The scheduler's routines, the simulator's day roll, T+1 and reverse-repo days and the status page
all ask here. A day's verdict comes from, in order:

1. configuration: CALENDAR_HOLIDAYS (never a session), CALENDAR_SESSIONS (always one);
2. QMT's own calendar, when the real worker has published it to Redis (xtdata.get_trading_calendar);
3. exchange_calendars' XSHG calendar (its data ends 2026-12-31 in release 4.13);
4. CALENDAR_WEEKDAYS_UNTIL: past the data, every weekday up to that date not in CALENDAR_HOLIDAYS
   (how a year's holidays are added by hand before a release carries them).

Past every source a day is unknown (None): routines do not fire on it. Saturdays and Sundays are
never sessions, make-up working Saturdays included (they are working days, not trading days).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

log = logging.getLogger("router.calendar")
WARN_DAYS_BEFORE_END = 14  # from then on, a warning each day that the data runs out
SEARCH_DAYS = 40  # the longest run of closed days looked through (Spring Festival with weekends is ~10)

# Sessions within a day (Shanghai time): continuous trading; repo lending runs until 15:30.
MORNING = (time(9, 30), time(11, 30))
AFTERNOON = (time(13, 0), time(15, 0))
REPO_AFTERNOON = (time(13, 0), time(15, 30))
NO_CANCEL = ((time(9, 20), time(9, 25)), (time(14, 57), time(15, 0)))  # end of the opening call auction; closing auction


@dataclass(frozen=True)
class Source:
    """Sessions a source knows, and the days it covers (first to last, inclusive)."""

    name: str
    sessions: frozenset[date]
    first: date
    last: date

    def knows(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class RepoDays:
    """A reverse-repo loan's days: principal back on `first_settlement`, interest on `maturity`."""

    first_settlement: date
    maturity: date

    @property
    def interest_days(self) -> int:
        """Calendar days of interest: maturity − first settlement."""
        return (self.maturity - self.first_settlement).days


@dataclass(frozen=True)
class TradingCalendar:
    sources: tuple[Source, ...]  # in priority order
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_sessions: frozenset[date] = field(default_factory=frozenset)

    def is_session(self, day: date) -> bool | None:
        """True on a trading day, False on a closed day, None when no source knows the day."""
        if day in self.holidays or day.weekday() >= 5:
            return False
        if day in self.extra_sessions:
            return True
        for source in self.sources:
            if source.knows(day):
                return day in source.sessions
        return None

    def source_of(self, day: date) -> str:
        """Which source decides `day` (for the status page)."""
        if day in self.holidays or day in self.extra_sessions:
            return "configuration"
        return next((s.name for s in self.sources if s.knows(day)), "none")

    def _verdict(self, day: date, weekdays_past_data: bool) -> bool | None:
        verdict = self.is_session(day)
        if verdict is None and weekdays_past_data:
            return day.weekday() < 5
        return verdict

    def next_session(self, day: date, *, weekdays_past_data: bool = False) -> date | None:
        """The first session after `day`; None when an unknown day comes first.

        `weekdays_past_data`: treat unknown weekdays as sessions (the simulator must keep going; routines must not).
        """
        return self._step(day, 1, weekdays_past_data)

    def previous_session(self, day: date, *, weekdays_past_data: bool = False) -> date | None:
        """The last session before `day`; None when an unknown day comes first."""
        return self._step(day, -1, weekdays_past_data)

    def _step(self, day: date, direction: int, weekdays_past_data: bool) -> date | None:
        for offset in range(1, SEARCH_DAYS + 1):
            candidate = day + timedelta(days=offset * direction)
            verdict = self._verdict(candidate, weekdays_past_data)
            if verdict is None:
                return None
            if verdict:
                return candidate
        return None

    def repo_days(self, trade_day: date, term_days: int = 1, *, weekdays_past_data: bool = False) -> RepoDays | None:
        """The exchanges' count for a loan made on `trade_day`: first settlement is the next session; maturity is
        first settlement + `term_days`, moved forward to a session. None when the calendar cannot say."""
        first = self.next_session(trade_day, weekdays_past_data=weekdays_past_data)
        if first is None:
            return None
        due = first + timedelta(days=term_days)
        verdict = self._verdict(due, weekdays_past_data)
        if verdict is None:
            return None
        maturity = due if verdict else self.next_session(due, weekdays_past_data=weekdays_past_data)
        return RepoDays(first, maturity) if maturity else None

    @property
    def data_ends(self) -> date | None:
        """The last day any source covers."""
        return max((s.last for s in self.sources), default=None)

    def warning(self, today: date) -> str | None:
        """What to tell the operator when the data ends within WARN_DAYS_BEFORE_END days (or already has)."""
        ends = self.data_ends
        if ends is None:
            return "no trading calendar data at all: routines will not fire; set CALENDAR_WEEKDAYS_UNTIL and CALENDAR_HOLIDAYS"
        left = (ends - today).days
        if left >= WARN_DAYS_BEFORE_END:
            return None
        when = f"ended on {ends.isoformat()}" if left < 0 else f"ends on {ends.isoformat()} ({left} days)"
        return (
            f"trading calendar data {when}: after it routines do not fire. Add the next year's exchange holidays to "
            "CALENDAR_HOLIDAYS and set CALENDAR_WEEKDAYS_UNTIL (or update exchange_calendars)"
        )


# -- sessions within a day ---------------------------------------------------------------------
def _within(moment: time, span: tuple[time, time]) -> bool:
    return span[0] <= moment < span[1]


def in_continuous_session(moment: datetime, *, repo: bool = False) -> bool:
    """True during continuous trading (9:30–11:30, 13:00–15:00; reverse repo until 15:30)."""
    clock = moment.timetz().replace(tzinfo=None)
    return _within(clock, MORNING) or _within(clock, REPO_AFTERNOON if repo else AFTERNOON)


def cancels_allowed(moment: datetime) -> bool:
    """False in the last minutes of the opening call auction and in the closing auction, when the exchanges refuse cancels."""
    clock = moment.timetz().replace(tzinfo=None)
    return not any(_within(clock, span) for span in NO_CANCEL)
