"""GET /qmt/trade/api/events?job=<id> and ?account=<index>: one job's story, read from its acceptance, and one account's
events; a job the caller may not see is 404 there as at GET /jobs/<id>, and a value that cannot be right is 400."""

from __future__ import annotations

import time

import pytest

from api import create_app
from common.store import events, keys
from common.store.payloads import idempotent_job_id
from tests.support import CLIENT_ID, make_settings, signed_headers

API = "/qmt/trade/api"
BUY = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}
TRADING = ["trade", "cancel", "query"]
OTHER = {"client_id": "other", "secret": "other-secret-0123456789", "scopes": TRADING}
FIRST_ONLY = {"client_id": "first-only", "secret": "first-only-secret-0123456789", "scopes": TRADING, "accounts": [0]}


@pytest.fixture
def app(fake_redis):
    return create_app(make_settings(TRADER_PASSWORD="trader-pw", API_CLIENTS=[OTHER, FIRST_ONLY]), fake_redis)


def signed(client, path: str, **kwargs):
    path = API + path
    query = path.partition("?")[2]
    return client.get(path, headers=signed_headers("GET", path.partition("?")[0], query=query, **kwargs))


def order_event(job_id: str, account_id: str, status: int, name: str, client_id: str = "test-client", **fields) -> events.OrderEvent:
    return events.OrderEvent(
        job_id=job_id, client_id=client_id, account_id=account_id, order_id=7, symbol="600000.SH", side="buy", order_type=23, volume=100,
        price=10.0, price_type=11, order_status=status, status=name, order_remark=job_id, **fields,
    )  # fmt: skip


def test_a_jobs_story_is_its_stages_its_orders_states_and_fills_read_from_its_acceptance(app, fake_redis):
    client = app.test_client()
    job_id = idempotent_job_id("order", CLIENT_ID, "story", 0)
    # an entry an hour before the job was accepted is never read for it: its story is read from its acceptance
    early = events.fields(events.JobEvent(stage="sent", job_id=job_id, client_id=CLIENT_ID, account_id="SIM000001"))
    fake_redis.xadd(keys.EVENTS_STREAM, early, id=f"{int(time.time() * 1000) - 3_600_000}-0")
    headers = {**signed_headers("POST", f"{API}/buy", BUY), "Idempotency-Key": "story"}
    assert client.post(f"{API}/buy", json=BUY, headers=headers).get_json()["job_id"] == job_id
    another = {**BUY, "strategy_name": "another"}  # another body: the same one signed in the same second is a replay
    other_job = client.post(f"{API}/buy", json=another, headers=signed_headers("POST", f"{API}/buy", another)).get_json()["job_id"]
    events.append(fake_redis, events.JobEvent(stage="sent", job_id=job_id, client_id="test-client", account_id="SIM000001", order_id=7))
    events.append(fake_redis, order_event(other_job, "SIM000001", 50, "reported"))
    events.append(fake_redis, order_event(job_id, "SIM000001", 50, "reported"))
    events.append(fake_redis, events.WorkerEvent(state="up"))
    events.append(fake_redis, order_event(job_id, "SIM000002", 57, "rejected"))  # its tag on another account's order: not its story
    fills = {"traded_volume": 100, "traded_price": 10.0}
    events.append(fake_redis, events.TradeEvent(job_id=job_id, client_id="test-client", account_id="SIM000001", order_id=7, symbol="600000.SH",
                                                side="buy", **fills))  # fmt: skip
    events.append(fake_redis, order_event(job_id, "SIM000001", 56, "filled", **fills))

    answer = signed(client, f"/events?job={job_id}").get_json()
    story = [(e["kind"], e.get("stage") or e.get("status") or "") for e in answer["events"]]
    assert story == [("job", "accepted"), ("job", "sent"), ("order", "reported"), ("trade", ""), ("order", "filled")]
    assert {e["account_id"] for e in answer["events"]} == {"SIM***001"}  # masked, as every event leaving the machine
    assert signed(client, f"/events?job={job_id}&after={answer['next']}").get_json()["events"] == []
    events.append(fake_redis, order_event(job_id, "SIM000001", 56, "filled", **fills))
    later = signed(client, f"/events?job={job_id}&after={answer['next']}&wait=1").get_json()
    assert [e["status"] for e in later["events"]] == ["filled"]
    two = signed(client, f"/events?job={job_id}&limit=2").get_json()  # a short page: read on from its last event
    assert [e["kind"] for e in two["events"]] == ["job", "job"]
    rest = signed(client, f"/events?job={job_id}&after={two['next']}").get_json()
    assert [e["kind"] for e in rest["events"]] == ["order", "trade", "order", "order"]

    seen_by_page = app.test_client()  # a logged-in user sees every job's story
    assert seen_by_page.post("/login", json={"username": "trader", "password": "trader-pw"}).status_code == 200
    assert len(seen_by_page.get(f"{API}/events?job={job_id}").get_json()["events"]) == 6
    assert [e["kind"] for e in seen_by_page.get(f"{API}/events?job={job_id}&kind=trade").get_json()["events"]] == ["trade"]


