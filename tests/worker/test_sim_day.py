"""A simulator day roll run again (its worker died after rolling, before writing the result) rolls no further."""

from __future__ import annotations

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from common.store import jobqueue, keys
from common.store.payloads import SimDayPayload
from tests.support import make_settings, sim_prices_file
from worker.recovery import _requeue
from worker.runner import serve


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))


def test_a_day_roll_run_twice_moves_the_simulator_once(settings, fake_redis):
    job_id = jobqueue.enqueue(fake_redis, SimDayPayload(days=2), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)
    first = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)
    rolled_to = first.return_value()["day"]
    assert first.meta["roll_to"] == rolled_to

    _requeue(fake_redis, keys.QUERY_QUEUE, first)  # as the next worker's start-up does with a job left running
    serve(settings, fake_redis, burst=True)
    again = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)
    assert again.return_value()["day"] == rolled_to  # not two days further

    later = jobqueue.enqueue(fake_redis, SimDayPayload(days=1), settings.JOB_TTL)  # a new roll still moves on
    serve(settings, fake_redis, burst=True)
    assert Job.fetch(later, connection=fake_redis, serializer=JSONSerializer).return_value()["day"] > rolled_to
