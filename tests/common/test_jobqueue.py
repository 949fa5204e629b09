"""How a job reads to clients: the order's latest broker state wins over the snapshot the job ended with."""

from __future__ import annotations

import json

from common.store import jobqueue, keys, rq_model
from tests.support import order_payload


def _finish_with(connection, result: dict) -> str:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    job_id = jobqueue.enqueue(connection, order_payload(), 86_400)
    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    rq_model.finish_job(connection, job, result, 86_400)  # as a worker finishing it would
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


def _lost_job(connection) -> str:
    """A job taken off its queue that never reached a worker (the pop's answer was lost)."""
    job_id = jobqueue.enqueue(connection, order_payload(), 86_400)
    connection.lpop(jobqueue.queue(connection, keys.ORDER_QUEUE).key)
    return job_id


def _what_a_queue_holds(connection, job_id: str) -> dict:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    listed = [raw.decode() for raw in connection.lrange(jobqueue.queue(connection, keys.ORDER_QUEUE).key, 0, -1)]
    return {
        "status": job.get_status(), "origin": job.origin, "position": listed.index(job_id), "queued": len(listed),
        "queues": sorted(q.decode() for q in connection.smembers("rq:queues")), "ttl_set": connection.ttl(job.key) > 0,
        "payload": job.kwargs, "func": job.func_name,
    }  # fmt: skip


def test_a_requeue_writes_what_rqs_own_enqueue_job_writes(fake_redis):
    """Recovery's requeue (common.store.scripts.enqueue.REQUEUE_LUA) against RQ's Queue.enqueue_job(at_front=True)."""
    import fakeredis
    from rq.job import Job
    from rq.serializers import JSONSerializer

    by_rq = fakeredis.FakeRedis(server=fakeredis.FakeServer(version=(7, 0)))
    lost_rq, lost_ours = _lost_job(by_rq), _lost_job(fake_redis)
    jobqueue.enqueue(by_rq, order_payload(), 86_400), jobqueue.enqueue(fake_redis, order_payload(), 86_400)  # one waits behind
    job = Job.fetch(lost_rq, connection=by_rq, serializer=JSONSerializer)
    jobqueue.queue(by_rq, keys.ORDER_QUEUE).enqueue_job(job, at_front=True)
    assert jobqueue.requeue(fake_redis, lost_ours, keys.ORDER_QUEUE)
    theirs, ours = _what_a_queue_holds(by_rq, lost_rq), _what_a_queue_holds(fake_redis, lost_ours)
    assert ours == {**theirs, "payload": ours["payload"]} and ours["position"] == 0 and ours["status"] == "queued"
    assert fake_redis.zscore(keys.PENDING_JOBS, lost_ours) is not None  # watched again


def test_a_move_to_a_terminals_queue_happens_once(fake_redis):
    job_id = jobqueue.enqueue(fake_redis, order_payload(), 86_400)
    assert jobqueue.requeue(fake_redis, job_id, "orders@t1", taken_from=keys.ORDER_QUEUE)
    assert not jobqueue.requeue(fake_redis, job_id, "orders@t1", taken_from=keys.ORDER_QUEUE)  # a second worker finds it gone
    assert fake_redis.lrange(jobqueue.queue(fake_redis, "orders@t1").key, 0, -1) == [job_id.encode()]
    assert fake_redis.llen(jobqueue.queue(fake_redis, keys.ORDER_QUEUE).key) == 0


def _lose_the_enqueue_answer(patch, state: dict) -> None:
    """Redis runs the first enqueue script sent, and its answer is lost with the link (the connection dropped):
    `state["answered"]` turns True then."""
    import redis
    from redis.connection import Connection

    real_send, real_read = Connection.send_command, Connection.read_response
    last = {"command": ""}

    def sending(self, *args, **kwargs):
        last["command"] = str(args[0]).upper() if args else ""
        return real_send(self, *args, **kwargs)

    def lost_answer(self, *args, **kwargs):
        if not state["answered"] and last["command"] in ("EVALSHA", "EVAL"):
            real_read(self, *args, **kwargs)  # Redis ran the enqueue script; its answer never reaches the web
            state["answered"] = True
            self.disconnect()  # the link is gone
            raise redis.ConnectionError("Connection closed by server.")
        return real_read(self, *args, **kwargs)

    patch.setattr(Connection, "send_command", sending)
    patch.setattr(Connection, "read_response", lost_answer)


