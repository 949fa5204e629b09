"""What the door tells of a job with REDIS_WAIT_REPLICAS (Sentinel): only what a replica has confirmed, over fakeredis
with the replicas' answer stood in for (fakeredis has no WAIT), as tests/worker/test_lease.py does."""

from __future__ import annotations

import pytest

from api import create_app
from common.store import jobqueue, replication
from common.store.payloads import JobMeta, QueryPayload
from tests.support import make_settings, signed_headers


class Replicas:
    confirming = True
    waits = 0
    timeouts: list[int]


@pytest.fixture
def replicas(monkeypatch):
    found = Replicas()

    found.timeouts = []

    def run_confirmed(connection, confirm, write, script=None):
        found.waits += 1
        found.timeouts.append(confirm.timeout_ms)
        with connection.pipeline(transaction=False) as pipe:
            write(pipe)
            [reply] = pipe.execute()
        return reply, found.confirming

    monkeypatch.setattr(replication, "run_confirmed", run_confirmed)
    return found


@pytest.fixture
def confirming_app(fake_redis):
    return create_app(make_settings(REDIS_URL="redis://127.0.0.1:1/0", REDIS_WAIT_REPLICAS=1), fake_redis)


def get(client, path, query=""):
    return client.get(path + (f"?{query}" if query else ""), headers=signed_headers("GET", path, query=query))


def test_a_query_job_is_told_while_the_replica_is_away(confirming_app, fake_redis, replicas):
    """A query changes nothing and is queued without a replica (the door's _enqueue): its 503 says "poll the job". Polled,
    it must answer, not 503 until the replica is back: a failover taking its state back harms nothing."""
    job_id = jobqueue.enqueue(fake_redis, QueryPayload(what="accounts", meta=JobMeta(client_id="test-client")), 60)
    replicas.confirming = False
    answer = get(confirming_app.test_client(), f"/qmt/trade/api/jobs/{job_id}")
    assert answer.status_code == 200 and answer.get_json()["status"] == "queued", answer.get_json()


def _ended_not_sent(fake_redis) -> str:
    """An order job the worker ended "not_submitted" on the master, with no replica having its end (the fence's
    unconfirmed): a failover to the replica gives the job back, queued, and a worker there sends it."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from common.store import rq_model
    from tests.support import order_payload

    job_id = jobqueue.enqueue(fake_redis, order_payload(meta=JobMeta(client_id="test-client")), 86_400)
    job = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)
    result = {"outcome": "not_submitted", "error": "no Redis replica confirmed ...; never sent", "symbol": "600000.SH", "volume": 100}
    assert rq_model.finish_job(fake_redis, job, result, 86_400)
    return job_id


def test_the_waited_verdict_is_told_only_once_a_replica_has_it(confirming_app, fake_redis, replicas):
    """The old clients' answer (Prefer: wait, or their default wait) tells how an order ended, as GET /jobs/<id> does:
    an end only the master holds is not yet known, never "failed: never sent" (the client would send it again)."""
    from common.desk.callers import Caller, Queued

    job_id = _ended_not_sent(fake_redis)
    replicas.confirming = False
    desk = confirming_app.extensions["router"].desk
    known, missing = desk.verdicts_within(Caller("test-client", ("query", "trade")), Queued(((0, job_id),)), 0.2)
    assert known == [None] and missing, (known, missing)
    replicas.confirming = True
    known, missing = desk.verdicts_within(Caller("test-client", ("query", "trade")), Queued(((0, job_id),)), 0.2)
    assert [v.succeeded for v in known if v is not None] == [False] and not missing


def test_the_recent_jobs_list_tells_no_end_a_replica_has_not_confirmed(confirming_app, fake_redis, replicas):
    """GET /jobs (the status page's list, a client's latest jobs) tells each job's status and result, as GET /jobs/<id>."""
    from common.store import events
    from common.store.events import JobEvent

    job_id = _ended_not_sent(fake_redis)
    events.append(fake_redis, JobEvent(stage="accepted", job_id=job_id, client_id="test-client", account_id="SIM000001", account_index=0,
                                       side="buy", symbol="600000.SH", volume=100, price=10.0))  # fmt: skip
    replicas.confirming = False
    answer = get(confirming_app.test_client(), "/qmt/trade/api/jobs")
    told = [job for job in (answer.get_json() or {}).get("jobs", []) if job["job_id"] == job_id]
    assert answer.status_code == 503 or not told, answer.get_json()
    replicas.confirming = True
    assert [job["status"] for job in get(confirming_app.test_client(), "/qmt/trade/api/jobs").get_json()["jobs"]] == ["failed"]


def test_while_the_replica_is_away_a_poll_waits_for_it_briefly_then_in_full_once_it_is_back(confirming_app, fake_redis, replicas):
    """A crowd polling every second must not hold a web thread REDIS_WAIT_MS each while no replica answers: after an
    unconfirmed poll the next ones wait only POLL_AWAY_WAIT_MS (a replica that is back acknowledges within a round trip),
    and once one confirms, the full REDIS_WAIT_MS again."""
    from common.desk.reads import POLL_AWAY_WAIT_MS

    job_id = _ended_not_sent(fake_redis)
    client = confirming_app.test_client()
    replicas.confirming = False
    assert [get(client, f"/qmt/trade/api/jobs/{job_id}").status_code for _ in range(3)] == [503, 503, 503]
    replicas.confirming = True
    assert [get(client, f"/qmt/trade/api/jobs/{job_id}").status_code for _ in range(2)] == [200, 200]
    full = confirming_app.extensions["router"].desk.confirm.timeout_ms
    assert replicas.timeouts == [full, POLL_AWAY_WAIT_MS, POLL_AWAY_WAIT_MS, POLL_AWAY_WAIT_MS, full]
