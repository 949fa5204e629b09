"""The routes the status and config pages read: the latest jobs, the last events of some kinds, the kill switch's state;
changes to the routines recorded as config events; and the one waiting allowance every logged-in page shares."""

from __future__ import annotations

import time

import pytest

from api import create_app
from common.desk.callers import WEB_USERS, Caller
from common.store import events
from tests.support import make_settings, signed_headers

API = "/qmt/trade/api"
BUY = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}


@pytest.fixture
def app(fake_redis):
    return create_app(
        make_settings(
            ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw", API_CLIENTS=[{"client_id": "other", "secret": "other-secret-0123456789"}]
        ),
        fake_redis,
    )


def logged_in(app, user: str):
    client = app.test_client()
    assert client.post("/login", json={"username": user, "password": f"{user}-pw"}).status_code == 200
    return client


def signed(client, method: str, path: str, body=None, **kwargs):
    path = API + path
    query = path.partition("?")[2]
    headers = signed_headers(method, path.partition("?")[0], body, query=query, **kwargs)
    return client.open(path, method=method, json=body, headers=headers)


def test_the_latest_jobs_newest_first_each_caller_its_own(app, fake_redis):
    client = app.test_client()
    first = signed(client, "POST", "/buy", BUY).get_json()["job_id"]
    second = signed(client, "POST", "/sell", {**BUY, "symbol": "000001", "price": 11.0}).get_json()["job_id"]
    other = signed(client, "POST", "/buy", {**BUY, "strategy_name": "x"}, client_id="other", secret="other-secret-0123456789").get_json()["job_id"]
    mine = signed(client, "GET", "/jobs?limit=5").get_json()["jobs"]
    assert [j["job_id"] for j in mine] == [second, first]
    assert (mine[0]["kind"], mine[0]["side"], mine[0]["symbol"], mine[0]["volume"], mine[0]["status"]) == (
        "order",
        "sell",
        "000001.SZ",
        100,
        "queued",
    )
    seen_by_user = logged_in(app, "trader").get("/qmt/trade/api/jobs?limit=2").get_json()["jobs"]
    assert [j["job_id"] for j in seen_by_user] == [other, second]
    assert signed(client, "GET", "/jobs?limit=0").status_code == 400
    assert signed(client, "GET", "/jobs?limit=x").status_code == 400


def test_the_last_events_of_some_kinds_and_the_cursor_to_follow_on(app, fake_redis):
    for n in range(5):
        events.append(fake_redis, events.ConfigEvent(what="risk_limits", by="user:admin", change={"n": n}))
        events.append(fake_redis, events.WorkerEvent(state="up"))
    client = logged_in(app, "admin")
    answer = client.get("/qmt/trade/api/events?last=3&kind=config,kill_switch").get_json()
    assert [e["change"]["n"] for e in answer["events"]] == [2, 3, 4]  # oldest first
    newest = client.get("/qmt/trade/api/events?last=1").get_json()
    assert newest["events"][0]["kind"] == "worker" and answer["next"] == newest["next"]  # followed on from the newest of all
    assert client.get(f"/qmt/trade/api/events?after={answer['next']}").get_json()["events"] == []
    assert client.get("/qmt/trade/api/events?last=0").status_code == 400


def test_anyone_who_may_query_sees_the_kill_switch(app):
    client = app.test_client()
    assert signed(client, "GET", "/risk/kill_switch").get_json() == {"success": True, "on": False}
    trader = logged_in(app, "trader")
    assert trader.get("/qmt/trade/api/risk").status_code == 403  # the limits stay the admins'
    assert trader.post("/qmt/trade/api/risk/kill_switch", json={"on": True}).status_code == 200
    assert trader.get("/qmt/trade/api/risk/kill_switch").get_json()["on"] is True


def test_a_change_of_routines_is_a_config_event_naming_who(app, fake_redis):
    admin = logged_in(app, "admin")
    routine = {"name": "nhg-daily", "kind": "nhg", "time": "14:57", "enabled": False}
    assert admin.put("/qmt/trade/api/routines", json={"routines": [routine]}).status_code == 200
    [(_, change)] = events.read(fake_redis)
    assert (change.kind, change.what, change.by) == ("config", "routines", "user:admin")
    assert change.change["routines"][0]["name"] == "nhg-daily"
    assert admin.put("/qmt/trade/api/routines", json={"routines": [{**routine, "time": "16:00"}]}).status_code == 422
    assert len(events.read(fake_redis)) == 1  # a refused change records nothing


@pytest.mark.parametrize("time", ["14:57Z", "14:57:00+08:00", "06:57:00.5Z"])
def test_a_routine_time_with_a_zone_or_offset_is_refused_saying_so(app, time):
    """The fuzzer's find: a time with an offset could not be compared with the session's times (500)."""
    answer = logged_in(app, "admin").put("/qmt/trade/api/routines", json={"routines": [{"name": "nhg-daily", "kind": "nhg", "time": time}]})
    assert answer.status_code == 422, answer.get_json()
    assert "no time zone or offset" in answer.get_data(as_text=True)


def test_every_logged_in_page_shares_one_waiting_allowance():
    assert Caller("user:admin", ()).waiting_key == Caller("user:trader", ()).waiting_key == WEB_USERS
    assert Caller("qmt-client", ()).waiting_key == "qmt-client"


def test_pages_past_their_allowance_answer_at_once_and_leave_the_signed_clients_theirs(fake_redis):
    app = create_app(make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw", WAIT_SLOTS=3, WAIT_SLOTS_PER_CLIENT=1), fake_redis)
    desk = app.extensions["router"].desk
    with desk.waiting.slot(WEB_USERS) as granted:  # one page already waits on the event stream
        assert granted
        started = time.monotonic()
        answer = logged_in(app, "admin").get("/qmt/trade/api/events?after=0-0&wait=20")
        # another user's page: the same allowance, spent, so it answers at once instead of holding its 20 s
        assert answer.status_code == 200 and time.monotonic() - started < 10
        started = time.monotonic()
        signed(app.test_client(), "GET", "/events?after=0-0&wait=0.5")
        assert time.monotonic() - started >= 0.5  # a signing client still has its own
