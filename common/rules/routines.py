"""Scheduled routines: what they are (pydantic models) and when they fire next (kept in Redis by common.store.routine_store).

Two kinds: the `nhg` sweep lends idle cash minus a reserve in 1-day reverse repo; `allin` buys a
symbol with all available cash. Each has a stable name, a time of day (Shanghai) and accounts.
They are seeded from the ROUTINES setting while Redis holds none; after that Redis, as admins
edited it, wins. Firing them is common.desk.routine_runs' job.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from datetime import time as TimeOfDay
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from common.rules.calendar import AFTERNOON, MORNING, REPO_AFTERNOON, TradingCalendar
from common.rules.exceptions import InvalidRoutine, InvalidSymbol
from common.rules.loose_types import Json, JsonObject
from common.rules.orders import REPO_CODES, repo_codes
from common.rules.symbols import normalize

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
Accounts = int | list[int] | Literal["all"]


class _Routine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="stable id: lowercase letters, digits, '_' and '-'")
    enabled: bool = True
    time: TimeOfDay = Field(description="Shanghai time of day, HH:MM")
    accounts: Accounts = Field(default="all", description="one trader_index, a list, or all enabled accounts")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"routine name {value!r} must be 1-40 lowercase letters, digits, '_' or '-', starting with a letter or digit")
        return value

    @field_validator("time")
    @classmethod
    def _time(cls, value: TimeOfDay) -> TimeOfDay:
        if value.tzinfo is not None:
            raise ValueError("time is a Shanghai time of day, HH:MM, with no time zone or offset (leave out the Z or +08:00)")
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: Accounts) -> Accounts:
        indexes = [value] if isinstance(value, int) else value if isinstance(value, list) else []
        if any(index < 0 for index in indexes) or (isinstance(value, list) and not value):
            raise ValueError("accounts is a trader_index (0 or more), a non-empty list of them, or 'all'")
        return value

    def sessions(self) -> tuple[tuple[TimeOfDay, TimeOfDay], ...]:
        """The spans of the day in which this routine's order can trade."""
        return (MORNING, AFTERNOON)

    @model_validator(mode="after")
    def _in_session(self) -> _Routine:
        if not any(start <= self.time < end for start, end in self.sessions()):
            spans = ", ".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in self.sessions())
            raise ValueError(f"routine {self.name!r} at {self.time:%H:%M} is outside the session its order needs ({spans})")
        return self

    def indexes(self, enabled_accounts: int) -> list[int]:
        """The trader_indexes this routine acts on, among `enabled_accounts` accounts."""
        if self.accounts == "all":
            return list(range(enabled_accounts))
        return [self.accounts] if isinstance(self.accounts, int) else list(self.accounts)


class NhgRoutine(_Routine):
    """Lend idle cash minus `reserve_amount` (yuan) in 1-day reverse repo, at the better-quoted of `repo_codes`."""

    kind: Literal["nhg"] = "nhg"
    time: TimeOfDay = Field(default=TimeOfDay(14, 57), description="Shanghai time of day, HH:MM")
    reserve_amount: float = Field(default=0.0, ge=0, description="yuan never lent")
    repo_codes: list[str] = Field(default_factory=lambda: list(REPO_CODES), min_length=1)

    @field_validator("repo_codes")
    @classmethod
    def _repo(cls, codes: list[str]) -> list[str]:
        try:
            return repo_codes(codes)
        except InvalidSymbol as wrong:
            raise ValueError(wrong.message) from None

    def sessions(self) -> tuple[tuple[TimeOfDay, TimeOfDay], ...]:
        return (MORNING, REPO_AFTERNOON)


class AllinRoutine(_Routine):
    """Buy `symbol` with all available cash, at `price` yuan or the latest quote; sized in the worker."""

    kind: Literal["allin"] = "allin"
    symbol: str
    price: float | Literal["latest"] = "latest"

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        return normalize(value)

    @field_validator("price")
    @classmethod
    def _price(cls, value: float | str) -> float | str:
        if not isinstance(value, str) and not 0 < value < 1_000_000:
            raise ValueError("price is 'latest' or a price in yuan above 0")
        return value


Routine = Annotated[NhgRoutine | AllinRoutine, Field(discriminator="kind")]
ROUTINE_LIST: TypeAdapter[list[Routine]] = TypeAdapter(list[Routine])


def validate(raw: Json) -> list[NhgRoutine | AllinRoutine]:
    """Routines from JSON-like data; names must be unique. Raises pydantic's ValidationError or InvalidRoutine."""
    routines = ROUTINE_LIST.validate_python(raw)
    names = [r.name for r in routines]
    if len(set(names)) != len(names):
        raise InvalidRoutine(f"routine names must be unique: {sorted({n for n in names if names.count(n) > 1})}", "routines")
    return routines


def find(routines: list[NhgRoutine | AllinRoutine], name: str) -> NhgRoutine | AllinRoutine | None:
    return next((r for r in routines if r.name == name), None)


def fire_time(routine: _Routine, day: date, tz: tzinfo | None) -> datetime:
    """When `routine` is due on `day`."""
    return datetime.combine(day, routine.time, tz)


def next_fire(routine: _Routine, calendar: TradingCalendar, now: datetime, fired_today: bool) -> datetime | None:
    """The next moment the routine is due on a known session; None when disabled or the calendar runs out first."""
    if not routine.enabled:
        return None
    day = now.date()
    if fired_today or now >= fire_time(routine, day, now.tzinfo) or calendar.is_session(day) is not True:
        following = calendar.next_session(day)
        if following is None:
            return None
        day = following
    return fire_time(routine, day, now.tzinfo)


def differences(before: list[NhgRoutine | AllinRoutine], after: list[NhgRoutine | AllinRoutine]) -> list[JsonObject]:
    """What a replacement of the routines changed, one entry per routine touched, by name:
    {name, action: added | removed | changed, fields: {field: [from, to]}} (values as JSON: times "HH:MM:SS")."""
    old = {r.name: r.model_dump(mode="json") for r in before}
    new = {r.name: r.model_dump(mode="json") for r in after}
    found: list[JsonObject] = []
    for name, routine in new.items():
        if name not in old:
            found.append({"name": name, "action": "added", "fields": {}})
            continue
        fields = {key: [old[name].get(key), value] for key, value in routine.items() if old[name].get(key) != value}
        fields.update({key: [value, None] for key, value in old[name].items() if key not in routine})
        if fields:
            found.append({"name": name, "action": "changed", "fields": fields})
    found += [{"name": name, "action": "removed", "fields": {}} for name in old if name not in new]
    return found
