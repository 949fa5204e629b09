"""GET /qmt/trade/api/jobs/<id> and /health as a client sees them."""

from __future__ import annotations

import time

from common.store import jobqueue, keys
from common.store.payloads import QueryPayload
from tests.support import signed_headers


def get(client, path, query=""):
    return client.get(path + (f"?{query}" if query else ""), headers=signed_headers("GET", path, query=query))


def test_an_unknown_job_is_404(client):
    answer = get(client, "/qmt/trade/api/jobs/o0000000000000000")
    assert answer.status_code == 404 and answer.get_json()["error"] == "no job o0000000000000000"


def test_a_queued_job_is_shown_queued_and_wait_returns_after_n_seconds(client, fake_redis, settings):
    from common.store.payloads import JobMeta

    job_id = jobqueue.enqueue(fake_redis, QueryPayload(what="accounts", meta=JobMeta(client_id="test-client")), settings.JOB_TTL)
    assert get(client, f"/qmt/trade/api/jobs/{job_id}").get_json()["status"] == "queued"
    started = time.monotonic()
    answer = get(client, f"/qmt/trade/api/jobs/{job_id}", "wait=0.3")
    assert answer.get_json()["status"] == "queued" and answer.get_json()["kind"] == "query"
    assert 0.25 < time.monotonic() - started < 3  # the promise: after its 0.3 s, not much later (10x, for a loaded machine)


def test_wait_is_bounded_and_numeric(client):
    for query, words in (("wait=soon", "must be a number"), ("wait=31", "between 0 and 30"), ("wait=-1", "between 0 and 30")):
        answer = get(client, "/qmt/trade/api/jobs/o0000000000000000", query)
        assert answer.status_code == 400 and words in answer.get_json()["error"] and answer.get_json()["field"] == "wait"


def test_jobs_need_a_signature(client):
    assert client.get("/qmt/trade/api/jobs/o0000000000000000").status_code == 401


def test_health_needs_no_signature_and_says_not_ready_without_a_worker(client, fake_redis):
    answer = client.get("/qmt/trade/api/health")
    body = answer.get_json()
    assert answer.status_code == 200 and body["ready"] is False and body["worker"]["alive"] is False
    assert body["queues"] == {"cancel": 0, "order": 0, "query": 0}
    fake_redis.hset(keys.WORKER_HEARTBEAT, mapping={"ts": time.time(), "broker": "sim"})
    for index in (0, 1):
        fake_redis.hset(keys.broker_connection(index), mapping={"connected": 1})
    healthy = client.get("/qmt/trade/api/health").get_json()
    assert healthy["ready"] is True
    assert [a["account_id"] for a in healthy["accounts"]] == ["SIM***001", "SIM***002"]  # no account numbers to strangers


def test_a_job_id_rq_could_never_have_made_is_404_not_a_crash(client):
    # the signature covers the decoded path, as the old server's request.path did
    answer = client.get("/qmt/trade/api/jobs/o%20x%3B1", headers=signed_headers("GET", "/qmt/trade/api/jobs/o x;1"))
    assert answer.status_code == 404 and "job ids are letters" in answer.get_json()["error"]


def test_a_client_sees_only_its_own_jobs(fake_redis, settings):
    from api import create_app
    from common.store.payloads import JobMeta
    from tests.support import make_settings

    app = create_app(make_settings(API_CLIENTS=[{"client_id": "other", "secret": "other-secret", "scopes": ["query"]}]), fake_redis)
    client = app.test_client()
    job_id = jobqueue.enqueue(fake_redis, QueryPayload(what="accounts", meta=JobMeta(client_id="test-client")), settings.JOB_TTL)
    path = f"/qmt/trade/api/jobs/{job_id}"
    assert client.get(path, headers=signed_headers("GET", path)).get_json()["client_id"] == "test-client"
    foreign = client.get(path, headers=signed_headers("GET", path, client_id="other", secret="other-secret"))
    assert foreign.status_code == 404 and foreign.get_json()["error"] == f"no job {job_id}"


def test_the_old_servers_clients_cannot_change_risk_limits(client):
    path = "/qmt/trade/api/risk"
    answer = client.put(path, json={"kill_switch": True}, headers=signed_headers("PUT", path, {"kill_switch": True}))
    assert answer.status_code == 403 and "lacks the 'admin' scope" in answer.get_json()["error"]


def test_a_job_says_what_was_asked_without_the_account_number(client):
    body = {"trader_index": 0, "symbol": "600000", "order_type": 23, "position_pct": 0.25, "trade_price": 10.0, "pricetype": 0}
    path = "/qmt/trade/api/trade"
    answer = client.post(path, json=body, headers={**signed_headers("POST", path, body), "Prefer": "wait=0"})
    assert answer.status_code == 202, answer.get_json()
    job = get(client, f"/qmt/trade/api/jobs/{answer.get_json()['job_id']}").get_json()
    asked = job["request"]
    assert asked["sizing"] == "position_pct" and asked["position_pct"] == 0.25 and asked["symbol"] == "600000.SH" and asked["price"] == 10.0
    assert {"account_id", "meta", "deadline"}.isdisjoint(asked) and asked["account_index"] == 0
