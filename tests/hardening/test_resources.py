"""Hostile input, a frozen Redis and slow clients, in one process: the answer after an enqueue, body size, waiting slots, query TTLs."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from api import create_app
from common.desk.callers import WEB_USERS, Caller
from common.desk.submission import Desk
from common.rules.exceptions import StoreUnavailable
from common.rules.order_request import OrderRequest, Shares
from common.rules.orders import BUY, PriceType
from common.store import audit, events, jobqueue, keys
from tests.support import CLIENT_ID, make_settings, signed_headers, sim_prices_file, wait_until, while_worker_runs

API = "/qmt/trade/api"
TRADE = f"{API}/trade"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.5, "order_type": 23}
CALLER = Caller(client_id=CLIENT_ID, scopes=("trade", "cancel", "query"), source="127.0.0.1")


def post_raw(client, raw: str, body, path: str = TRADE, **headers: str):
    """POST `raw` as the body, signed over `body` (what the server parses `raw` into)."""
    return client.post(path, data=raw, headers={**signed_headers("POST", path, body), **headers}, content_type="application/json")


def audit_entries(connection) -> list[dict]:
    return audit.recent(connection, 1000)


# -- 1. nothing after the enqueue fails the answer ---------------------------------------------
def test_an_order_with_a_lone_surrogate_is_refused_before_it_is_a_job_and_its_audit_line_is_valid(client, fake_redis):
    raw = json.dumps(ORDER)[:-1] + ', "note": "\\ud800"}'  # valid JSON; parsed, it holds a lone surrogate
    body = json.loads(raw)
    answer = post_raw(client, raw, body)
    assert answer.status_code == 400 and "surrogate" in answer.get_json()["error"]  # never a job (api.body)
    assert jobqueue.queue(fake_redis, "order").count == 0
    [entry] = audit_entries(fake_redis)  # the refusal is audited; the encoder did not choke on the body
    assert entry["status"] == 400 and entry["job_ids"] == []


def test_an_audit_writer_that_raises_never_fails_a_placed_order(client, fake_redis, monkeypatch):
    def broken_record(*args, **kwargs):
        raise RuntimeError("the audit writer broke")

    monkeypatch.setattr(audit, "record", broken_record)
    answer = post_raw(client, json.dumps(ORDER), ORDER)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert jobqueue.view(fake_redis, answer.get_json()["job_id"]).status == "queued"


def test_a_redis_failure_while_waiting_for_the_verdict_still_answers_the_job_id(client, fake_redis, monkeypatch):
    def frozen(*args, **kwargs):
        raise StoreUnavailable("Redis did not answer: TimeoutError")

    monkeypatch.setattr(Desk, "verdicts_within", frozen)
    answer = post_raw(client, json.dumps(ORDER), ORDER, Prefer="wait=5")
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert answer.headers["Preference-Applied"] == "respond-async"
    body = answer.get_json()  # the suite's client is one of the old server's: the old failure shape, never a success
    assert body["success"] is False and "outcome not yet known" in body["error"] and "Redis did not answer" in body["error"], body
    assert jobqueue.view(fake_redis, body["job_ids"][0]).status == "queued"


def test_the_audit_encoder_caps_depth_and_size_and_escapes_surrogates(fake_redis):
    deep: object = "bottom"
    for _ in range(900):
        deep = [deep]
    payload = {"deep": deep, "huge": "x" * 5_000_000, "odd": "\udfff", "many": list(range(100_000)), "secret": "s3", "big": 10**4000}
    audit.record(fake_redis, "trade", client_id="c\ud800", source="127.0.0.1", outcome="accepted", status=202, payload=payload, error="e" * 100_000)
    [raw] = [fields[b"entry"] for _, fields in fake_redis.xrange(keys.AUDIT_STREAM)]
    assert len(raw) <= audit.MAX_ENTRY_BYTES
    entry = json.loads(raw)
    assert entry["client_id"] == "c\\ud800" and entry["payload"]["odd"] == "\\udfff" and entry["payload"]["secret"] == "***"
    assert len(entry["payload"]["huge"]) <= audit.MAX_FIELD_CHARS + 40 and len(entry["error"]) <= audit.MAX_FIELD_CHARS + 40
    depth, level = 0, entry["payload"]["deep"]
    while isinstance(level, list):
        depth, level = depth + 1, level[0]
    assert depth < audit.MAX_DEPTH  # cut off with a marker, not a RecursionError


class RefusesFirstWrites:
    """A Redis connection whose first `failures` XADDs fail, as a frozen or restarting Redis does."""

    def __init__(self, connection, failures: int):
        self.connection, self.failures = connection, failures

    def xadd(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise redis.ConnectionError("Redis is frozen")
        return self.connection.xadd(*args, **kwargs)


def test_an_audit_entry_redis_refused_is_written_with_the_next_one(fake_redis):
    flaky = RefusesFirstWrites(fake_redis, failures=1)
    audit.record(flaky, "trade", client_id="c", source="", outcome="accepted", job_ids=["o1"])  # type: ignore[arg-type]
    assert audit_entries(fake_redis) == []
    audit.record(flaky, "trade", client_id="c", source="", outcome="accepted", job_ids=["o2"])  # type: ignore[arg-type]
    assert [e["job_ids"] for e in reversed(audit_entries(fake_redis))] == [["o1"], ["o2"]]


@pytest.mark.parametrize("wait", ["soon", "1_0", "1e1", "nan", "-1", ""])
def test_a_malformed_prefer_header_is_400_before_anything_is_queued(client, fake_redis, wait):
    answer = post_raw(client, json.dumps(ORDER), ORDER, Prefer=f"wait={wait}")
    assert answer.status_code == 400 and answer.get_json()["field"] == "Prefer"
    assert fake_redis.keys("rq:job:*") == []  # a 400 after the enqueue would have left an order the client sends again


def test_an_event_with_a_lone_surrogate_or_a_refused_write_is_kept_not_raised(fake_redis):
    fill = {"order_id": 1, "account_id": "SIM000001", "symbol": "600000.SH", "side": "buy", "traded_volume": 100, "traded_price": 10.0}
    flaky = RefusesFirstWrites(fake_redis, failures=1)
    assert events.append(flaky, events.TradeEvent(**fill, strategy_name="s\ud800")) is None  # type: ignore[arg-type]
    assert events.read(fake_redis) == []
    assert events.append(flaky, events.TradeEvent(**fill, strategy_name="later")) is not None  # type: ignore[arg-type]
    assert [event.strategy_name for _, event in events.read(fake_redis)] == ["s\ud800", "later"]  # type: ignore[union-attr]


# -- 3. request size ----------------------------------------------------------------------------
@pytest.mark.parametrize("signed", [True, False])
def test_a_body_over_max_body_bytes_is_413_and_never_parsed(client, fake_redis, signed):
    body = {**ORDER, "padding": "x" * 70_000}
    headers = (
        signed_headers("POST", TRADE, body) if signed else {"X-Client-ID": CLIENT_ID, "X-Timestamp": str(int(time.time())), "X-Signature": "0" * 64}
    )
    answer = client.post(TRADE, data=json.dumps(body), headers=headers, content_type="application/json")
    assert answer.status_code == 413, answer.get_data(as_text=True)
    assert answer.get_json()["success"] is False
    assert fake_redis.keys("rq:job:*") == []
    assert all("padding" not in json.dumps(entry) for entry in audit_entries(fake_redis))


def test_max_body_bytes_is_a_setting(fake_redis):
    small = create_app(make_settings(MAX_BODY_BYTES=1024), fake_redis).test_client()
    body = {**ORDER, "padding": "p" * 2000}
    assert post_raw(small, json.dumps(body), body).status_code == 413
    assert post_raw(small, json.dumps(ORDER), ORDER).status_code == 202


# -- 4. one budget of waiting slots --------------------------------------------------------------
def hold(function, *args) -> threading.Thread:
    thread = threading.Thread(target=function, args=args, daemon=True)
    thread.start()
    return thread


def end(connection, job_id: str) -> None:
    """End a queued job (no worker runs here), so the waits held on it return now rather than after their time."""
    Job.fetch(job_id, connection=connection, serializer=JSONSerializer).cancel()


def test_a_job_wait_beyond_the_clients_slots_answers_at_once_with_the_current_view(real_redis):
    desk = Desk(make_settings(WAIT_SLOTS_PER_CLIENT=1), real_redis)
    [(_, job_id)] = desk.place(CALLER, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT)).jobs
    first = hold(desk.job, CALLER, job_id, 20.0)  # no worker: it holds the client's one slot until the job ends below
    assert wait_until(lambda: desk.waiting.held(CLIENT_ID) == 1, 10)
    started = time.monotonic()
    view = desk.job(CALLER, job_id, 20.0)
    # answered at once instead of holding its 20 s: a bound at half of that holds on a loaded machine
    assert time.monotonic() - started < 10 and view.status == "queued"
    other = Caller(client_id="user:admin", scopes=("query",))
    started = time.monotonic()
    desk.job(other, job_id, 0.5)  # another client still has slots: it waits
    assert time.monotonic() - started >= 0.5
    end(real_redis, job_id)
    first.join(10)
    assert not first.is_alive()


def test_prefer_wait_beyond_the_total_slots_answers_202_at_once(real_redis):
    settings = make_settings(WAIT_SLOTS=1)
    desk = Desk(settings, real_redis)
    [(_, job_id)] = desk.place(CALLER, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT)).jobs
    other = Caller(client_id="user:admin", scopes=("query",))
    first = hold(desk.job, other, job_id, 20.0)  # holds the one slot until the job ends below
    assert wait_until(lambda: desk.waiting.held(WEB_USERS) == 1, 10)  # every logged-in user's page shares one allowance
    client = create_app(settings, real_redis).test_client()
    client.application.extensions["router"].desk = desk  # the same process, the same budget
    started = time.monotonic()
    answer = post_raw(client, json.dumps(ORDER), ORDER, Prefer="wait=20")
    # answered at once instead of holding its 20 s: a bound at half of that holds on a loaded machine
    assert time.monotonic() - started < 10
    assert answer.status_code == 202 and answer.headers["Preference-Applied"] == "respond-async"
    end(real_redis, job_id)
    first.join(10)
    assert not first.is_alive()


def test_waiting_slots_are_counted_per_client_and_in_total_and_given_back():
    from common.desk.waiting import WaitingSlots

    slots = WaitingSlots(total=3, per_client=2)
    with slots.slot("a") as a1, slots.slot("a") as a2, slots.slot("a") as a3, slots.slot("b") as b1, slots.slot("c") as c1:
        assert (a1, a2, a3, b1, c1) == (True, True, False, True, False)
        assert slots.held("a") == 2 and slots.held() == 3
    assert slots.held() == 0
    with slots.slot("c") as again:
        assert again


# -- 5. query results expire sooner than orders -----------------------------------------------
def test_query_results_expire_after_query_result_ttl_and_orders_keep_job_ttl(real_redis, tmp_path):
    settings = make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path), QUERY_RESULT_TTL=120)
    desk = Desk(settings, real_redis)
    placed = desk.place(CALLER, 0, OrderRequest("600000", BUY, Shares(100), 10.0, PriceType.LIMIT))
    orders = while_worker_runs(lambda: desk.query(CALLER, "orders", 0), settings, real_redis)
    assert len(orders) == 1
    [query_id] = [key.decode().removeprefix("rq:job:") for key in real_redis.keys("rq:job:q*")]
    for key in (f"rq:job:{query_id}", f"rq:results:{query_id}"):
        assert 0 < real_redis.ttl(key) <= 120, key
    [order_id] = placed.job_ids
    for key in (f"rq:job:{order_id}", f"rq:results:{order_id}"):
        assert real_redis.ttl(key) >= settings.JOB_TTL - 60, key


def test_the_defaults_of_the_new_settings():
    assert make_settings().QUERY_RESULT_TTL == 60  # a minute: the answer was given; a 503's job id can still be polled
    assert make_settings().MAX_BODY_BYTES == 64 * 1024
