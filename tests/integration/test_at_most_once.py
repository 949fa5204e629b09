"""Nothing lost, nothing doubled — proven by breaking it on purpose, with real processes and real Redis."""

from __future__ import annotations

import collections
import json
import signal
import threading
import time
import urllib.request

import pytest

from common.rules import risk
from common.store import jobqueue, risk_state
from common.store.payloads import QueryPayload
from tests.integration.conftest import wait_ready
from tests.support import order_deadline, signed_headers, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23}


def broker_orders(real_redis, account_index: int = 0) -> list[dict]:
    job_id = jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=account_index), 86_400)
    view = jobqueue.wait(real_redis, job_id, 20)
    assert view.status == "finished", view
    return view.result


def test_the_same_signed_order_sent_twice_is_one_order_and_a_401_replay(roles, http, real_redis):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    path = f"{API}/trade"
    headers = {**signed_headers("POST", path, ORDER), "Content-Type": "application/json"}
    answers = []
    for _ in range(2):
        request = urllib.request.Request(http.base_url + path, data=json.dumps(ORDER).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request) as answer:
                answers.append((answer.status, json.loads(answer.read())))
        except urllib.error.HTTPError as error:
            answers.append((error.code, json.loads(error.read())))
    assert answers[0][0] == 202 and answers[1][0] == 401 and "replayed" in answers[1][1]["error"]
    http.get(f"{API}/jobs/{answers[0][1]['job_id']}", query="wait=10")
    assert len(broker_orders(real_redis)) == 1


def test_one_idempotency_key_sent_20_times_at_once_through_two_web_processes_is_one_order(roles, http, role_env, real_redis, tmp_path):
    from tests.integration.conftest import Roles
    from tests.support import SignedHttpClient, free_port

    second_port = free_port()
    second = Roles({**role_env, "FLASK_PORT": str(second_port)}, tmp_path / "second")
    (tmp_path / "second").mkdir()
    roles.start("api")
    second.start("api")
    roles.start("worker")
    try:
        wait_ready(http, roles)
        clients = [http, SignedHttpClient(f"http://127.0.0.1:{second_port}")]
        assert wait_until(lambda: _up(clients[1]), 20)
        answers: list = []
        barrier = threading.Barrier(20)

        def send(index: int) -> None:
            client = clients[index % 2]
            headers = {
                **signed_headers("POST", f"{API}/trade", ORDER, timestamp=time.time() + index % 5),
                "Idempotency-Key": "retry-me",
                "Content-Type": "application/json",
            }
            request = urllib.request.Request(client.base_url + f"{API}/trade", data=json.dumps(ORDER).encode(), headers=headers, method="POST")
            barrier.wait()
            try:
                with urllib.request.urlopen(request) as answer:
                    answers.append((answer.status, json.loads(answer.read())["job_id"]))
            except urllib.error.HTTPError as error:
                answers.append((error.code, json.loads(error.read()).get("error")))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        accepted = {job for status, job in answers if status == 202}
        # identical signatures (same second, same body) are replays: 401; every other answer is the one job
        assert len(accepted) == 1 and all(status in (202, 401) for status, _ in answers), answers
        [job_id] = accepted
        assert http.get(f"{API}/jobs/{job_id}", query="wait=10").body["status"] == "finished"
        assert [o["order_remark"] for o in broker_orders(real_redis)] == [job_id]
    finally:
        second.stop_all()


def _up(client) -> bool:
    try:
        return client.get(f"{API}/health").status == 200
    except OSError:
        return False


def test_a_worker_killed_with_200_orders_in_flight_loses_and_doubles_nothing(roles, http, real_redis):
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=0))  # 200 orders as fast as HTTP goes
    roles.start("api")
    worker = roles.start("worker")
    wait_ready(http, roles)
    job_ids = []
    for index in range(200):
        answer = http.post(
            f"{API}/trade", {**ORDER, "price": 9.5 + (index % 50) / 100, "strategy_name": f"s{index}"}
        )  # rest, within MAX_PRICE_DEVIATION_PCT
        assert answer.status == 202
        job_ids.append(answer.body["job_id"])
        if index == 60:
            worker.send_signal(signal.SIGKILL)  # mid-stream, without warning
    worker.wait(10)
    roles.processes.pop("worker")
    roles.start("worker")
    assert wait_until(lambda: all(jobqueue.view(real_redis, j).status in ("finished", "failed", "expired") for j in job_ids), 90, 0.5)

    views = {job_id: jobqueue.view(real_redis, job_id) for job_id in job_ids}
    tags = collections.Counter(o["order_remark"] for o in broker_orders(real_redis))
    assert max(tags.values()) == 1, "an order reached the broker twice"
    assert set(tags) <= set(job_ids), "an order at the broker that no job accounts for"
    for job_id, view in views.items():
        if view.result["outcome"] == "submitted":
            assert tags[job_id] == 1 and view.result["order_id"] > 0, view
        else:
            assert tags[job_id] == 0 and view.error, view  # never sent, and the job says so
    assert sum(1 for v in views.values() if v.result["outcome"] == "submitted") >= 190


def test_orders_queued_while_the_worker_is_stopped_past_order_ttl_all_expire_unsent(roles, http, role_env, real_redis):
    roles.env = {**role_env, "ORDER_TTL": "2"}
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    assert roles.stop("worker") == 0
    job_ids = [http.post(f"{API}/trade", {**ORDER, "strategy_name": f"s{i}"}).body["job_id"] for i in range(10)]
    last_deadline = max(order_deadline(real_redis, job_id) for job_id in job_ids)
    assert wait_until(lambda: time.time() > last_deadline + 1, 15)  # every order is past its ORDER_TTL while no worker runs
    roles.start("worker")
    assert wait_until(lambda: all(jobqueue.view(real_redis, j).status == "expired" for j in job_ids), 30, 0.2)
    assert broker_orders(real_redis) == []
    assert all("never sent" in jobqueue.view(real_redis, j).result["error"] for j in job_ids)
