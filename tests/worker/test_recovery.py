"""A worker that dies mid-order: on restart its jobs are settled against the broker by tag, never resent."""

from __future__ import annotations

from datetime import UTC

import pytest
from rq.serializers import JSONSerializer

from common.store import events, jobqueue, keys
from common.store.payloads import QueryPayload
from tests.support import make_settings, order_payload, sim_prices_file
from worker.callbacks import OrderEventRecorder
from worker.runner import RouterWorker, serve
from worker.sim import SimTrader
from worker.xtquant_sdk import xttype


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))


def crash(settings, connection, reached_broker: bool, **order) -> str:
    """A worker takes an order job (`order_payload(**order)`) and dies (before or after sending it): the job stays in the
    started registry."""
    job_id = jobqueue.enqueue(connection, order_payload(**order), settings.JOB_TTL)
    dead = RouterWorker(
        [jobqueue.queue(connection, name) for name in keys.QUEUES_BY_PRIORITY], connection=connection, serializer=JSONSerializer, name="dead-worker"
    )
    job, _ = dead.dequeue_job_and_maintain_ttl(timeout=1)
    dead.prepare_execution(job)
    dead.prepare_job_execution(job)
    if reached_broker:
        placed_at_the_broker(settings, job.id)
    assert jobqueue.view(connection, job_id).status == "started"
    return job_id


def placed_at_the_broker(settings, tag: str) -> None:
    """An order tagged `tag` at the simulated broker, as a worker's send (now gone with it) left it."""
    trader = SimTrader(settings.SIM_DATA_DIR, 1, prices_file=settings.SIM_PRICES_FILE)
    trader.start()
    trader.connect()
    trader.order_stock(xttype.StockAccount("SIM000001"), "600000.SH", 23, 100, 11, 10.0, "", tag)
    trader.stop()


def created_at(connection, job_id: str) -> float:
    """The job's order's created_at: with the tag, what names one job (an id can come again: an idempotency key reused)."""
    from rq.job import Job

    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).kwargs["payload"]["meta"]["created_at"]


def the_only_order(settings):
    """The one order at the simulated broker, as its callback would push it (an XtOrder)."""
    trader = SimTrader(settings.SIM_DATA_DIR, 2, prices_file=settings.SIM_PRICES_FILE)
    trader.start()
    trader.connect()
    [placed] = trader.query_stock_orders(xttype.StockAccount("SIM000001"), False)
    trader.stop()
    return placed


def orders(settings, connection) -> list[dict]:
    job_id = jobqueue.enqueue(connection, QueryPayload(what="orders", account_index=0), settings.JOB_TTL)
    serve(settings, connection, burst=True)
    return jobqueue.view(connection, job_id).result


def test_an_order_that_reached_the_broker_is_recorded_submitted_not_resent(settings, fake_redis):
    job_id = crash(settings, fake_redis, reached_broker=True)
    serve(settings, fake_redis, burst=True)  # the restarted worker
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished" and view.result["outcome"] == "submitted" and view.result["order_id"] > 0
    assert [o["order_remark"] for o in orders(settings, fake_redis)] == [job_id]  # exactly once at the broker


def test_recovery_never_tells_again_a_state_the_brokers_callbacks_told(settings, fake_redis):
    """The chaos run's find: Redis went down between a job's send and the write of its result; recovery settled the job
    and told the order's state (filled) although the order's own callback had told it: filled, twice."""
    job_id = crash(settings, fake_redis, reached_broker=True)
    placed = the_only_order(settings)
    OrderEventRecorder(fake_redis, settings.JOB_TTL).on_stock_order(placed)  # what the worker's callback told before Redis went
    serve(settings, fake_redis, burst=True)
    assert jobqueue.view(fake_redis, job_id).result["outcome"] == "submitted"
    told = [e for _, e in events.read(fake_redis) if e.kind == "order" and getattr(e, "job_id", "") == job_id]
    assert [e.order_status for e in told] == [placed.order_status], told


