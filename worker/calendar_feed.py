"""QMT's own trading calendar, published to Redis for every role (common.rules.calendar reads it first).

Only the real terminal has it (xtdata.get_trading_calendar: past sessions, and future ones computed
from the holidays QMT has downloaded, up to the end of the last year it has holidays for).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import redis

from common.config import clock
from common.store import calendar_store
from worker.xtquant_sdk import XtData

log = logging.getLogger("worker.calendar")
HISTORY_DAYS = 30  # enough past sessions for T+1 and the previous close


def publish(connection: redis.Redis, xtdata: XtData) -> bool:
    """Ask QMT for its trading days and keep them in Redis; False (logged) when QMT cannot say."""
    start = clock.today() - timedelta(days=HISTORY_DAYS)
    try:
        days = xtdata.get_trading_calendar("SH", start.strftime("%Y%m%d"))
    except Exception as error:  # noqa: BLE001 - xtdata raises when its data service is down or has no holiday data, with no documented type
        log.warning("QMT's trading calendar is not available (%s); the scheduler uses exchange_calendars", error)
        return False
    sessions = [date(int(d[:4]), int(d[4:6]), int(d[6:8])) for d in days]
    if not sessions:
        return False
    last = date(max(sessions).year, 12, 31)  # QMT computes future sessions to the end of its last holiday year
    calendar_store.publish_qmt(connection, sessions, start, last)
    log.info("published QMT's trading calendar: %d sessions, %s to %s", len(sessions), start, last)
    return True
