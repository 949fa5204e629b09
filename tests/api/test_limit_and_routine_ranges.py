"""A risk limit outside a range a trader could mean (or null), and a routine on an account that is not configured, are
refused with the field and the reason; nothing is stored."""

from __future__ import annotations

import pytest

from common.store import risk_state, routine_store

API = "/qmt/trade/api"


@pytest.mark.parametrize(
    "change",
    [
        {"max_order_notional": 1e308},
        {"max_order_notional": 1e11},
        {"max_actions_per_day": 2_000_000},
        {"max_actions_per_second": 20_000},
        {"max_order_notional": -1},
        {"max_order_notional": None},  # an emptied field: null once meant "no change" and the page said "saved"
        {"max_actions_per_day": None},
        {"max_actions_per_second": None},
        {"blocked_symbols": None},
        {"kill_switch": None},
    ],
)
def test_a_limit_beyond_a_sensible_range_is_refused_and_nothing_changes(admin, fake_redis, change):
    before = risk_state.load(fake_redis)
    answer = admin.put(f"{API}/risk", json=change)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == next(iter(change))
    assert risk_state.load(fake_redis) == before


def test_infinity_is_not_a_notional(admin, fake_redis):
    """1e400 is read as infinity by a JSON parser; it is refused, not stored as 'no cap'."""
    answer = admin.put(f"{API}/risk", data='{"max_order_notional": 1e400}', content_type="application/json")
    assert answer.status_code in (400, 422) and risk_state.load(fake_redis).max_order_notional == 1_000_000.0


def test_limits_inside_the_ranges_are_stored(admin, fake_redis):
    assert admin.put(f"{API}/risk", json={"max_order_notional": 1e10, "max_actions_per_second": 300}).status_code == 200
    assert (risk_state.load(fake_redis).max_order_notional, risk_state.load(fake_redis).max_actions_per_second) == (1e10, 300)


@pytest.mark.parametrize("accounts", [7, [0, 7], [2]])
def test_a_routine_on_an_account_not_configured_is_refused_naming_it(admin, fake_redis, accounts):
    routine = {"name": "nhg-daily", "kind": "nhg", "time": "14:57", "accounts": accounts}
    answer = admin.put(f"{API}/routines", json={"routines": [routine]})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == "accounts" and "not an enabled account" in answer.get_json()["error"]
    assert routine_store.current(fake_redis, []) == []