def test_recovery_never_tells_again_a_state_whose_event_was_still_waiting_for_redis(settings, fake_redis):
    """The next chaos run's find: Redis refused the callback's event (kept to write later) and the state written beside
    it; recovery saw no state told and told it, then the kept event was written too: filled, twice."""
    job_id = crash(settings, fake_redis, reached_broker=True)
    placed = the_only_order(settings)
    fake_redis.connection_pool.connection_kwargs["server"].connected = False  # Redis down while the callback is told
    OrderEventRecorder(fake_redis, settings.JOB_TTL).on_stock_order(placed)
    fake_redis.connection_pool.connection_kwargs["server"].connected = True
    serve(settings, fake_redis, burst=True)
    told = [e for _, e in events.read(fake_redis) if e.kind == "order" and getattr(e, "job_id", "") == job_id]
    assert [e.order_status for e in told] == [placed.order_status], told


def test_an_order_that_never_reached_the_broker_is_recorded_not_submitted(settings, fake_redis):
    job_id = crash(settings, fake_redis, reached_broker=False)
    serve(settings, fake_redis, burst=True)
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "failed" and view.result["outcome"] == "not_submitted" and "never sent" in view.error
    assert orders(settings, fake_redis) == []


def test_a_query_left_running_is_run_again(settings, fake_redis):
    job_id = jobqueue.enqueue(fake_redis, QueryPayload(what="accounts"), settings.JOB_TTL)
    dead = RouterWorker([jobqueue.queue(fake_redis, keys.QUERY_QUEUE)], connection=fake_redis, serializer=JSONSerializer, name="dead")
    job, _ = dead.dequeue_job_and_maintain_ttl(timeout=1)
    dead.prepare_execution(job)
    dead.prepare_job_execution(job)
    serve(settings, fake_redis, burst=True)
    view = jobqueue.view(fake_redis, job_id)
    assert view.status == "finished" and len(view.result) == 2


def test_an_order_taken_off_the_queue_but_never_started_runs_once(settings, fake_redis):
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    dead = RouterWorker(
        [jobqueue.queue(fake_redis, name) for name in keys.QUEUES_BY_PRIORITY], connection=fake_redis, serializer=JSONSerializer, name="dead"
    )
    dead.dequeue_job_and_maintain_ttl(timeout=1)  # killed right after taking it
    assert jobqueue.queue(fake_redis, keys.ORDER_QUEUE).count == 0 and jobqueue.view(fake_redis, job_id).status == "queued"
    serve(settings, fake_redis, burst=True)
    assert jobqueue.view(fake_redis, job_id).status == "finished"
    assert [o["order_remark"] for o in orders(settings, fake_redis)] == [job_id]


def test_a_running_worker_requeues_a_job_lost_between_queue_and_worker_only_after_a_full_scan(settings, fake_redis):
    from worker.recovery import OrphanWatch

    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    fake_redis.lpop(jobqueue.queue(fake_redis, keys.ORDER_QUEUE).key)  # popped; the answer never reached a worker
    watch = OrphanWatch(fake_redis)
    assert watch.scan() == {}  # a worker may be about to start it: only a suspect
    assert jobqueue.queue(fake_redis, keys.ORDER_QUEUE).count == 0
    assert list(watch.scan()) == [job_id]  # still orphaned a scan later: lost, so queued again
    assert jobqueue.queue(fake_redis, keys.ORDER_QUEUE).job_ids == [job_id]
    assert watch.scan() == {}


def test_a_suspect_that_started_meanwhile_is_left_alone(settings, fake_redis):
    from rq.job import Job, JobStatus

    from worker.recovery import OrphanWatch

    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    fake_redis.lpop(jobqueue.queue(fake_redis, keys.ORDER_QUEUE).key)
    watch = OrphanWatch(fake_redis)
    watch.scan()
    Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer).set_status(JobStatus.STARTED)
    assert watch.scan() == {} and jobqueue.queue(fake_redis, keys.ORDER_QUEUE).count == 0


def test_recovery_settles_by_tag_through_the_broker_protocol_alone(settings, fake_redis):
    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker.recovery import reconcile

    reached, lost = crash(settings, fake_redis, reached_broker=False), crash(settings, fake_redis, reached_broker=False)
    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)
    order_id = fake.place_order("600000.SH", 23, 100, 11, 10.0, "", reached)  # the dead worker's order that got through
    settled = reconcile(fake_redis, FakeAccounts([fake]), settings.JOB_TTL)
    assert settled == {reached: "submitted", lost: "not_submitted"}
    view = jobqueue.view(fake_redis, reached)
    assert view.status == "finished" and view.result["order_id"] == order_id and view.result["status"] == "filled"
    assert [o.order_remark for o in fake.query_orders()] == [reached]  # nothing resent


