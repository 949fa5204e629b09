"""Several QMT terminals with a worker each, and a standby worker that takes over one terminal.

Real processes on the real Redis, the simulator as each terminal's QMT (its books per qmt_path).
"""

from __future__ import annotations

import collections
import json
import signal
import time
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from common.rules import risk
from common.store import jobqueue, keys, risk_state
from common.store.payloads import QueryPayload
from tests.integration.conftest import Roles, wait_ready
from tests.support import order_deadline, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
TWO_TERMINALS = [
    {"account_id": "SIM000001", "nick_name": "a", "qmt_path": "D:/qmt-a/userdata_mini", "terminal": "a"},
    {"account_id": "SIM000002", "nick_name": "b", "qmt_path": "D:/qmt-b/userdata_mini", "terminal": "b"},
]
ENDED = ("finished", "failed", "expired")


def ran_on(connection, job_id: str) -> str:
    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).worker_name or ""


def start_worker(roles: Roles, name: str, *args: str, prelude: str | None = None):
    return roles.start("worker", *args, prelude=prelude, name=name)


def test_each_terminal_has_its_own_worker_and_a_fan_out_reaches_both(roles, http, role_env, real_redis):
    role_env["TRADER_CONFIGS"] = json.dumps(TWO_TERMINALS)
    roles.start("api")
    start_worker(roles, "worker-a", "--terminal", "a")
    start_worker(roles, "worker-b", "--terminal", "b")
    wait_ready(http, roles)

    one = http.post(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}).body["job_id"]
    two = http.post(f"{API}/buy", {"trader_index": 1, "symbol": "600000", "price": 10.0, "shares": 100}).body["job_id"]
    both = http.post(f"{API}/buy", {"symbol": "000001", "price": 11.0, "shares": 100}).body["job_ids"]
    for job_id in (one, two, *both):
        assert http.get(f"{API}/jobs/{job_id}", query="wait=10").body["status"] == "finished"
    assert "-a-" in ran_on(real_redis, one) and "-b-" in ran_on(real_redis, two)
    assert ["-a-" in ran_on(real_redis, both[0]), "-b-" in ran_on(real_redis, both[1])] == [True, True]
    assert [a["nick_name"] for a in http.get(f"{API}/accounts").body["accounts"]] == ["a", "b"]  # both terminals answer
    assert set(http.get(f"{API}/health").body["queues"]) >= {"order@a", "order@b", "cancel@a", "query@b"}

    roles.stop("worker-b")  # one terminal down: the other keeps trading
    again = http.post(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100, "strategy_name": "after"})
    assert http.get(f"{API}/jobs/{again.body['job_id']}", query="wait=10").body["status"] == "finished"
    waiting = http.post(f"{API}/buy", {"trader_index": 1, "symbol": "600000", "price": 10.0, "shares": 100, "strategy_name": "after"})
    assert http.get(f"{API}/jobs/{waiting.body['job_id']}").body["status"] == "queued"  # on b's queue, for b's worker only


def test_jobs_on_the_plain_queues_move_to_their_terminal_when_the_accounts_are_split(roles, http, role_env, real_redis):
    from common.store.payloads import OrderPayload

    # queued by a one-terminal deployment (plain queues), then the configuration names two terminals
    plain = [jobqueue.enqueue(real_redis, OrderPayload(account_index=i, account_id=f"SIM00000{i + 1}", symbol="600000.SH", order_type=23,
                                                       volume=100, price=10.0, price_type=0, xt_price_type=11, deadline=time.time() + 120), 86_400)
             for i in (0, 1)]  # fmt: skip
    role_env["TRADER_CONFIGS"] = json.dumps(TWO_TERMINALS)
    start_worker(roles, "worker-a", "--terminal", "a")
    start_worker(roles, "worker-b", "--terminal", "b")
    assert wait_until(lambda: all(jobqueue.view(real_redis, j).status == "finished" for j in plain), 30, 0.2)
    assert "-a-" in ran_on(real_redis, plain[0]) and "-b-" in ran_on(real_redis, plain[1])


def _standby_env(role_env) -> None:
    role_env.update(WORKER_LEASE_SECONDS="4", WORKER_DEQUEUE_BLOCK="2")


def lease_holder(connection) -> bytes | None:
    return connection.get(keys.worker_lease("default"))