def test_another_clients_job_is_404_and_values_that_cannot_be_right_are_400(app):
    client = app.test_client()
    job_id = client.post(f"{API}/buy", json=BUY, headers=signed_headers("POST", f"{API}/buy", BUY)).get_json()["job_id"]
    foreign = signed(client, f"/events?job={job_id}", client_id=OTHER["client_id"], secret=OTHER["secret"])
    assert foreign.status_code == 404 and foreign.get_json()["error"] == f"no job {job_id}"  # as GET /jobs/<id> answers it
    assert signed(client, "/events?job=o0000000000000000").status_code == 404
    for query, field, words in (
        ("job=o%20x", "job", "job id"),
        (f"job={job_id}&last=5", "last", "after="),
        (f"job={job_id}&limit=0", "limit", "between 1 and 1000"),
        (f"job={job_id}&wait=31", "wait", "between 0 and 30"),
        ("account=x", "account", "trader_index from 0 to 1"),
        ("account=2", "account", "trader_index from 0 to 1"),
        ("account=-1", "account", "trader_index"),
        ("account=%C2%B2", "account", "trader_index"),  # "²" is a digit to str.isdigit, not to int()
    ):
        answer = signed(client, f"/events?{query}")
        assert answer.status_code == 400 and answer.get_json()["field"] == field and words in answer.get_json()["error"], (query, answer.get_json())
    limited = signed(client, "/events?account=1", client_id=FIRST_ONLY["client_id"], secret=FIRST_ONLY["secret"])
    assert limited.status_code == 403 and "may not use trader_index 1" in limited.get_json()["error"]
    assert app.test_client().get(f"{API}/events?job={job_id}").status_code == 401


def test_one_accounts_events_the_last_few_and_followed_on(app, fake_redis):
    client = app.test_client()
    for n, index in enumerate((0, 1, 0)):
        body = {**BUY, "trader_index": index, "strategy_name": f"s{n}"}
        assert client.post(f"{API}/buy", json=body, headers=signed_headers("POST", f"{API}/buy", body)).status_code == 202
    events.append(fake_redis, events.WorkerEvent(state="up"))  # the system's: of no account
    second = signed(client, "/events?last=10&account=1").get_json()
    assert [(e["kind"], e["account_index"], e["account_id"]) for e in second["events"]] == [("job", 1, "SIM***002")]
    first = signed(client, "/events?account=0&kind=job").get_json()
    assert [e["account_index"] for e in first["events"]] == [0, 0]
    assert signed(client, f"/events?account=1&after={second['next']}").get_json()["events"] == []
    body = {**BUY, "trader_index": 1}
    client.post(f"{API}/buy", json=body, headers=signed_headers("POST", f"{API}/buy", body))
    followed = signed(client, f"/events?account=1&after={first['next']}&wait=1").get_json()
    assert [e["account_index"] for e in followed["events"]] == [1]
