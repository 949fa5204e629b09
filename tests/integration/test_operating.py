"""Operating the router with real processes: readiness and the can-trade verdict through a killed worker and a stopped
Redis, /metrics after real orders, and every log line of a run as JSON without a secret."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Roles, wait_ready
from tests.integration.test_outages import PrivateRedis
from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 9.5, "order_type": 23}
ADMIN_PASSWORD, TRADER_PASSWORD = "admin-pass-for-ops-test", "trader-pass-for-ops-test"


def status_of(base: str, path: str) -> tuple[int, dict | str]:
    """An unauthenticated GET: its status and its JSON (or text); 0 when nothing answers."""
    try:
        with urllib.request.urlopen(base + path, timeout=5) as answer:
            raw = answer.read().decode()
            return answer.status, json.loads(raw) if answer.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


def operated(role_env: dict, **more: str) -> dict:
    """The roles' environment with the calendar known whatever the date the tests run on, and web passwords set."""
    return {**role_env, "CALENDAR_WEEKDAYS_UNTIL": "2099-12-31", "ADMIN_PASSWORD": ADMIN_PASSWORD, "TRADER_PASSWORD": TRADER_PASSWORD, **more}


def can_trade(base: str) -> bool:
    status, body = status_of(base, f"{API}/health")
    return status == 200 and isinstance(body, dict) and body["can_trade"] is True


def test_a_killed_worker_leaves_the_web_ready_and_the_verdict_names_it_until_it_is_back(role_env, tmp_path, http):
    roles = Roles(operated(role_env), tmp_path)
    base = http.base_url
    try:
        for role in ("api", "worker", "scheduler"):
            roles.start(role)
        wait_ready(http, roles)
        assert wait_until(lambda: can_trade(base), 15, 0.2), status_of(base, f"{API}/health")

        worker = roles.processes.pop("worker")
        worker.kill()  # SIGKILL: no goodbye, the heartbeat just stops
        worker.wait(10)
        killed = time.monotonic()
        readiness: list[int] = []

        def names_the_worker() -> bool:
            readiness.append(status_of(base, "/readyz")[0])
            status, body = status_of(base, f"{API}/health")
            return status == 200 and body["can_trade"] is False and any("worker" in reason for reason in body["reasons"])

        # the promise: a dead worker is named once its heartbeat is stale (6 s without a beat; it beats every 2 s), so
        # within 10 s of the kill, a margin of 4 s for a loaded machine
        assert wait_until(names_the_worker, 10, 0.2), status_of(base, f"{API}/health")
        assert time.monotonic() - killed <= 10
        assert set(readiness) == {200}, readiness  # readiness never depends on the worker
        _, body = status_of(base, f"{API}/health")
        assert body["reasons"][0].startswith("worker heartbeat is"), body["reasons"]

        roles.start("worker")
        # the verdict follows the worker back as soon as it beats: how soon a worker starts is the benchmark's figure
        # (python run.py bench: worker start-up), not this machine's
        assert wait_until(lambda: can_trade(base), 60, 0.2), status_of(base, f"{API}/health")
        assert status_of(base, "/readyz")[0] == 200
    finally:
        roles.stop_all()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to stop and start a private Redis")
def test_readiness_follows_a_stopped_redis_within_two_seconds_and_both_recover_after_its_restart(role_env, tmp_path, http):
    server = PrivateRedis(tmp_path)
    server.start()
    roles = Roles(operated(role_env, REDIS_URL=server.url), tmp_path)
    base = http.base_url
    try:
        for role in ("api", "worker", "scheduler"):
            roles.start(role)
        wait_ready(http, roles)
        assert wait_until(lambda: can_trade(base), 15, 0.2), status_of(base, f"{API}/health")
        assert status_of(base, "/readyz")[0] == 200

        server.stop()
        stopped = time.monotonic()
        # the promise: readiness follows a stopped Redis within 2 s (each /readyz asks Redis; typically 0.3 s on a loaded machine)
        assert wait_until(lambda: status_of(base, "/readyz")[0] == 503, 2, 0.1), status_of(base, "/readyz")
        assert time.monotonic() - stopped <= 2
        status, body = status_of(base, "/readyz")
        assert status == 503 and body["reasons"][0].startswith("Redis does not answer"), body
        assert status_of(base, "/healthz")[0] == 200  # alive all the same: no restart is called for
        assert status_of(base, f"{API}/health")[0] == 503  # nothing to judge without Redis

        server.start()
        restarted = time.monotonic()
        # the promise: both recover by themselves within 10 s of Redis's return (typically at once)
        assert wait_until(lambda: status_of(base, "/readyz")[0] == 200, 10, 0.1), status_of(base, "/readyz")
        assert wait_until(lambda: can_trade(base), 10 - (time.monotonic() - restarted), 0.2), status_of(base, f"{API}/health")
        assert time.monotonic() - restarted <= 10
        assert all(process.poll() is None for process in roles.processes.values()), "a role died with Redis"
    finally:
        roles.stop_all()
        server.stop()


