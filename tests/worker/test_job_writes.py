"""What an order job writes, and against what it checks: the stored risk limits (never only the ones this process
remembers), and its audit entry and closing event once — also when the answer to RQ's result transaction is lost."""

from __future__ import annotations

import fakeredis
import pytest
import redis
from redis.client import Pipeline
from rq.job import Job
from rq.serializers import JSONSerializer

from common.rules import risk
from common.store import jobqueue, keys, risk_state
from tests.support import make_settings, order_payload, sim_prices_file
from worker.runner import serve


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))


def _result(connection, job_id: str) -> dict:
    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).return_value()


def test_a_kill_switch_released_by_another_process_no_longer_stops_this_worker(settings):
    server = fakeredis.FakeServer(version=(7, 0))
    worker_side, admin_side = fakeredis.FakeRedis(server=server), fakeredis.FakeRedis(server=server)
    risk_state.save(worker_side, risk.RiskLimits(kill_switch=True))  # this process saw the switch thrown
    halted = jobqueue.enqueue(worker_side, order_payload(), settings.JOB_TTL)
    serve(settings, worker_side, burst=True)
    assert _result(worker_side, halted)["outcome"] == "not_submitted"

    admin_side.set(keys.RISK_LIMITS, risk.RiskLimits().model_dump_json())  # released by another process
    sent = jobqueue.enqueue(worker_side, order_payload(strategy_name="after"), settings.JOB_TTL)
    serve(settings, worker_side, burst=True)
    assert _result(worker_side, sent)["outcome"] == "submitted"


def test_the_audit_entry_and_closing_event_are_written_once_when_the_result_answer_is_lost(settings, fake_redis, monkeypatch):
    risk_state.save(fake_redis, risk.RiskLimits(blocked_symbols=["600000.SH"]))  # refused in the worker: it has a closing event
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    real, lost = Pipeline.execute, []

    def answer_lost(self, raise_on_error=True):
        result_transaction = self.transaction and any(command[0][0] == "XADD" for command in self.command_stack)
        applied = real(self, raise_on_error)  # (it empties the command stack)
        if not lost and result_transaction:
            lost.append(1)  # RQ's result transaction ran, and its answer did not come back
            raise redis.TimeoutError("Timeout reading from socket")
        return applied

    monkeypatch.setattr(Pipeline, "execute", answer_lost)
    serve(settings, fake_redis, burst=True)
    monkeypatch.setattr(Pipeline, "execute", real)
    assert lost
    audit = [f for _, f in fake_redis.xrange(keys.AUDIT_STREAM) if job_id.encode() in f[b"entry"]]
    closing = [f for _, f in fake_redis.xrange(keys.EVENTS_STREAM) if job_id.encode() in f[b"body"] and b"not_submitted" in f[b"body"]]
    assert (len(audit), len(closing)) == (1, 1)


def test_a_dropped_and_restored_session_records_its_connection_events(fake_redis):
    """on_disconnected / on_connected write their events (they raised TypeError on the callback thread, unrecorded)."""
    from common.store import events
    from worker.callbacks import OrderEventRecorder

    recorder = OrderEventRecorder(fake_redis, 86_400)
    recorder.on_disconnected()
    recorder.on_connected()
    assert [event.kind for _, event in events.read(fake_redis)] == ["disconnected", "connected"]