def test_a_standby_takes_over_a_killed_worker_with_orders_in_flight_and_none_doubled(roles, http, role_env, real_redis):
    _standby_env(role_env)
    risk_state.save(real_redis, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=0))
    roles.start("api")
    active = start_worker(roles, "worker-active")
    wait_ready(http, roles)
    held_by_active = lease_holder(real_redis)
    start_worker(roles, "worker-standby")
    assert wait_until(lambda: "standby" in roles.log("worker-standby"), 20, 0.1)  # the standby waits

    job_ids = [http.post(f"{API}/buy", {"trader_index": i % 2, "symbol": "600000", "price": 9.6, "shares": 100, "strategy_name": f"f{i}"})
               .body["job_id"] for i in range(100)]  # fmt: skip
    assert wait_until(lambda: sum(jobqueue.view(real_redis, j).status in ENDED for j in job_ids) >= 10, 20, 0.05)
    active.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_until(lambda: lease_holder(real_redis) not in (None, held_by_active), 15, 0.1)
    # the promise: the standby takes over once the lease lapses. The lease (4 s, renewed every 2 s) lapses 2 to 4 s after
    # the kill and the standby asks every 0.5 s: 4.5 s at most; the bound leaves 2.5 s more for a loaded machine
    took = time.monotonic() - killed_at
    assert took <= 4 + 3, f"the standby took {took:.1f} s: longer than the lease plus its poll and a margin"
    assert wait_until(lambda: all(jobqueue.view(real_redis, j).status in ENDED for j in job_ids), 90, 0.5)

    tags: collections.Counter[str] = collections.Counter()
    order_times: dict[str, int] = {}
    for index in (0, 1):
        query = jobqueue.wait(real_redis, jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=index), 600), 20)
        for order in query.result:
            tags[order["order_remark"]] += 1
            order_times[order["order_remark"]] = order["order_time"]
    assert max(tags.values()) == 1, "an order reached the broker twice"
    for job_id in job_ids:
        view = jobqueue.view(real_redis, job_id)
        if view.result and view.result.get("outcome") == "submitted":
            assert tags[job_id] == 1 and order_times[job_id] <= order_deadline(real_redis, job_id) + 1  # never sent late
        else:
            assert tags[job_id] == 0 and view.error, view


PAUSE_BEFORE_SEND = """
import os, signal
import worker.fence as fence
checked = fence.before_send
def paused_then_checked(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGSTOP)  # stopped right before the fence and the send; a test's SIGCONT wakes it
    return checked(*args, **kwargs)
fence.before_send = paused_then_checked
"""


@pytest.mark.parametrize("where", ["between jobs", "inside a job before its send"])
def test_a_paused_active_worker_that_wakes_after_the_takeover_sends_nothing(roles, http, role_env, real_redis, where):
    _standby_env(role_env)
    roles.start("api")
    active = start_worker(roles, "worker-active", prelude=PAUSE_BEFORE_SEND if where != "between jobs" else None)
    wait_ready(http, roles)
    held_by_active = lease_holder(real_redis)

    first = None
    if where == "between jobs":
        active.send_signal(signal.SIGSTOP)
    else:  # the worker stops itself in the job, right before it checks its lease and sends
        first = http.post(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100, "strategy_name": "paused"}).body[
            "job_id"
        ]
        assert wait_until(lambda: jobqueue.view(real_redis, first).status == "started", 10, 0.05)
        assert wait_until(lambda: Path(f"/proc/{active.pid}/stat").read_text().split()[2] == "T", 10, 0.05)
    start_worker(roles, "worker-standby")
    assert wait_until(lambda: lease_holder(real_redis) not in (None, held_by_active), 20, 0.1)
    after = http.post(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100, "strategy_name": "after"}).body["job_id"]
    assert http.get(f"{API}/jobs/{after}", query="wait=15").body["status"] == "finished"
    if first is not None:  # the standby's start-up reconciliation settled the paused job by its tag: never sent
        settled = jobqueue.view(real_redis, first)
        assert settled.result["outcome"] == "not_submitted" and "never sent" in settled.result["error"]

    active.send_signal(signal.SIGCONT)
    # the woken worker finds another holding the lease: it stands by (no exit, so a Procfile's other roles go on)
    assert wait_until(lambda: "stands by" in roles.log("worker-active"), 30, 0.1), roles.log("worker-active")
    assert active.poll() is None, "the woken worker exited instead of standing by"
    # the woken worker's blocking pop may still be waiting in Redis and take the query; standing by, it leaves it, and the
    # active worker's orphan watch puts it back within two scans (ORPHAN_SCAN_SECONDS each): wait for the answer
    query_id = jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=0), 600)
    assert wait_until(lambda: jobqueue.view(real_redis, query_id).status == "finished", 90, 0.2), jobqueue.view(real_redis, query_id)
    remarks = [o["order_remark"] for o in jobqueue.view(real_redis, query_id).result]
    assert remarks == [after], remarks  # the paused worker sent nothing, before or after it woke
    if first is not None:
        assert jobqueue.view(real_redis, first).result["outcome"] == "not_submitted"

    if where != "between jobs":
        return  # this one pauses itself before every send (its prelude): it cannot show a send after taking over
    roles.processes["worker-standby"].kill()  # the standby dies: the worker that stood by takes the terminal back
    assert wait_until(lambda: _holder_pid(real_redis) == active.pid, 20, 0.1), lease_holder(real_redis)
    again = http.post(f"{API}/buy", {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100, "strategy_name": "again"}).body["job_id"]
    assert http.get(f"{API}/jobs/{again}", query="wait=15").body["status"] == "finished"


def _holder_pid(real_redis) -> int | None:
    """The pid in the lease's token (host:pid:random), or None when nobody holds it."""
    holder = lease_holder(real_redis)
    return int(holder.decode().split(":")[1]) if holder else None