def test_the_orphan_scan_reads_the_pending_index_not_every_kept_job(settings, fake_redis, monkeypatch):
    """Its cost follows the jobs still pending, not the finished jobs Redis keeps for JOB_TTL."""
    from worker.recovery import find_orphans

    for index in range(500):  # a day's finished jobs
        fake_redis.hset(f"rq:job:o{index:016x}", mapping={"status": "finished", "origin": keys.ORDER_QUEUE})
    finished_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    fake_redis.lpop(jobqueue.queue(fake_redis, keys.ORDER_QUEUE).key)
    fake_redis.hset(f"rq:job:{finished_id}", "status", "finished")  # ran and ended
    lost = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    fake_redis.lpop(jobqueue.queue(fake_redis, keys.ORDER_QUEUE).key)  # popped; the answer never reached a worker
    waiting = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    monkeypatch.setattr(type(fake_redis), "scan_iter", lambda *a, **k: (_ for _ in ()).throw(AssertionError("scanned every key")))
    assert find_orphans(fake_redis) == {lost: keys.ORDER_QUEUE}
    assert {i.decode() for i in fake_redis.zrange(keys.PENDING_JOBS, 0, -1)} == {lost, waiting}  # the ended one is dropped


def test_jobs_orphaned_before_the_pending_index_existed_are_found_once_at_start(settings, fake_redis):
    """A job popped but never started by a version that kept no pending index is still put back on its queue."""
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    fake_redis.lpop(jobqueue.queue(fake_redis, keys.ORDER_QUEUE).key)  # popped; the worker died before starting it
    fake_redis.delete(keys.PENDING_JOBS)  # as the previous version left Redis: no index
    serve(settings, fake_redis, burst=True)
    assert jobqueue.view(fake_redis, job_id).status == "finished"
    assert fake_redis.exists(f"{keys.PENDING_INDEXED}:{keys.CANCEL_QUEUE}")  # swept once; later scans use the index


def test_a_job_left_running_on_an_earlier_day_is_unknown_where_the_broker_answers_for_today_only(settings, fake_redis):
    """A real terminal answers today's orders alone: a job queued yesterday is never called 'never sent'."""
    from datetime import datetime, timedelta

    from common.config import clock
    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker.recovery import reconcile

    yesterday = clock.now() - timedelta(days=1)
    job_id = crash(settings, fake_redis, reached_broker=False, deadline=yesterday.timestamp() + settings.ORDER_TTL)
    settled = reconcile(fake_redis, FakeAccounts([FakeBroker("SIM000001", settings.SIM_STARTING_CASH)]), settings.JOB_TTL)
    assert settled == {job_id: "unknown"}
    view = jobqueue.view(fake_redis, job_id)
    day = datetime.fromtimestamp(yesterday.timestamp(), clock.SHANGHAI).date().isoformat()
    assert view.result["outcome"] == "unknown" and f"on {day}" in view.result["error"] and f"order_remark {job_id}" in view.result["error"]


def test_an_order_sent_long_after_its_job_started_gets_the_whole_send_window_before_it_is_called_never_sent(settings, fake_redis):
    """With sends in flight recovery waits `send_window` (BROKER_CALL_TIMEOUT) for a send still at the terminal, but it
    measured that window from the job's start. A job sends long after it started when it waited for its broker to come
    online (or for slow sizing queries): its order reached the broker within the window of its send, yet recovery
    called it never sent."""
    import threading
    import time
    from datetime import datetime, timedelta

    from rq.job import Job
    from rq.utils import utcformat

    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker.recovery import reconcile

    job_id = crash(settings, fake_redis, reached_broker=False)
    started = datetime.now(UTC) - timedelta(seconds=40)  # the job waited ~40 s for the broker, then sent
    fake_redis.hset(Job.key_for(job_id), "started_at", utcformat(started))

    class Terminal(FakeBroker):
        """The dead worker's async send is still in the terminal's queue: its order shows 1.5 s after recovery began."""

        shows_at = float("inf")

        def orders_since(self, day):
            return super().orders_since(day) if time.time() >= self.shows_at else []

    fake = Terminal("SIM000001", settings.SIM_STARTING_CASH)
    fake.place_order("600000.SH", 23, 100, 11, 9.8, "", job_id)
    began = threading.Event()
    real_orders_since = fake.orders_since

    def orders_since(day):
        if not began.is_set():
            began.set()
            fake.shows_at = time.time() + 1.5
        return real_orders_since(day)

    fake.orders_since = orders_since
    settled = reconcile(fake_redis, FakeAccounts([fake]), settings.JOB_TTL, send_window=3.0)
    assert settled == {job_id: "submitted"}, "an order that reached the broker within the send window was called never sent"


