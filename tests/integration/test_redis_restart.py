"""A Redis restart never stops the router: web, worker and scheduler as real processes against a private redis-server
that is SIGKILLed and started again after the worker's lease has lapsed, with its data (AOF) or without it.

Without its data the router fails closed: new orders are refused saying why, routines do not fire, cancels and
queries still run, until an admin sets the limits again and releases the kill switch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis

from common.config.clock import SHANGHAI
from common.store import jobqueue, risk_state
from tests.integration.broken_send import ORDER as HUNG_ORDER
from tests.integration.broken_send import prelude
from tests.integration.conftest import wait_ready
from tests.support import SignedHttpClient, free_port, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
LEASE = 3  # WORKER_LEASE_SECONDS: the outage below outlasts it
TUESDAY = datetime(2026, 12, 1, 14, 0, 0, tzinfo=SHANGHAI)
OFFICER = {"client_id": "risk-officer", "secret": "officer-secret-0123456789", "scopes": ["trade", "cancel", "query", "admin"]}
ORDER = {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23}


class PrivateRedis:
    """A redis-server of this test's own on a free port, which the test kills and starts again."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, keep: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if keep else ["--appendonly", "no"]
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.directory), *persistence]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        assert wait_until(self.answers, 10), "the private redis-server did not start"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def connection(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


def _start_roles(roles, http, role_env, server: PrivateRedis) -> None:
    role_env.update(
        REDIS_URL=server.url,
        WORKER_LEASE_SECONDS=str(LEASE),
        API_CLIENTS=json.dumps([OFFICER]),
        CLOCK_OFFSET_SECONDS=str(TUESDAY.timestamp() - time.time()),
    )
    for role in ("api", "worker", "scheduler"):
        roles.start(role)
    wait_ready(http, roles)


def _filled(http, body: dict = ORDER) -> dict | None:
    """None when the order filled, else the job as GET /jobs shows it (for the failure message)."""
    answer = http.post(f"{API}/trade", body)
    assert answer.status == 202, answer.body
    seen: dict = {}

    def filled() -> bool:  # the job may end on the broker's first status, its fill told a moment later (a loaded machine)
        seen.update(http.get(f"{API}/jobs/{answer.body['job_id']}", query="wait=15").body)
        return (seen.get("result") or {}).get("status") == "filled"

    return None if wait_until(filled, 30) else seen


def _outage(roles, server: PrivateRedis, keep: bool) -> None:
    """Redis killed; started again once the worker's lease has lapsed; every role still running afterwards."""
    server.kill()
    down = time.monotonic()
    assert wait_until(lambda: time.monotonic() - down > LEASE + 1, LEASE + 5)  # the outage is the point: past the lease
    if not keep:
        shutil.rmtree(server.directory)  # a new machine, or a Redis with nothing on disk
    server.start(keep)
    assert wait_until(lambda: "had lapsed and nobody held it" in roles.log("worker"), 30), roles.log("worker")
    for role, process in roles.processes.items():
        assert process.poll() is None, f"{role} exited:\n{roles.log(role)}"


def test_a_redis_restart_with_its_data_past_the_lease_stops_nothing(roles, http, role_env, private_redis):
    private_redis.start(keep=True)
    _start_roles(roles, http, role_env, private_redis)
    assert _filled(http) is None
    _outage(roles, private_redis, keep=True)
    assert "another worker holds the lease" not in roles.log("worker") and "stands by" not in roles.log("worker")
    assert wait_until(lambda: _filled(http, {**ORDER, "strategy_name": "after"}) is None, 30)
    assert not risk_state.load(private_redis.connection()).kill_switch


def test_a_redis_back_without_its_data_fails_closed_until_an_admin_confirms(roles, http, role_env, private_redis):
    private_redis.start(keep=False)
    _start_roles(roles, http, role_env, private_redis)
    officer = SignedHttpClient(http.base_url, client_id=OFFICER["client_id"], secret=OFFICER["secret"])
    assert _filled(http) is None
    resting = http.post(f"{API}/trade", {**ORDER, "price": 9.9, "strategy_name": "resting"}).body["job_id"]  # rests below the last
    order_id = http.get(f"{API}/jobs/{resting}", query="wait=15").body["result"]["order_id"]
    _outage(roles, private_redis, keep=False)

    def refused() -> dict | None:
        answer = http.post(f"{API}/trade", {**ORDER, "strategy_name": f"probe-{time.monotonic()}"})
        return answer.body if answer.status == 423 else None

    assert wait_until(refused, 20), "new orders were not refused after Redis lost its data"
    assert "Redis lost its data" in refused()["error"]
    assert http.get(f"{API}/portfolio/0").status == 200  # queries still run
    cancel = http.post(f"{API}/cancel_order", {"trader_index": 0, "order_id": order_id})
    assert cancel.status == 202 and http.get(f"{API}/jobs/{cancel.body['job_id']}", query="wait=15").body["status"] == "finished"
    health = http.get(f"{API}/health").body
    assert any("Redis lost its data" in reason for reason in health.get("reasons", [])), health
    assert wait_until(lambda: "routines do not fire" in roles.log("scheduler"), 20), roles.log("scheduler")

    assert officer.request("PUT", f"{API}/risk", {"max_order_notional": 50_000}).status == 200  # the admin sets the limits again
    assert http.post(f"{API}/trade", {**ORDER, "strategy_name": "still halted"}).status == 423
    released = officer.post(f"{API}/risk/kill_switch", {"on": False})
    assert released.status == 200 and released.body["limits"]["halted_because"] == "", released.body
    assert _filled(http, {**ORDER, "strategy_name": "confirmed"}) is None, roles.log("worker")[-3000:]


def test_a_send_still_hanging_while_redis_restarts_is_never_called_unsent(roles, http, role_env, private_redis):
    """The attack's find: Redis went away while a send hung past BROKER_CALL_TIMEOUT; the job's result was lost, and the
    worker's own recovery (the same process, its send still in flight) called the order "never sent" a moment before the
    broker placed it. A client that believed it would have sent it again."""
    private_redis.start(keep=True)
    role_env.update(REDIS_URL=private_redis.url, BROKER_CALL_TIMEOUT="1", CLOCK_OFFSET_SECONDS=str(TUESDAY.timestamp() - time.time()))
    roles.start("api")
    roles.start("worker", prelude=prelude("before", "hang:8"))
    wait_ready(http, roles)
    job_id = http.post(f"{API}/trade", HUNG_ORDER).body["job_id"]
    connection = private_redis.connection()
    assert wait_until(lambda: jobqueue.view(connection, job_id).status == "started", 20, 0.02), roles.log("worker")
    started = time.monotonic()  # the send follows at once, and hangs
    # the fault is its timing, so a wait on the clock is the scenario: Redis goes away after the send timed out (1 s),
    # while the job waits for the broker's word (1 s more) before it writes its result; half-way through that second
    assert wait_until(lambda: time.monotonic() - started > 1.5, 5)
    private_redis.kill()
    assert wait_until(lambda: "exception raised while executing" in roles.log("worker"), 15), roles.log("worker")  # the result lost
    private_redis.start(keep=True)  # back while the send still hangs (8 s): the worker's recovery finds the job it left

    def placed() -> dict | None:
        try:
            view = http.get(f"{API}/jobs/{job_id}").body
        except OSError:
            return None
        return view if (view.get("result") or {}).get("outcome") == "submitted" else None

    assert wait_until(placed, 30), (http.get(f"{API}/jobs/{job_id}").body, roles.log("worker")[-3000:])
    stages = [e.get("stage") for e in http.get(f"{API}/events", query="last=200").body["events"] if e.get("job_id") == job_id and e["kind"] == "job"]
    assert "not_submitted" not in stages and stages.count("unknown") <= 1 and stages.count("sent") == 1, stages
    assert "never sent" not in roles.log("worker"), roles.log("worker")[-3000:]
