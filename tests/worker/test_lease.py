"""The worker's lease and fence when replicas must confirm them (REDIS_WAIT_REPLICAS; worker.lease, worker.fence,
worker.failover), over fakeredis with the replicas' answer stood in for: fakeredis has no WAIT."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from common.desk.callers import Caller
from common.desk.submission import Desk
from common.rules.exceptions import EnqueueUnanswered
from common.rules.order_request import OrderRequest, Shares
from common.rules.orders import BUY
from common.store import jobqueue, keys, replication
from common.store.payloads import QueryPayload
from common.store.replication import Confirm
from common.store.scripts import fences
from tests.support import make_settings, order_payload, wait_until
from worker import fence
from worker.failover import FailoverWatch
from worker.lease import Lease

CONFIRM = Confirm(1, 500)


@dataclass
class Replicas:
    """What the replicas answer, as a test sets it: `confirming` a WAIT, `syncing` (one coming back); every wait asked."""

    confirming: bool = True
    syncing: bool = False
    waits: list[Confirm] = field(default_factory=list)


@pytest.fixture
def replicas(monkeypatch) -> Replicas:
    """The command runs on fakeredis as it would on a master; what the replicas say is the test's (fakeredis has no WAIT)."""
    found = Replicas()

    def run_confirmed(connection, confirm, write, script=None):
        if script is not None:
            connection.script_load(script)
        with connection.pipeline(transaction=False) as pipe:
            write(pipe)
            [reply] = pipe.execute()
        found.waits.append(confirm)
        return reply, found.confirming

    monkeypatch.setattr(replication, "run_confirmed", run_confirmed)
    monkeypatch.setattr(replication, "replica_syncing", lambda connection: found.syncing)
    return found


def test_a_renewal_never_waits_for_a_replica_and_the_watch_asks_them_apart(fake_redis, replicas):
    """The heartbeat renews the lease; a WAIT of REDIS_WAIT_MS on a silent replica there would make the worker look silent
    on the status page (a beat older than 0.9 s). The failover watch's thread asks the replicas instead."""
    lease = Lease(fake_redis, "qmt:worker:lease:t", 10, CONFIRM)
    assert lease.acquire(threading.Event()) and len(replicas.waits) == 1  # taken only once a replica has it
    asked = len(replicas.waits)
    assert lease.renew() and lease.renew() and len(replicas.waits) == asked  # no WAIT in the beat
    replicas.confirming = False
    assert not lease.check_replicas() and lease.confirmed is False
    replicas.confirming = True
    assert lease.check_replicas() and lease.confirmed is True
    fake_redis.set("qmt:worker:lease:t", "another worker")
    assert not lease.check_replicas()  # confirmed, but not this worker's


def test_the_failover_watch_asks_the_replicas_about_the_lease_at_each_look(fake_redis, replicas, monkeypatch):
    monkeypatch.setattr("common.store.sentinel.server_id", lambda connection: "a" * 40)  # fakeredis has no INFO
    lease = Lease(fake_redis, "qmt:worker:lease:t", 10, CONFIRM)
    assert lease.acquire(threading.Event())
    replicas.confirming = False
    watch = FailoverWatch(fake_redis, lease, every=0.01).start()
    try:
        assert wait_until(lambda: lease.confirmed is False, 5)
        replicas.confirming = True
        assert wait_until(lambda: lease.confirmed is True, 5)
    finally:
        watch.stop()
    assert not watch.moved.is_set()


def _job(connection, status: JobStatus) -> Job:
    job_id = jobqueue.enqueue(connection, order_payload(), 86_400)
    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    job.set_status(status)
    return job


def test_the_fence_sends_only_a_job_started_on_the_server_that_answers(fake_redis, replicas):
    """A job taken from a master that died before its replicas had the pop and the start is still queued on the promoted
    one, to be taken again there: its first run, if it reached the fence after the failover, must not send it."""
    lease = Lease(fake_redis, "qmt:worker:lease:t", 10, CONFIRM)
    assert lease.acquire(threading.Event())
    queued, started = _job(fake_redis, JobStatus.QUEUED), _job(fake_redis, JobStatus.STARTED)
    fence_args = (fake_redis, lease.key, lease.token, "", CONFIRM)
    assert fences.before_send(*fence_args, job_key=started.key) == ("ok", "")
    assert fences.before_send(*fence_args, job_key=queued.key) == ("unstarted", "queued")
    assert fences.before_send(*fence_args, job_key=Job.key_for("o0000000000000000")) == ("unstarted", "")
    assert fences.before_send(fake_redis, lease.key, lease.token, "", None, job_key=queued.key) == ("ok", "")  # no replicas: as before