def test_metrics_after_real_orders_and_every_log_line_is_json_without_a_secret(role_env, tmp_path, http):
    orders = 6
    roles = Roles(operated(role_env), tmp_path)
    base = http.base_url
    try:
        for role in ("api", "worker", "scheduler"):
            roles.start(role)
        wait_ready(http, roles)
        assert wait_until(lambda: can_trade(base), 15, 0.2), status_of(base, f"{API}/health")  # the scheduler published today
        job_ids = []
        for index in range(orders):
            accepted = http.post(f"{API}/trade", {**ORDER, "strategy_name": f"metrics{index}"})
            assert accepted.status == 202, accepted.body
            job_ids.append(accepted.body["job_id"])
        for job_id in job_ids:
            assert http.get(f"{API}/jobs/{job_id}", query="wait=10").body["status"] == "finished"
        assert http.get(f"{API}/positions/1").status == 200  # a query job on the other account
        _login(base, "admin", "not-the-password")  # a refused login: its password must not be logged either
        _login(base, "admin", ADMIN_PASSWORD)

        scraped: dict = {}

        def histograms_count_every_order() -> bool:
            status, text = status_of(base, "/metrics")
            assert status == 200
            scraped.update({f.name: f for f in text_string_to_metric_families(text)})
            return all(_value(scraped[name], f"{name}_count") == orders for name in LATENCIES)

        assert wait_until(histograms_count_every_order, 10, 0.2), {n: _value(scraped[n], f"{n}_count") for n in LATENCIES}
        for name in LATENCIES:
            assert _value(scraped[name], f"{name}_bucket", le="+Inf") == orders and _value(scraped[name], f"{name}_sum") > 0
        assert _value(scraped["qmt_http_requests"], "qmt_http_requests_total", method="POST", route=f"{API}/trade", status="202") == orders
        assert _value(scraped["qmt_jobs"], "qmt_jobs_total", kind="order", outcome="submitted") == orders
        assert _value(scraped["qmt_jobs"], "qmt_jobs_total", kind="query", outcome="done") >= 1
        assert _value(scraped["qmt_events_appended"], "qmt_events_appended_total", kind="job") >= orders
        assert _value(scraped["qmt_broker_connected"], "qmt_broker_connected", account_index="1") == 1
        assert _value(scraped["qmt_worker_heartbeat_age_seconds"], "qmt_worker_heartbeat_age_seconds") < 6
        assert _value(scraped["qmt_queue_depth"], "qmt_queue_depth", queue="order") == 0
        assert _value(scraped["qmt_can_trade"], "qmt_can_trade") == 1
    finally:
        roles.stop_all()

    secrets = (CLIENT_SECRET, ADMIN_PASSWORD, TRADER_PASSWORD, "integration-secret", *(a["account_id"] for a in ACCOUNTS))
    seen_jobs: dict[str, dict] = {}
    for role in ("api", "worker", "scheduler"):
        text = roles.log(role)
        assert text.strip(), f"{role} logged nothing"
        for number, line in enumerate(text.splitlines(), 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise AssertionError(f"{role}.log line {number} is not JSON: {line!r}") from None
            assert isinstance(entry, dict) and {"ts", "level", "logger", "message", "role"} <= set(entry), line
            assert not [s for s in secrets if s in line], f"{role}.log line {number} holds a secret or an account number: {line}"
            for job_id in job_ids:
                if job_id in entry["message"]:  # a line about a job names it in its fields too
                    assert entry.get("job_id") == job_id or job_id in (entry.get("job_ids") or []), line
                    if role == "worker":
                        seen_jobs[job_id] = entry
    assert set(seen_jobs) == set(job_ids), "the worker logged no line about some jobs"
    assert all((entry["client_id"], entry["account_index"]) == (CLIENT_ID, 0) for entry in seen_jobs.values()), seen_jobs


LATENCIES = ("qmt_order_accepted_to_broker_seconds", "qmt_order_accepted_to_result_seconds")


def _value(family, sample: str, **labels: str) -> float | None:
    found = [s.value for s in family.samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found) if found else None


def _login(base: str, username: str, password: str) -> int:
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(f"{base}/login", data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