def test_a_sends_ending_thread_never_finishes_again_a_job_recovery_settled(settings, fake_redis):
    """With sends in flight a job stays started while its own thread waits for the broker's answer. Recovery may settle
    it meanwhile: the runner's drain gave up (the ending thread's worst case, answer + tag wait + tag search, is three
    BROKER_CALL_TIMEOUTs, the drain's two and 5 s) and reconciled, or a standby took the lease over from a worker that
    stalled. The late ending thread then finished the job a second time: a second result, a second audit entry."""
    import time

    from rq.job import Job
    from rq.results import Result

    from common.store import audit
    from common.store.payloads import OrderPayload
    from worker import jobs, runtime, sends
    from worker.broker import Brokers
    from worker.recovery import reconcile

    job_id = crash(settings, fake_redis, reached_broker=True)
    taken = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)  # the ending thread's copy, made at the send
    placed = the_only_order(settings)
    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    brokers = Brokers(settings, fake_redis, recorder)
    brokers.open()
    try:
        assert reconcile(fake_redis, brokers, settings.JOB_TTL) == {job_id: "submitted"}
        rt = runtime.Runtime(settings=settings, redis=fake_redis, brokers=brokers, recorder=recorder)
        order = OrderPayload.model_validate(taken.kwargs["payload"])
        sends.end_sent(rt, taken, order, job_id, jobs.order_basics(order), time.time(), brokers.broker(0), placed.order_id)
    finally:
        brokers.close()
    outcomes = [entry for entry in audit.recent(fake_redis) if entry.get("action") == "order.outcome" and job_id in entry.get("job_ids", [])]
    assert len(outcomes) == 1, outcomes
    assert len(Result.all(taken, serializer=JSONSerializer)) == 1


def test_a_job_this_process_took_and_never_sent_is_settled_without_waiting_for_a_send_to_land(settings, fake_redis, monkeypatch):
    """After a failover (or its Redis going away) a living worker settles the jobs it had started. One it never called
    the broker for cannot be landing at the terminal: "not sent" at once, not after BROKER_CALL_TIMEOUT. One it did
    call the broker for still gets the whole window, as does one another process took."""
    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker import recovery

    cut_off, called, elsewhere = (crash(settings, fake_redis, reached_broker=False) for _ in range(3))
    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    recorder.taken(cut_off, created_at(fake_redis, cut_off))  # the fence did not answer: never sent
    recorder.taken(called, created_at(fake_redis, called))
    recorder.calling_broker(called, created_at(fake_redis, called))  # the broker was called; its answer was lost with the Redis
    waited: list[str] = []
    monkeypatch.setattr(recovery._SendWindow, "wait_for", lambda self, job: waited.append(job.id))  # noqa: SLF001 - every wait, counted
    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)
    settled = recovery.reconcile(fake_redis, FakeAccounts([fake]), settings.JOB_TTL, send_window=30.0, never_sent_here=recorder.never_sent_here)
    assert settled == {cut_off: "not_submitted", called: "not_submitted", elsewhere: "not_submitted"}
    assert sorted(waited) == sorted([called, elsewhere])
    assert recorder.never_sent_here(cut_off, created_at(fake_redis, cut_off))
    assert not recorder.never_sent_here(called, created_at(fake_redis, called))
    assert not recorder.never_sent_here(cut_off, created_at(fake_redis, cut_off) + 1)  # another job under the same id: not known here


