"""Where the trading calendar's data comes from: configuration, QMT's calendar in Redis, exchange_calendars' XSHG,
and CALENDAR_WEEKDAYS_UNTIL past them (the facts and the answers are common.rules.calendar)."""

from __future__ import annotations

import json
import warnings
from datetime import date, timedelta

import redis

from common.config.settings import Settings
from common.rules.calendar import Source, TradingCalendar
from common.rules.loose_types import RedisReply
from common.store import keys

_xshg: Source | None = None


def _exchange_calendars() -> Source | None:
    """XSHG from exchange_calendars, loaded once per process (about a second: it imports pandas)."""
    global _xshg
    if _xshg is None:
        try:
            import exchange_calendars
        except ImportError:
            return None
        with warnings.catch_warnings():
            # exchange_calendars 4.13 trips a pandas 3.1 deprecation inside its own code; nothing the router can change
            warnings.simplefilter("ignore")
            calendar = exchange_calendars.get_calendar("XSHG")
            sessions = frozenset(day.date() for day in calendar.sessions)
        _xshg = Source("exchange_calendars XSHG", sessions, min(sessions), max(sessions))
    return _xshg


def _published_by_qmt(connection: redis.Redis | None) -> Source | None:
    if connection is None:
        return None
    try:
        raw: RedisReply = connection.get(keys.CALENDAR_QMT)
    except redis.RedisError:
        return None
    if not raw:
        return None
    published = json.loads(raw)
    sessions = frozenset(date.fromisoformat(d) for d in published["sessions"])
    return Source("QMT", sessions, date.fromisoformat(published["first"]), date.fromisoformat(published["last"]))


def _weekdays(after: date | None, until: date | None) -> Source | None:
    if until is None:
        return None
    first = (after + timedelta(days=1)) if after else date(until.year, 1, 1)
    if first > until:
        return None
    days = frozenset(first + timedelta(days=n) for n in range((until - first).days + 1))
    return Source("CALENDAR_WEEKDAYS_UNTIL", frozenset(d for d in days if d.weekday() < 5), first, until)


def load(settings: Settings, connection: redis.Redis | None = None) -> TradingCalendar:
    """The calendar from every source this process can reach (`settings`: CALENDAR_* keys)."""
    sources = [s for s in (_published_by_qmt(connection), _exchange_calendars()) if s is not None]
    data_end = max((s.last for s in sources), default=None)
    weekdays = _weekdays(data_end, settings.CALENDAR_WEEKDAYS_UNTIL)
    if weekdays is not None:
        sources.append(weekdays)
    return TradingCalendar(tuple(sources), frozenset(settings.CALENDAR_HOLIDAYS), frozenset(settings.CALENDAR_SESSIONS))


def default() -> TradingCalendar:
    """exchange_calendars' data alone (no configuration, no QMT): for a simulator built without settings."""
    return TradingCalendar(tuple(s for s in (_exchange_calendars(),) if s is not None))


def publish_qmt(connection: redis.Redis, sessions: list[date], first: date, last: date) -> None:
    """Keep QMT's own trading days (first to last) in Redis, where every role's calendar finds them first."""
    body = {"sessions": sorted(d.isoformat() for d in sessions), "first": first.isoformat(), "last": last.isoformat()}
    connection.set(keys.CALENDAR_QMT, json.dumps(body))
