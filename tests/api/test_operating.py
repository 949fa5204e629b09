"""What an operator runs on: /healthz, /readyz, the can-trade verdict of /health, /metrics and the request log context."""

from __future__ import annotations

import json
import logging
import time

from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from common.config import clock, logs
from common.store import keys
from tests.api.test_trade import ORDER, post
from tests.support import make_settings


def test_healthz_answers_without_redis_and_readyz_names_redis_within_two_seconds():
    client = create_app(make_settings(REDIS_URL="redis://127.0.0.1:1/0")).test_client()
    assert client.get("/healthz").get_json() == {"success": True, "alive": True}
    started = time.monotonic()
    answer = client.get("/readyz")
    assert time.monotonic() - started < 2  # the promise (a refused connection answers in milliseconds, loaded or not)
    assert answer.status_code == 503 and answer.get_json()["ready"] is False
    assert answer.get_json()["reasons"][0].startswith("Redis does not answer (ConnectionError)")


def test_readyz_is_200_without_a_worker_and_503_for_settings_nobody_can_use(client, fake_redis):
    assert client.get("/readyz").get_json() == {"success": True, "ready": True, "reasons": []}
    locked_out = create_app(make_settings(QMT_CLIENT_ACCOUNT="", TRADER_CONFIGS=[]), fake_redis).test_client()
    answer = locked_out.get("/readyz")
    assert answer.status_code == 503
    assert [reason.split(":")[0] for reason in answer.get_json()["reasons"]] == [
        "TRADER_CONFIGS has no enabled account",
        "no signing client (QMT_CLIENT_*, OUTER_CLIENT_*, API_CLIENTS) and no web password",
    ]


def test_health_keeps_its_fields_and_adds_the_verdict_with_its_reasons(app, client, fake_redis):
    body = client.get("/qmt/trade/api/health").get_json()
    assert {"success", "ready", "worker", "scheduler", "accounts", "queues", "calendar"} <= set(body)
    # a web process just started, no worker heartbeat yet: starting, not broken
    assert (body["can_trade"], body["state"]) == (False, "starting") and body["starting_for"] >= 0
    assert body["reasons"][0].startswith("the worker is starting")
    app.config["STARTED_AT"] = time.time() - 60  # a minute on, still none: no worker
    body = client.get("/qmt/trade/api/health").get_json()
    assert (body["state"], body["starting_for"]) == ("not trading", None) and body["reasons"][0].startswith("no worker heartbeat")
    fake_redis.hset(keys.WORKER_HEARTBEAT, mapping={"ts": time.time()})
    for index in (0, 1):
        fake_redis.hset(keys.broker_connection(index), "connected", "1")
    fake_redis.set(keys.CALENDAR_STATUS, json.dumps({"today": clock.today().isoformat(), "session": True}))
    body = client.get("/qmt/trade/api/health").get_json()
    assert (body["can_trade"], body["reasons"], body["ready"], body["state"]) == (True, [], True, "trading")


def test_health_names_the_redis_in_use_and_whether_a_replica_confirms_writes(real_redis, redis_url):
    """A plain REDIS_URL: its host:port, no Sentinel, no replica waited for (REDIS_WAIT_REPLICAS 0), none confirming."""
    plain = create_app(make_settings(REDIS_URL=redis_url), real_redis).test_client()
    kept = plain.get("/qmt/trade/api/health").get_json()["redis"]
    host_port = redis_url.removeprefix("redis://").rpartition("/")[0]
    assert {k: kept[k] for k in ("master", "sentinel", "wait_replicas", "replicas_online", "replica_confirms")} == {
        "master": host_port, "sentinel": False, "wait_replicas": 0, "replicas_online": 0, "replica_confirms": False,
    }  # fmt: skip
    # a master whose replica is online and acknowledging, waited for: it confirms; one replica short: it does not
    settings = make_settings(REDIS_URL=redis_url, REDIS_WAIT_REPLICAS=1)
    online = {"slave0": {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 1, "lag": 0}}
    real_redis.info = lambda section=None: online if section == "replication" else {}  # INFO of a master with one replica
    confirming = create_app(settings, real_redis).test_client().get("/qmt/trade/api/health").get_json()["redis"]
    assert (confirming["replicas_online"], confirming["replica_confirms"]) == (1, True)
    online["slave0"]["state"] = "wait_bgsave"
    waiting = create_app(settings, real_redis).test_client().get("/qmt/trade/api/health").get_json()["redis"]
    assert (waiting["replicas_online"], waiting["replica_confirms"]) == (0, False)


def test_metrics_counts_requests_by_route_and_status(client):
    assert post(client, ORDER).status_code == 202
    assert client.get("/qmt/trade/api/jobs/o0000000000000000").status_code == 401
    client.get("/no/such/path")
    client.open("/qmt/trade/api/health", method="BREW")
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    [requests] = [f for f in text_string_to_metric_families(answer.get_data(as_text=True)) if f.name == "qmt_http_requests"]
    seen = {(s.labels["method"], s.labels["route"], s.labels["status"]): s.value for s in requests.samples if s.name.endswith("_total")}
    assert seen[("POST", "/qmt/trade/api/trade", "202")] == 1
    assert seen[("GET", "/qmt/trade/api/jobs/<job_id>", "401")] == 1
    assert seen[("GET", "unmatched", "404")] == 1
    assert seen[("other", "unmatched", "405")] == 1  # an invented method is one label value, never a new series each


def test_a_request_logs_its_route_and_client_and_leaves_no_context_behind(client, caplog):
    captured: list[dict] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(logs.current_context())

    handler = Keep()
    caplog.set_level(logging.INFO, logger="web")
    logging.getLogger("web").addHandler(handler)
    try:
        assert post(client, ORDER).status_code == 202
    finally:
        logging.getLogger("web").removeHandler(handler)
    assert captured and captured[-1]["client_id"] == "test-client" and captured[-1]["route"] == "/qmt/trade/api/trade"
    assert logs.current_context() == {}