def test_a_job_redis_gives_back_after_this_process_sent_it_is_never_sent_again(settings, fake_redis, monkeypatch):
    """Redis restarts without its last writes (an AOF second lost with its machine) or a failover loses them: a job this
    worker already sent is back in its queue as if never started. The worker takes it again and must not send it again:
    its result is the broker's order found by its tag, the same order as before."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker import runtime, sends

    settings = settings.model_copy(update={"BROKER_CALL_TIMEOUT": 0.2})
    monkeypatch.setattr(sends, "ORDER_ACK_WAIT", 0.05)  # the fake pushes no order callbacks: read the order back soon
    fakes = [FakeBroker(a.account_id, settings.SIM_STARTING_CASH, call_timeout=settings.BROKER_CALL_TIMEOUT) for a in settings.enabled_accounts]
    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)  # one worker process: one recorder, through both runs

    def work(name: str) -> None:
        queues = [jobqueue.queue(fake_redis, q) for q in keys.QUEUES_BY_PRIORITY]
        RouterWorker(queues, connection=fake_redis, serializer=JSONSerializer, name=name).work(burst=True, with_scheduler=False)

    runtime.install(runtime.Runtime(settings=settings, redis=fake_redis, brokers=FakeAccounts(fakes), recorder=recorder))
    try:
        job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
        work("before")
        first = jobqueue.view(fake_redis, job_id).result
        assert first["outcome"] == "submitted"
        # what Redis keeps after losing the writes since the enqueue: the job queued, in its queue, no result
        job = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)
        FinishedJobRegistry(job.origin, connection=fake_redis).remove(job)
        fake_redis.delete(f"rq:results:{job_id}")
        fake_redis.hset(Job.key_for(job_id), "status", "queued")
        assert jobqueue.requeue(fake_redis, job_id, job.origin)
        work("after")
    finally:
        runtime.install(None)
    again = jobqueue.view(fake_redis, job_id).result
    assert again["outcome"] == "submitted" and again["order_id"] == first["order_id"]
    assert [o.order_remark for o in fakes[0].query_orders(cancelable_only=False)].count(job_id) == 1, "sent twice"


def test_a_job_taken_again_after_this_process_called_the_broker_for_it_still_waits_for_its_send(settings, fake_redis, monkeypatch):
    """The same job can be taken twice by one process: a failover to a replica without the job's start (or a Redis that
    restarted without its last writes) gives the queued job back, and the worker takes it again. Its first send may
    still be landing: taking it again must not make it "never sent here" (taken() wrote False over the True)."""
    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker import recovery

    job_id = crash(settings, fake_redis, reached_broker=False)
    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    created = created_at(fake_redis, job_id)
    assert not recorder.taken(job_id, created)
    recorder.calling_broker(job_id, created)  # the first run called the broker; then Redis lost the job's start
    assert recorder.taken(job_id, created)  # the job, queued again on the Redis that answers now, is taken again: "sent before"
    waited: list[str] = []
    monkeypatch.setattr(recovery._SendWindow, "wait_for", lambda self, job: waited.append(job.id))  # noqa: SLF001 - every wait, counted
    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)
    recovery.reconcile(fake_redis, FakeAccounts([fake]), settings.JOB_TTL, send_window=30.0, never_sent_here=recorder.never_sent_here)
    assert not recorder.never_sent_here(job_id, created)
    assert waited == [job_id], "recovery called never sent, without waiting, an order this process had sent"


def test_a_restored_job_is_never_never_sent_here(settings, fake_redis, monkeypatch):
    """A job the embedded run restored from a copy up to a second old may have been sent by the process before (which
    the worker's tag search may not see yet: that send may still be landing). Cut off before its own send, recovery must
    still wait for one: the job is not one this process alone took."""
    import json

    from rq.job import Job

    from common.rules.exceptions import NoQuote
    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker import jobs, runtime

    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    job = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)
    fake_redis.hset(job.key, "meta", json.dumps({**job.meta, "restored": True}))  # as embedded_state marks it
    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    seen: list[bool] = []

    def resolving(order, broker, rt):  # the moment a Redis going away would leave the job started, before its send
        seen.append(recorder.never_sent_here(job_id, created_at(fake_redis, job_id)))
        raise NoQuote("stop here", "symbol")

    monkeypatch.setattr(jobs, "_resolve", resolving)
    runtime.install(runtime.Runtime(settings=settings, redis=fake_redis, brokers=FakeAccounts([FakeBroker("SIM000001", 1e6)]), recorder=recorder))
    try:
        RouterWorker([jobqueue.queue(fake_redis, keys.ORDER_QUEUE)], connection=fake_redis, serializer=JSONSerializer, name="w").work(burst=True)
    finally:
        runtime.install(None)
    assert seen == [False], "a restored job, perhaps sent by the process before, was taken as one never sent"


def test_a_new_job_under_the_id_of_one_this_process_sent_long_ago_is_sent():
    """An idempotency key used again after JOB_TTL gives a new job the old one's id: its order is another order (created
    at another moment), sent as any new one, never taken for the old one given back."""
    recorder = OrderEventRecorder(None, 60)  # no Redis needed: the memory alone
    assert not recorder.taken("job-1", 1000.0)
    recorder.calling_broker("job-1", 1000.0)
    assert recorder.taken("job-1", 1000.0)  # the same job given back: never sent again
    assert not recorder.taken("job-1", 90_000.0)  # a new job under that id: sent
    assert recorder.never_sent_here("job-1", 90_000.0) and not recorder.never_sent_here("job-1", 1000.0)


def test_a_job_queued_before_the_worker_started_that_the_broker_already_has_is_never_sent_again(settings, fake_redis):
    """A power loss takes Redis (appendfsync everysec) and the worker down together: Redis comes back without the last
    second, so an order job the worker had sent in it is queued again as if never started. The worker that starts then
    looks up the jobs queued before it by their tags: this one is settled from the broker's order, never sent again."""
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    placed_at_the_broker(settings, job_id)  # the send before the loss
    serve(settings, fake_redis, burst=True)
    view = jobqueue.view(fake_redis, job_id)
    assert view.result["outcome"] == "submitted" and view.result["order_id"] == the_only_order(settings).order_id
    assert [o["order_remark"] for o in orders(settings, fake_redis)].count(job_id) == 1, "sent twice"


