"""Redis Sentinel with real processes: a master, one replica or two (deploy/'s layout), three sentinels, web + worker +
scheduler on the simulator.

The master SIGKILLed while orders come at 20 a second: with two replicas orders are accepted again as soon as the
sentinels have failed over; with one, once the old master is back as the new master's replica (nothing else can confirm
a write). Either way every order that got a 202 ends definite, none is at the broker twice, and the old master,
restarted, rejoins as a replica. The replica stopped: orders answer "unknown, poll the job" (503 with the job id) within
the wait, never a 202, and polling the job answers the same."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.chaos.run_chaos import AFTERNOON, _post
from tests.chaos.sentinel_stack import DOWN_AFTER_MS, SentinelStack
from tests.chaos.stack import ADMIN
from tests.support import SignedHttpClient, wait_until

API = "/qmt/trade/api"
RATE = 20.0  # orders a second
WAIT_MS = 500


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest):
    replicas = getattr(request, "param", 1)
    found = SentinelStack(tmp_path, AFTERNOON.timestamp() - time.time(), wait_ms=WAIT_MS, replicas=replicas, lease_seconds=5, call_timeout=3.0)
    try:
        found.start_redis()
        for role in ("api", "worker", "scheduler"):
            found.start_role(role)
        http = SignedHttpClient(found.base_url)
        assert wait_until(lambda: _health(http).get("ready") is True, 60, 0.2), f"not ready; logs in {tmp_path}"
        admin = SignedHttpClient(found.base_url, client_id=ADMIN["client_id"], secret=ADMIN["secret"])
        assert admin.request("PUT", f"{API}/risk", {"max_actions_per_second": 200, "max_actions_per_day": 100_000}).status == 200
        yield found
    finally:
        found.stop()


def _health(http: SignedHttpClient) -> dict:
    try:
        return http.get(f"{API}/health").body
    except OSError:
        return {}


class Orders:
    """Orders at RATE a second from a thread; each answer kept with when it was sent."""

    def __init__(self, stack: SentinelStack):
        self.stack = stack
        self.sent: list[dict] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        start, index = time.monotonic(), 0
        while not self.stop.is_set():
            index += 1
            self.stop.wait(max(0.0, start + index / RATE - time.monotonic()))
            body = {"trader_index": index % 2, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23, "strategy_name": f"f-{index}"}
            at = time.monotonic()
            status, answer, took = _post(self.stack.base_url, f"{API}/trade", body)
            self.sent.append({"at": at, "status": status, "job_id": answer.get("job_id"), "error": answer.get("error", ""), "took": took})

    def __enter__(self) -> Orders:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)


def _whole(stack: SentinelStack) -> bool:
    """Every sentinel names one master, and every other server is its replica."""
    master = stack.master_named()
    return master is not None and stack.sentinels_agree(master) and stack.replicas_of(master) == len(stack.replica_ports)


def _definite(http: SignedHttpClient, job_ids: list[str], seconds: float) -> dict[str, dict]:
    views: dict[str, dict] = {}

    def ended() -> bool:
        for job_id in job_ids:
            if job_id not in views:
                view = http.get(f"{API}/jobs/{job_id}").body
                if view.get("status") in ("finished", "failed", "expired") and isinstance(view.get("result"), dict):
                    views[job_id] = view
        return len(views) == len(job_ids)

    wait_until(ended, seconds, 0.5)
    return views


@pytest.mark.parametrize("stack", [1, 2], indirect=True, ids=["one-replica", "two-replicas"])
def test_the_master_killed_under_orders_fails_over_with_no_accepted_order_lost_or_doubled(stack):
    """Two replicas (deploy/'s layout): the other replica confirms at once, so orders are accepted again as soon as the
    sentinels name the new master. One replica: the new master has none to confirm writes (REDIS_WAIT_REPLICAS=1) until
    the old master is back as its replica; orders meanwhile answer "outcome unknown", never 202."""
    http = SignedHttpClient(stack.base_url)
    old_master = stack.master_port
    assert _health(http)["redis"]["master"] == f"127.0.0.1:{old_master}"
    assert wait_until(lambda: _health(http)["redis"]["replica_confirms"] is True, 10, 0.2)
    with Orders(stack) as orders:
        assert wait_until(lambda: sum(o["status"] == 202 for o in orders.sent) >= 40, 15, 0.1)
        killed = time.monotonic()
        stack.kill_server(old_master)
        assert wait_until(lambda: stack.master_named() in stack.replica_ports, 30, 0.05), "no failover"
        failed_over = time.monotonic() - killed
        promoted = stack.master_named()

        def worked_again() -> bool:  # an order accepted after the kill that the worker has since sent and settled
            later = [o["job_id"] for o in orders.sent if o["at"] > killed and o["status"] == 202]
            return bool(later) and http.get(f"{API}/jobs/{later[0]}").body.get("status") == "finished"

        two = len(stack.replica_ports) == 2
        accepting = taking_work = 0.0
        if two:
            assert wait_until(lambda: any(o["at"] > killed and o["status"] == 202 for o in orders.sent), 30, 0.05)
            accepting = min(o["at"] for o in orders.sent if o["at"] > killed and o["status"] == 202) - killed
            # the promise: orders are taken again once the sentinels have failed over (down-after plus the failover),
            # with room for a loaded machine; measured 2.3 s against 2.2-2.3 s for the sentinels
            assert accepting <= failed_over + 2.0, f"first 202 {accepting:.2f} s after the kill, failover at {failed_over:.2f} s"
            assert wait_until(worked_again, 60, 0.1), "the router did not take work again"
            taking_work = time.monotonic() - killed
        # restarted at once from its AOF, as its service manager would, the old master becomes the new master's replica
        restarted = time.monotonic()
        stack.start_server(old_master)
        # back to a master with every other server its replica; on a loaded machine the sentinels may fail over once more
        # (a new master silent for down-after), even back to the old master: what is checked below holds through that too
        assert wait_until(lambda: _whole(stack), 45, 0.1), f"the old master did not rejoin; logs in {stack.folder}"
        rejoined = time.monotonic() - killed
        if not two:  # with one replica, only now: the old master is the new master's replica that confirms writes
            assert wait_until(worked_again, 60, 0.1), "the router did not take work again"
            taking_work = time.monotonic() - killed
            accepting = min(o["at"] for o in orders.sent if o["at"] > killed and o["status"] == 202) - killed
        assert wait_until(lambda: sum(o["at"] > time.monotonic() - 2 and o["status"] == 202 for o in orders.sent) >= 20, 15, 0.1)
        if two and stack.master_named() == promoted:  # the old master's return went unnoticed: every order since its restart accepted
            assert all(o["status"] == 202 for o in orders.sent if o["at"] > restarted), "the rejoin was noticed"
    accepted = [o["job_id"] for o in orders.sent if o["status"] == 202]
    views = _definite(http, accepted, 60)
    unknown_without_tag = [j for j, v in views.items() if v["result"].get("outcome") == "unknown" and j not in (v["result"].get("error") or "")]
    assert set(views) == set(accepted) and not unknown_without_tag, "an accepted order is not definite"
    tags: dict[str, int] = {}
    for index in (0, 1):
        for order in http.post(f"{API}/orders", {"trader_index": index, "cancelable_only": False}).body["orders"]:
            tags[order["order_remark"]] = tags.get(order["order_remark"], 0) + 1
    assert not [t for t, n in tags.items() if n > 1], "an order at the broker twice"
    refused = [o for o in orders.sent if o["status"] != 202]
    assert all(o["status"] == 503 for o in refused), {o["status"] for o in refused}
    health = _health(http)["redis"]
    assert health["master"] == f"127.0.0.1:{stack.master_named()}" and health["replica_confirms"] is True
    print(f"\nfailover: sentinels named the new master {failed_over:.2f} s after the kill (down-after {DOWN_AFTER_MS} ms); first 202 again at "
          f"{accepting:.2f} s; old master back as a replica at {rejoined:.2f} s; the worker sent again at {taking_work:.2f} s; {len(orders.sent)} orders, {len(accepted)} accepted, {len(refused)} refused (503), "
          f"{sum(v['result'].get('outcome') == 'submitted' for v in views.values())} submitted, none lost or doubled")  # fmt: skip


def test_with_the_replica_stopped_orders_answer_unknown_within_the_wait_never_queued(stack):
    http = SignedHttpClient(stack.base_url)
    stack.kill_server(stack.replica_port)
    assert wait_until(lambda: _health(http)["redis"]["replica_confirms"] is False, 10, 0.2)
    answers = []
    for index in range(5):
        body = {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23, "strategy_name": f"r-{index}"}
        answers.append(_post(stack.base_url, f"{API}/trade", body))
    for status, answer, took in answers:
        assert status == 503 and answer["job_id"] and "did not confirm" in answer["error"], answer
        assert took < 2 * WAIT_MS / 1000 + 0.5  # measured up to 1.06 s at WAIT_MS=500: more than one wait per request (open)
    assert _health(http)["redis"]["replica_confirms"] is False
    # polling such a job is safe and tells nothing a failover could take back: 503 naming it again, never "queued"
    polled = http.get(f"{API}/jobs/{answers[0][1]['job_id']}")
    assert polled.status == 503 and polled.body["job_id"] == answers[0][1]["job_id"] and "did not confirm" in polled.body["error"], polled.body
    assert polled.body["retry_after"] == 1  # and the Retry-After header
    # a query changes nothing and needs no replica: it still answers, and the worker's heartbeat (which renews its lease
    # without waiting for the replicas: worker.failover asks them apart) never looks silent on the status page
    assert http.get(f"{API}/portfolio/0").status == 200
    beats: list[bool] = []

    def sampled() -> bool:  # as the status page asks, every 0.2 s
        beats.append(_health(http)["worker"]["silent"])
        return len(beats) >= 10

    assert wait_until(sampled, 15, 0.2) and not any(beats), beats