def test_the_worker_fence_names_the_running_job_and_refuses_one_not_started(fake_redis, replicas, monkeypatch):
    lease = Lease(fake_redis, "qmt:worker:lease:t", 10, CONFIRM)
    assert lease.acquire(threading.Event())
    running = [_job(fake_redis, JobStatus.QUEUED)]
    monkeypatch.setattr(fence, "get_current_job", lambda: running[0])
    assert fence.before_send(fake_redis, lease, "") == ("unconfirmed", "queued")
    running[0] = _job(fake_redis, JobStatus.STARTED)
    assert fence.before_send(fake_redis, lease, "") == ("ok", "")
    replicas.confirming = False
    assert fence.before_send(fake_redis, lease, "") == ("unconfirmed", "")


def test_orders_wait_for_a_replica_and_queries_do_not(fake_redis, replicas):
    """A query is safe to ask again and changes nothing: with the replica away it is still queued (and answered by the
    worker), while an order answers 'outcome unknown'."""
    replicas.confirming = False
    desk = Desk(make_settings(REDIS_URL="redis://127.0.0.1:17001/0", REDIS_WAIT_REPLICAS=1), fake_redis)
    caller = Caller(client_id="c", scopes=("trade", "cancel", "query"))
    with pytest.raises(EnqueueUnanswered) as unknown:
        desk.place(caller, 0, OrderRequest("600000.SH", BUY, Shares(100), 10.0))
    assert "did not confirm" in unknown.value.message and len(replicas.waits) == 1
    job_id = desk._query_job(caller, QueryPayload(what="asset", account_index=0))  # noqa: SLF001 - the Desk's own enqueue for queries
    assert jobqueue.view(fake_redis, job_id).status == "queued" and len(replicas.waits) == 1
    assert fake_redis.llen(f"rq:queue:{keys.QUERY_QUEUE}") == 1


def test_while_no_replica_confirms_a_send_waits_only_as_long_as_its_intake_did(fake_redis, replicas, monkeypatch):
    """With the replica away, each send's own REDIS_WAIT_MS would hold the worker that long an order: the orders queued
    meanwhile would be sent late and the queries behind them go unanswered. So a send waits only until its intake stopped
    waiting (queued + REDIS_WAIT_MS: never refusing an order its intake answered 202), an older one AWAY_WAIT_MS, one
    with a replica coming back in full; one confirmed send restores the full wait."""
    lease = Lease(fake_redis, "qmt:worker:lease:t", 10, CONFIRM)
    assert lease.acquire(threading.Event())
    job = _job(fake_redis, JobStatus.STARTED)
    monkeypatch.setattr(fence, "get_current_job", lambda: job)
    replicas.confirming = False
    assert fence.before_send(fake_redis, lease, "")[0] == "unconfirmed" and replicas.waits[-1].timeout_ms == 500
    assert fence.before_send(fake_redis, lease, "")[0] == "unconfirmed" and 400 < replicas.waits[-1].timeout_ms <= 500  # its intake's
    later = job.enqueued_at + timedelta(seconds=2)  # an order its intake answered "outcome unknown" long ago
    monkeypatch.setattr(fence, "now", lambda: later)
    assert fence.before_send(fake_redis, lease, "")[0] == "unconfirmed" and replicas.waits[-1].timeout_ms == fence.AWAY_WAIT_MS
    replicas.syncing = True  # a replica coming back: this send waits as long as an intake does
    assert fence.before_send(fake_redis, lease, "")[0] == "unconfirmed" and [w.timeout_ms for w in replicas.waits[-2:]] == [fence.AWAY_WAIT_MS, 500]
    replicas.syncing = False
    replicas.confirming = True
    assert fence.before_send(fake_redis, lease, "") == ("ok", "") and replicas.waits[-1].timeout_ms == fence.AWAY_WAIT_MS
    assert fence.before_send(fake_redis, lease, "") == ("ok", "") and replicas.waits[-1].timeout_ms == 500