def test_a_job_queued_before_the_worker_started_is_not_sent_when_the_broker_cannot_say_whether_it_has_it(settings, fake_redis, monkeypatch):
    """Never guessed: when the broker cannot list its orders, a job the worker before may have sent is `unknown` with its
    tag to look for in QMT, not sent on the chance that it was not."""
    import time

    from common.rules.exceptions import BrokerUnavailable
    from tests.worker.fake_broker import FakeAccounts, FakeBroker
    from worker import runtime, sends
    from worker.prior_sends import PriorSends

    monkeypatch.setattr(sends, "ORDER_ACK_WAIT", 0.05)
    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)

    def silent(cancelable_only=False):
        raise BrokerUnavailable("the terminal did not answer query_stock_orders")

    fake.query_orders = silent
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    runtime.install(
        runtime.Runtime(settings=settings, redis=fake_redis, brokers=FakeAccounts([fake]), recorder=recorder, prior=PriorSends(time.time()))
    )
    try:
        RouterWorker([jobqueue.queue(fake_redis, keys.ORDER_QUEUE)], connection=fake_redis, serializer=JSONSerializer, name="w").work(burst=True)
    finally:
        runtime.install(None)
    result = jobqueue.view(fake_redis, job_id).result
    assert result["outcome"] == "unknown" and job_id in result["error"] and "worker before this one" in result["error"]
    assert not fake.orders, "sent although the broker could not say whether it had it"


def test_a_job_the_worker_before_sent_is_not_called_expired_never_sent_when_the_restart_took_longer_than_order_ttl(settings, fake_redis):
    """A power loss: Redis (appendfsync everysec) forgets the job's start, the worker that sent it dies, and the machine
    is back after ORDER_TTL. The job is past its deadline when the new worker takes it, but it was sent: it must be
    settled from the broker's order, never told `expired ... never sent` (the trader would send it again)."""
    import time

    job_id = jobqueue.enqueue(fake_redis, order_payload(deadline=time.time() - 1), settings.JOB_TTL)  # the restart took > ORDER_TTL
    placed_at_the_broker(settings, job_id)  # the send before the loss
    serve(settings, fake_redis, burst=True)
    result = jobqueue.view(fake_redis, job_id).result
    assert result["outcome"] == "submitted" and result["order_id"] == the_only_order(settings).order_id, result


def test_a_restored_job_the_run_before_sent_is_not_called_expired_never_sent(settings, fake_redis):
    """The embedded run's restored job, sent after the copy was taken, restarted after ORDER_TTL: settled from the
    broker's order, never `expired ... never sent`."""
    import json
    import time

    from rq.job import Job

    job_id = jobqueue.enqueue(fake_redis, order_payload(deadline=time.time() - 1), settings.JOB_TTL)
    job = Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer)
    fake_redis.hset(job.key, "meta", json.dumps({**job.meta, "restored": True}))  # as embedded_state marks it
    placed_at_the_broker(settings, job_id)
    serve(settings, fake_redis, burst=True)
    result = jobqueue.view(fake_redis, job_id).result
    assert result["outcome"] == "submitted" and result["order_id"] == the_only_order(settings).order_id, result


