"""A frozen Redis (SIGSTOP'd: it takes connections but never answers) under the web and the worker.

Each test runs a private redis-server it may stop and continue; the shared server is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest
import redis

from api import create_app
from common.store import jobqueue
from common.store.connections import connect
from common.store.payloads import QueryPayload
from common.store.scripts import enqueue as enqueue_script
from tests.integration.conftest import Roles, wait_ready
from tests.integration.test_outages import PrivateRedis
from tests.support import make_settings, signed_headers, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to freeze a private Redis"),
]
API = "/qmt/trade/api"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 9.5, "order_type": 23}
ANSWER_BOUND = 3.0  # seconds: REDIS_SOCKET_TIMEOUT (2 s) and the request's own work
ENDED = ("finished", "failed", "expired")


class FrozenRedis(PrivateRedis):
    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def server(tmp_path):
    started = FrozenRedis(tmp_path)
    started.start()
    yield started
    started.thaw()
    started.stop()


def _post(client, body: dict, key: str, timestamp: float):
    path = f"{API}/trade"
    headers = {**signed_headers("POST", path, body, timestamp=timestamp), "Idempotency-Key": key} if key else signed_headers("POST", path, body)
    return client.post(path, json=body, headers=headers)


@pytest.mark.parametrize("key", ["freeze-key-1", ""], ids=["with-a-key", "no-key"])
def test_enqueue_unanswered_names_the_job_and_a_keyed_retry_finds_it(server, tmp_path, monkeypatch, key):
    """Redis freezes during the enqueue itself (its one round trip, common.store.scripts.enqueue): a 503 within ~2 s naming the
    job id; once Redis wakes, polling that id or retrying with the same key ends with exactly one job under it."""
    settings = make_settings(REDIS_URL=server.url, VAR_DIR=str(tmp_path / "var"))
    client = create_app(settings, connect(settings)).test_client()
    warm = _post(client, {**ORDER, "strategy_name": "first"}, "", time.time())  # loads the enqueue script, as any running server has
    assert warm.status_code == 202, warm.get_json()
    target, name = enqueue_script, "run"
    real = getattr(target, name)

    def freezing(*args, **kwargs):  # Redis goes silent at this step of the enqueue
        server.freeze()
        monkeypatch.setattr(target, name, real)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, freezing)
    answers: list = []
    started = time.monotonic()
    caller = threading.Thread(target=lambda: answers.append((_post(client, ORDER, key, time.time()), time.monotonic() - started)))
    caller.start()
    answered = wait_until(lambda: bool(answers), 6)
    server.thaw()  # before asserting, so a hung request (the unfixed code) ends
    caller.join(30)
    assert answered, "no answer within 6 s while Redis was frozen"
    answer, seconds = answers[0]
    assert seconds < ANSWER_BOUND, f"answered after {seconds:.1f} s"
    assert answer.status_code == 503, answer.get_json()
    body = answer.get_json()
    job_id = body.get("job_id")
    assert job_id, body
    assert "unknown" in body["error"] and job_id in body["error"], body

    reader = redis.Redis.from_url(server.url)
    # the script reached Redis before it froze: it runs on waking, and the job is the one named
    assert wait_until(lambda: reader.exists(f"rq:job:{job_id}"), 10), "the job the 503 named never appeared"
    assert jobqueue.view(reader, job_id).status == "queued"
    if key:
        retry = _post(client, ORDER, key, time.time() + 1)  # a fresh signature, the same key
        assert retry.status_code == 202, retry.get_json()
        assert retry.get_json()["job_id"] == job_id
        assert retry.headers.get("Idempotent-Replayed") == "true"
    queued = [job.decode() for job in reader.lrange("rq:queue:order", 0, -1)]
    assert queued == [warm.get_json()["job_id"], job_id], "not exactly one job more, the one the 503 named"


def test_frozen_redis_under_real_processes(role_env, tmp_path, http, server):
    """SIGSTOP under load: every answer within ~3 s, no job the client was not told of, every job ends, no order sent twice."""
    roles = Roles({**role_env, "REDIS_URL": server.url}, tmp_path)
    roles.start("api")
    roles.start("worker")
    try:
        wait_ready(http, roles)
        answers: list[tuple[float, int, str | None, float]] = []  # seconds, status, job id, when sent
        stop = threading.Event()

        def load(lane: int) -> None:
            index = 0
            while not stop.is_set():
                sent = time.monotonic()
                body = {**ORDER, "trader_index": lane % 2, "strategy_name": f"l{lane}-{index}"}
                try:
                    answer = http.post(f"{API}/trade", body)
                    answers.append((time.monotonic() - sent, answer.status, answer.body.get("job_id"), sent))
                except OSError:
                    answers.append((time.monotonic() - sent, 0, None, sent))
                index += 1
                stop.wait(0.2)  # paces each lane at about 5 orders a second, under the 20/s cap

        lanes = [threading.Thread(target=load, args=(lane,)) for lane in range(3)]
        for lane in lanes:
            lane.start()
        assert wait_until(lambda: sum(1 for a in answers if a[1] == 202) >= 10, 20), "no orders accepted before the freeze"
        server.freeze()
        frozen_at = time.monotonic()
        # frozen past the worker's dequeue socket timeout (WORKER_DEQUEUE_BLOCK 5 s + 2 s), with answers seen meanwhile
        assert wait_until(lambda: time.monotonic() - frozen_at > 9 and sum(1 for a in answers if a[3] > frozen_at + 0.5) >= 6, 40), (
            "requests hung while Redis was frozen"
        )
        server.thaw()
        thawed = len(answers)
        assert wait_until(lambda: sum(1 for a in answers[thawed:] if a[1] == 202) >= 10, 30), "no orders accepted after the thaw"
        stop.set()
        for lane in lanes:
            lane.join(30)

        during = [a for a in answers if frozen_at + 0.5 < a[3] and a[3] + a[0] < frozen_at + 9]
        assert during and all(status == 503 for _, status, _, _ in during), [a[:3] for a in during]
        slowest = max(seconds for seconds, _, _, _ in answers)
        assert slowest < ANSWER_BOUND, f"a request took {slowest:.1f} s with Redis frozen"
        assert {status for _, status, _, _ in answers} <= {202, 503}, sorted({a[1] for a in answers})
        told = {job for _, _, job, _ in answers if job}  # every job id a client was given, by a 202 or a 503

        connection = redis.Redis.from_url(server.url)
        stored = {key.decode().split(":")[2] for key in connection.scan_iter(match="rq:job:o*") if key.count(b":") == 2}
        assert stored <= told, f"jobs a client was told nothing of (a retry would double them): {stored - told}"
        accepted = {job for _, status, job, _ in answers if status == 202}
        assert accepted <= stored

        def ended() -> bool:
            return all(jobqueue.view(connection, job).status in ENDED for job in stored)

        if not wait_until(ended, 90, 0.5):
            stuck = {job: jobqueue.view(connection, job).status for job in stored if jobqueue.view(connection, job).status not in ENDED}
            raise AssertionError(f"jobs that never ended: {stuck}\n{roles.log('worker')[-6000:]}")
        assert roles.processes["worker"].poll() is None, "the worker died with the frozen Redis"

        tags: list[str] = []
        for index in (0, 1):
            query = jobqueue.enqueue(connection, QueryPayload(what="orders", account_index=index), 86_400)
            tags += [o["order_remark"] for o in jobqueue.wait(connection, query, 20).result]
        assert len(tags) == len(set(tags)), "an order reached the broker twice"
        submitted = {job for job in stored if (jobqueue.view(connection, job).result or {}).get("outcome") == "submitted"}
        assert submitted == set(tags), "a job and the broker disagree about an order"
    finally:
        stop.set()
        roles.stop_all()
