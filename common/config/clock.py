"""The router's one clock: the scheduler, the simulator, order deadlines and the calendar read the time here.

Tests move it: in a process with `travel_to(moment)`; across real processes with the setting
CLOCK_OFFSET_SECONDS (for tests and rehearsals only: every role of one deployment must share it),
which each role applies at start with `set_offset`.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_offset = 0.0  # seconds added to the machine's clock


def set_offset(seconds: float) -> None:
    """Shift this process's clock by `seconds` (CLOCK_OFFSET_SECONDS)."""
    global _offset
    _offset = float(seconds)


def time() -> float:
    """Unix seconds, as the router sees them."""
    return _time.time() + _offset


def sleep(seconds: float) -> None:
    """Wait `seconds` (the simulator's call and push times); tests replace it to count or skip the waits."""
    _time.sleep(seconds)


def now() -> datetime:
    """The router's time in Asia/Shanghai, where the exchanges keep theirs."""
    return datetime.fromtimestamp(time(), SHANGHAI)


def today() -> date:
    """The calendar day in Shanghai."""
    return now().date()


@contextmanager
def travel_to(moment: datetime) -> Iterator[None]:
    """Within the block the clock reads `moment` (a timezone-aware datetime) and runs on from there."""
    before = _offset
    set_offset(moment.timestamp() - _time.time())
    try:
        yield
    finally:
        set_offset(before)