def _serve_fakes(settings, fake_redis, fake, prior):
    from tests.worker.fake_broker import FakeAccounts
    from worker import runtime

    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    runtime.install(runtime.Runtime(settings=settings, redis=fake_redis, brokers=FakeAccounts([fake]), recorder=recorder, prior=prior))
    try:
        RouterWorker([jobqueue.queue(fake_redis, keys.ORDER_QUEUE)], connection=fake_redis, serializer=JSONSerializer, name="w").work(burst=True)
    finally:
        runtime.install(None)


def test_a_job_queued_on_an_earlier_day_before_the_worker_started_is_unknown_not_never_sent(settings, fake_redis):
    """A power loss at the close, the machine back the next morning: the job the worker before sent yesterday is queued
    again. QMT lists today's orders only, so not finding its tag says nothing: `unknown`, as recovery says of a started
    job of an earlier day, never `expired ... never sent`."""
    import time

    from tests.worker.fake_broker import FakeBroker
    from worker.prior_sends import PriorSends

    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)  # today's orders: none (yesterday's are not listed)
    job_id = jobqueue.enqueue(fake_redis, order_payload(deadline=time.time() - 86_400), settings.JOB_TTL)
    _serve_fakes(settings, fake_redis, fake, PriorSends(time.time()))
    result = jobqueue.view(fake_redis, job_id).result
    assert result["outcome"] == "unknown" and job_id in result["error"], result
    assert not fake.orders


def test_a_send_of_the_worker_before_still_landing_when_the_worker_starts_is_not_sent_again(settings, fake_redis, monkeypatch):
    """The terminal still works through a send the worker before handed it (recovery waits SETTLE_WAIT, or
    BROKER_CALL_TIMEOUT with sends in flight, for exactly that before calling a job never sent). The broker's orders read
    at once would miss it and the job would be sent twice: they are read once that window is over."""
    import threading
    import time

    from common.store import terminals
    from tests.worker.fake_broker import FakeBroker
    from worker import runner

    monkeypatch.setattr(runner, "SETTLE_WAIT", 2.0)
    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    terminal = terminals.named(settings, None)
    fake_redis.hset(terminal.heartbeat_key, mapping={"ts": time.time()})  # the worker before beat until it died, just now
    prior = runner.prior_sends(settings, fake_redis, terminal, in_flight=None)
    landing = threading.Timer(0.5, fake.place_order, ("600000.SH", 23, 100, 11, 10.0, "", job_id))  # the send before, landing now
    landing.start()
    try:
        _serve_fakes(settings, fake_redis, fake, prior)
    finally:
        landing.join()
    result = jobqueue.view(fake_redis, job_id).result
    assert [o.order_remark for o in fake.orders.values()].count(job_id) == 1, "sent twice"
    assert result["outcome"] == "submitted", result


def test_a_retry_under_the_same_idempotency_key_of_a_job_redis_lost_after_its_send_is_not_sent_again(settings, fake_redis):
    """A lone Redis (appendfsync everysec) loses a job whole (its enqueue, start and end, within its last second) after
    the worker sent its order; the client, answered 202 and then 404, retries with the same Idempotency-Key, as the API
    says is safe: the same job id, a new created_at. The worker that sent the first is still running: the broker has the
    order with this tag today, so the retry must be settled from it, not sent a second time."""
    import time

    from rq.job import Job

    from tests.worker.fake_broker import FakeBroker

    fake = FakeBroker("SIM000001", settings.SIM_STARTING_CASH)
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL, job_id="oretry0000000001")
    from tests.worker.fake_broker import FakeAccounts
    from worker import runtime

    recorder = OrderEventRecorder(fake_redis, settings.JOB_TTL)
    runtime.install(runtime.Runtime(settings=settings, redis=fake_redis, brokers=FakeAccounts([fake]), recorder=recorder))
    try:
        worker = RouterWorker([jobqueue.queue(fake_redis, keys.ORDER_QUEUE)], connection=fake_redis, serializer=JSONSerializer, name="w")
        worker.work(burst=True)
        assert len(fake.orders) == 1
        Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer).delete()  # Redis lost the job whole
        time.sleep(0.01)
        jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL, job_id=job_id)  # the retry: same key, new created_at
        worker.work(burst=True)
    finally:
        runtime.install(None)
    assert len(fake.orders) == 1, "a retry under the same Idempotency-Key was sent a second time"
    assert jobqueue.view(fake_redis, job_id).result["outcome"] == "submitted"
