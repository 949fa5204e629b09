"""QMT's trading calendar reaches Redis and wins over exchange_calendars, including past its data's end."""

from __future__ import annotations

from datetime import date

from common.config import clock
from common.config.clock import SHANGHAI
from common.store import calendar_store
from tests.support import make_settings
from worker import calendar_feed


class FakeXtdata:
    """xtdata.get_trading_calendar as QMT answers it: 'YYYYMMDD' strings, future days from its holiday data."""

    def __init__(self, days: list[str] | Exception):
        self.days = days
        self.asked: list[tuple] = []

    def get_trading_calendar(self, market, start_time="", end_time=""):
        self.asked.append((market, start_time, end_time))
        if isinstance(self.days, Exception):
            raise self.days
        return self.days


def test_qmt_calendar_is_published_and_read_first(fake_redis):
    from datetime import datetime

    qmt_2027 = FakeXtdata(["20261230", "20261231", "20270104", "20270105"])  # 2027-01-01 a holiday in QMT's data
    with clock.travel_to(datetime(2026, 12, 30, 9, 0, tzinfo=SHANGHAI)):
        assert calendar_feed.publish(fake_redis, qmt_2027)
    assert qmt_2027.asked == [("SH", "20261130", "")]
    trading = calendar_store.load(make_settings(), fake_redis)
    assert trading.is_session(date(2027, 1, 4)) is True and trading.source_of(date(2027, 1, 4)) == "QMT"
    assert trading.is_session(date(2027, 1, 6)) is False  # QMT covers 2027 and has no session that day
    assert trading.data_ends == date(2027, 12, 31)


def test_a_terminal_without_calendar_data_leaves_exchange_calendars_in_charge(fake_redis):
    assert not calendar_feed.publish(fake_redis, FakeXtdata(RuntimeError("交易日列表为空")))
    assert calendar_store.load(make_settings(), fake_redis).source_of(date(2026, 12, 1)) == "exchange_calendars XSHG"
