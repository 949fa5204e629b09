"""The lean worker leaves in Redis what RQ's own SimpleWorker leaves (keys, hash fields, registries), in fewer round trips."""

from __future__ import annotations

import re

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.lean_worker import LeanWorker

pytestmark = pytest.mark.integration
RESULT_TTL = 600


def answer(number: int) -> dict:
    """The job both workers run."""
    return {"answer": number}


def _run_one(connection, worker_class: type[SimpleWorker], name: str) -> tuple[dict[str, set[str]], Job, tuple]:
    queue = Queue("lean-test", connection=connection, serializer=JSONSerializer)
    job = queue.enqueue_call(f"{__name__}.answer", args=(42,), result_ttl=RESULT_TTL, job_id=f"job-{name}")
    worker = worker_class([queue], connection=connection, serializer=JSONSerializer, name=f"worker-{name}")
    worker.work(burst=True, logging_level=None)
    kept: dict[str, set[str]] = {}
    for raw in connection.keys("*"):
        key = re.sub(rf"job-{name}|worker-{name}|[0-9a-f]{{32}}", "<id>", raw.decode())  # the job, the worker, an execution
        kind = connection.type(raw).decode()
        fields = {f.decode() for f in connection.hkeys(raw)} if kind == "hash" else {kind}
        kept[key] = kept.get(key, set()) | fields
    ran = Job.fetch(job.id, connection=connection, serializer=JSONSerializer)
    return kept, ran, (ran.get_status(), ran.return_value(), connection.ttl(ran.key))


def test_a_job_run_by_the_lean_worker_leaves_what_rqs_simple_worker_leaves(real_redis):
    rq_kept, _, rq_end = _run_one(real_redis, SimpleWorker, "rq")
    real_redis.flushdb()
    real_redis.config_resetstat()
    lean_kept, lean_job, lean_end = _run_one(real_redis, LeanWorker, "lean")
    commands = {name: stats["calls"] for name, stats in real_redis.info("commandstats").items()}

    assert lean_kept == rq_kept
    assert lean_end[:2] == rq_end[:2] == ("finished", {"answer": 42})
    assert lean_end[2] == pytest.approx(rq_end[2], abs=5)  # kept as long as RQ keeps a finished job
    assert lean_job.started_at and lean_job.ended_at and lean_job.ended_at >= lean_job.started_at
    assert "cmdstat_watch" not in commands  # the result's transaction needs no WATCH: the router's jobs have no dependents