def test_an_enqueue_whose_answer_is_lost_when_redis_goes_away_is_unknown_never_not_queued(redis_url, real_redis, monkeypatch):
    """Redis runs the enqueue, then goes away before its answer is read (a shutdown, a dropped link); redis-py retries,
    cannot connect, and raises "cannot connect". The job IS queued: the answer must say its outcome is unknown, with its
    id to poll, never "Redis did not accept the job" (a client told nothing was queued sends the order again)."""
    from redis.connection import Connection

    from common.rules.exceptions import EnqueueUnanswered
    from common.store import connections
    from tests.support import make_settings

    connection = connections.connect(make_settings(REDIS_URL=redis_url))
    connection.ping()  # a pooled connection, as a web thread holds one
    real_connect = Connection._connect  # noqa: SLF001 - the socket's opening, where a gone Redis refuses
    state = {"answered": False}

    def refused(self, *args, **kwargs):  # the socket cannot be opened: Redis is gone
        if state["answered"]:
            raise ConnectionRefusedError(111, "Connection refused")
        return real_connect(self, *args, **kwargs)

    payload = order_payload()
    with monkeypatch.context() as patched:
        _lose_the_enqueue_answer(patched, state)
        patched.setattr(Connection, "_connect", refused)
        try:
            jobqueue.enqueue(connection, payload, 86_400, job_id="o-lost-answer-1")
            raise AssertionError("the enqueue answered although its answer was lost")
        except EnqueueUnanswered as unknown:
            assert unknown.details["job_id"] == "o-lost-answer-1" and "unknown" in unknown.message
    assert jobqueue.exists(real_redis, "o-lost-answer-1"), "the job was queued: the answer said so rightly as unknown"


def test_an_enqueue_that_never_reaches_redis_says_nothing_was_queued(redis_url, monkeypatch):
    """When no connection can be made at all, nothing was sent: "Redis did not accept the job" stays the true answer."""
    from redis.connection import Connection

    from common.rules.exceptions import EnqueueUnanswered, StoreUnavailable
    from common.store import connections
    from tests.support import make_settings

    connection = connections.connect(make_settings(REDIS_URL=redis_url))

    def refused(self, *args, **kwargs):  # the socket cannot be opened: Redis is gone
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(Connection, "_connect", refused)
    try:
        jobqueue.enqueue(connection, order_payload(), 86_400, job_id="o-never-sent-1")
        raise AssertionError("the enqueue answered without Redis")
    except EnqueueUnanswered:
        raise AssertionError("called unknown although nothing reached Redis") from None
    except StoreUnavailable as refusal:
        assert "did not accept" in refusal.message


def test_an_enqueue_retried_by_redis_py_after_its_answer_was_lost_is_queued_once_and_said_so(redis_url, real_redis, monkeypatch):
    """The link drops after Redis ran the enqueue, Redis stays up: redis-py reconnects and runs it again, which finds the
    job (its own first run). That is this request's job, queued once: answered as queued, never "exists already"."""

    from common.store import connections
    from tests.support import make_settings

    connection = connections.connect(make_settings(REDIS_URL=redis_url))
    connection.ping()
    state = {"answered": False}
    _lose_the_enqueue_answer(monkeypatch, state)
    assert jobqueue.enqueue(connection, order_payload(), 86_400, job_id="o-lost-answer-2") == "o-lost-answer-2"
    assert state["answered"] and real_redis.llen(f"rq:queue:{keys.ORDER_QUEUE}") == 1  # queued once
