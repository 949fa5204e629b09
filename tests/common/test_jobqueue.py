"""How a job reads to clients: the order's latest broker state wins over the snapshot the job ended with."""

from __future__ import annotations

import json

from common.store import jobqueue, keys
from tests.support import order_payload


def _finish_with(connection, result: dict) -> str:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    job_id = jobqueue.enqueue(connection, order_payload(), 86_400)
    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    job.set_status("finished")
    job._result = result
    job.save()
    from rq.results import Result

    Result.create(job, Result.Type.SUCCESSFUL, ttl=86_400, return_value=result)
    return job_id


def test_a_fill_reported_after_the_job_ended_shows_in_the_result(fake_redis):
    job_id = _finish_with(fake_redis, {"outcome": "submitted", "order_id": 7, "status": "reported", "order_status": 50, "traded_volume": 0})
    fake_redis.set(
        keys.order_state(job_id), json.dumps({"order_id": 7, "order_status": 56, "status": "filled", "traded_volume": 100, "traded_price": 10.0})
    )
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished"
    assert (view.result["status"], view.result["traded_volume"], view.result["traded_price"]) == ("filled", 100, 10.0)


def test_a_rejection_reported_after_the_job_ended_fails_the_job(fake_redis):
    job_id = _finish_with(fake_redis, {"outcome": "submitted", "order_id": 8, "status": "reported", "order_status": 50})
    fake_redis.set(keys.order_state(job_id), json.dumps({"order_id": 8, "order_status": 57, "status": "rejected", "status_msg": "资金不足"}))
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and view.error == "资金不足"
