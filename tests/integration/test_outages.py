"""Outages: Redis stopped and restarted under load; the kill switch with real processes."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from common.rules import risk
from common.store import jobqueue, risk_state
from tests.integration.conftest import Roles, wait_ready
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 9.5, "order_type": 23}


class PrivateRedis:
    """A redis-server of this test's own, with AOF on (as production needs), that the test can stop and start."""

    def __init__(self, workdir):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        assert wait_until(lambda: _pings(redis.Redis.from_url(self.url)), 10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _pings(connection) -> bool:
    import redis

    try:
        return bool(connection.ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to stop and start a private Redis")
def test_redis_stopped_and_restarted_under_load(role_env, tmp_path, http):
    import redis

    server = PrivateRedis(tmp_path)
    server.start()
    roles = Roles({**role_env, "REDIS_URL": server.url}, tmp_path)
    roles.start("api")
    roles.start("worker")
    try:
        wait_ready(http, roles)
        answers: list[tuple[float, int, str | None]] = []
        stop = threading.Event()

        def load() -> None:
            index = 0
            while not stop.is_set():
                started = time.monotonic()
                try:
                    answer = http.post(f"{API}/trade", {**ORDER, "strategy_name": f"load{index}"})
                    answers.append((time.monotonic() - started, answer.status, answer.body.get("job_id")))
                except OSError:
                    answers.append((time.monotonic() - started, 0, None))
                index += 1
                time.sleep(0.05)  # paces the load at about 20 orders a second; not a wait for anything

        def seen(status: int, since: int, count: int) -> bool:
            return sum(1 for _, answered, _ in answers[since:] if answered == status) >= count

        loader = threading.Thread(target=load)
        loader.start()
        assert wait_until(lambda: seen(202, 0, 10), 20), "no orders accepted before the outage"
        server.stop()
        stopped_at = len(answers)
        assert wait_until(lambda: seen(503, stopped_at, 10), 30), "the web did not answer 503 while Redis was down"
        during = len(answers)
        server.start()
        assert wait_until(lambda: seen(202, during, 20), 30), "the web did not take orders again once Redis was back"
        stop.set()
        loader.join(30)

        statuses = [status for _, status, _ in answers]
        assert 500 not in statuses and 0 not in statuses, statuses
        assert 503 in statuses, "no request saw the outage"
        assert statuses[-1] == 202 and statuses.count(202) > during // 2, "the web did not come back by itself"
        # the promise: a stopped Redis is a 503 at once (a refused connection), never a hang; 3 s is a wide margin
        assert max(seconds for seconds, _, _ in answers) < 3, "a request hung during the outage"
        accepted = [job for _, status, job in answers if status == 202]
        connection = redis.Redis.from_url(server.url)
        # every accepted job is kept (AOF) and ends, the worker having reconnected by itself
        ended = lambda: all(jobqueue.view(connection, j).status in ("finished", "failed", "expired") for j in accepted)  # noqa: E731
        if not wait_until(ended, 60, 0.5):
            stuck = {
                j: jobqueue.view(connection, j).status
                for j in accepted
                if jobqueue.view(connection, j).status not in ("finished", "failed", "expired")
            }
            raise AssertionError(f"jobs that never ended: {stuck}\n{roles.log('worker')[-5000:]}")
        assert roles.processes["worker"].poll() is None, "the worker died with the Redis connection"
        from common.store.payloads import QueryPayload

        query = jobqueue.enqueue(connection, QueryPayload(what="orders", account_index=0), 86_400)
        tags = [o["order_remark"] for o in jobqueue.wait(connection, query, 20).result]
        assert len(tags) == len(set(tags)), "an order reached the broker twice"
        submitted = {j for j in accepted if jobqueue.view(connection, j).result["outcome"] == "submitted"}
        assert submitted == set(tags), "a job and the broker disagree about an order"
    finally:
        roles.stop_all()
        server.stop()


def test_kill_switch_with_real_processes(roles, http, real_redis):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    resting = http.post(f"{API}/trade", ORDER)
    order_id = http.get(f"{API}/jobs/{resting.body['job_id']}", query="wait=10").body["result"]["order_id"]
    risk_state.save(real_redis, risk.RiskLimits(kill_switch=True))
    halted = http.post(f"{API}/trade", {**ORDER, "strategy_name": "after"})
    assert halted.status == 423 and "kill switch" in halted.body["error"]
    cancel = http.post(f"{API}/cancel_order", {"trader_index": 0, "order_id": order_id})
    assert cancel.status == 202
    assert http.get(f"{API}/jobs/{cancel.body['job_id']}", query="wait=10").body["result"]["cancelled"] == [order_id]
