"""The config page's change history reads "who, when, field: from -> to": each config event keeps the risk limits'
values before the change, and for routines which routine was added, removed or changed and what."""

from __future__ import annotations

from common.store import events

API = "/qmt/trade/api"
NHG = {"name": "nhg-daily", "kind": "nhg", "time": "14:57", "accounts": 0}


def config_events(connection) -> list[events.ConfigEvent]:
    return [event for _, event in events.read(connection) if isinstance(event, events.ConfigEvent)]


def test_a_limit_change_records_the_value_before_it(admin, fake_redis):
    assert admin.put(f"{API}/risk", json={"max_order_notional": 50_000, "blocked_symbols": ["600000"]}).status_code == 200
    assert admin.put(f"{API}/risk", json={"max_order_notional": 0}).status_code == 200
    first, second = config_events(fake_redis)
    assert first.by == "user:admin" and first.change == {"max_order_notional": 50_000.0, "blocked_symbols": ["600000.SH"]}
    assert first.before == {"max_order_notional": 1_000_000.0, "blocked_symbols": []}
    assert second.before == {"max_order_notional": 50_000.0}


def test_a_routines_change_says_which_routine_was_added_changed_or_removed_and_what(admin, fake_redis):
    allin = {"name": "etf-allin", "kind": "allin", "time": "10:00", "accounts": 0, "symbol": "510300"}
    assert admin.put(f"{API}/routines", json={"routines": [NHG, allin]}).status_code == 200
    assert admin.put(f"{API}/routines", json={"routines": [{**NHG, "time": "14:50", "reserve_amount": 5000}]}).status_code == 200
    added, edited = config_events(fake_redis)
    assert [(c["name"], c["action"]) for c in added.routines] == [("nhg-daily", "added"), ("etf-allin", "added")]
    assert edited.routines == [
        {"name": "nhg-daily", "action": "changed", "fields": {"time": ["14:57:00", "14:50:00"], "reserve_amount": [0.0, 5000.0]}},
        {"name": "etf-allin", "action": "removed", "fields": {}},
    ]


def test_a_routine_shows_its_state_beside_the_fields_it_had(admin):
    assert admin.put(f"{API}/routines", json={"routines": [{**NHG, "enabled": False}]}).status_code == 200
    [listed] = admin.get(f"{API}/routines").get_json()["routines"]
    assert listed["state"]["kind"] == "skipped" and listed["state"]["reason"] == "disabled"
    assert {"next_fire", "today", "last", "name", "time"} <= set(listed)  # what older clients read is still there
