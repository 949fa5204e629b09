"""RQ's model kept (common.store.rq_model): the router's worker loop and its enqueue leave in Redis what RQ's own
SimpleWorker and Queue.enqueue_call leave on the same jobs, on the production queue layout (a terminal's three priority
queues, the blocking pop, the per-terminal routing), key by key and field by field except times and ids; and RQ's own
tools (rq info, Job.fetch) read the router's jobs. `python run.py test --rq-floor` runs these on RQ's lower bound too."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rq import Queue, SimpleWorker, get_current_job
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from common.store import jobqueue, keys, rq_model, terminals
from common.store.payloads import JOB_ROUTES
from common.store.terminals import Terminal
from tests.support import make_settings, order_payload, wait_until
from worker.runner import RouterJob, RouterWorker

pytestmark = pytest.mark.integration
RESULT_TTL = 600
TERMINAL = Terminal("sh", (0,))  # a terminal of several: its queues are cancel@sh, order@sh, query@sh
RAN = "test:ran"  # the job ids in the order the worker ran them
# hash fields and stream fields that hold a moment, a duration or a process's identity: equal in kind, not in value
VOLATILE = {"created_at", "enqueued_at", "started_at", "ended_at", "last_heartbeat", "birth", "death", "total_working_time",
            "current_job_working_time", "execution_started_at", "execution_ended_at", "pid", "hostname", "ip_address", "python_version", "version", "heartbeat", "id"}  # fmt: skip


def answer(number: int) -> dict:
    """The job both workers run: it notes that it ran, in order, and answers."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush(RAN, job.id)
    return {"answer": number}


def refuse(number: int) -> dict:
    """A job that fails (both workers record it failed the same way)."""
    raise ValueError(f"refused {number}")


LATER = threading.Event()  # set: answer_later's thread records its result


def answer_later(number: int) -> str:
    """A job whose result another thread records, as a pipelined send's (worker.in_flight): it is left started."""
    job = get_current_job()
    assert job is not None
    mine = copy.copy(job)  # RQ's loop goes on with its own object

    def finish() -> None:
        LATER.wait(10)
        started = StartedJobRegistry(mine.origin, connection=mine.connection, serializer=JSONSerializer)
        rq_model.finish_job(mine.connection, mine, {"answer": number}, RESULT_TTL, started=started)

    threading.Thread(target=finish, daemon=True).start()
    return rq_model.DEFERRED


class EquivalenceJob(RouterJob):
    functions = {f"{__name__}.{name}": f"{__name__}.{name}" for name in ("answer", "refuse", "answer_later")}


class EquivalenceWorker(RouterWorker):
    """The router's worker exactly, running this module's two functions besides the router's own."""

    job_class = EquivalenceJob


def _normal(text: str, names: tuple[str, ...]) -> str:
    """`text` with the worker's name and execution ids replaced, so the two runs compare."""
    for name in names:
        text = text.replace(name, "<worker>")
    return re.sub(r"[0-9a-f]{32}", "<id>", text)


def _decoded(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _hash_value(field: str, value: bytes, names: tuple[str, ...]) -> str:
    if field in VOLATILE:
        return "<time>"
    if field in ("exc_info", "exc_string"):  # a traceback: its frames are each worker's own
        return "<traceback>" if value else ""
    return _normal(_decoded(value), names)


def state(connection: Any, names: tuple[str, ...]) -> dict[str, tuple[str, object, int]]:
    """Every RQ key and the test's own: {key: (type, content, TTL)}; the router's own keys (qmt:*) are left out."""
    kept: dict[str, tuple[str, object, int]] = {}
    for raw in connection.keys("*"):
        key = _decoded(raw)
        if key.startswith(f"{keys.PREFIX}:"):
            continue
        kind = connection.type(raw).decode()
        content: object
        if kind == "hash":
            content = {_decoded(f): _hash_value(_decoded(f), v, names) for f, v in connection.hgetall(raw).items()}
        elif kind == "list":
            content = [_normal(_decoded(v), names) for v in connection.lrange(raw, 0, -1)]
        elif kind == "set":
            content = sorted(_normal(_decoded(v), names) for v in connection.smembers(raw))
        elif kind == "zset":  # scores are moments (expiry, start): members only, in order
            content = [_normal(_decoded(v), names) for v in connection.zrange(raw, 0, -1)]
        elif kind == "stream":  # results: entry ids are times
            content = [{_decoded(f): _hash_value(_decoded(f), v, names) for f, v in fields.items()} for _, fields in connection.xrange(raw)]
        else:
            content = _decoded(connection.get(raw) or b"")
        kept[_normal(key, names)] = (kind, content, connection.ttl(raw))
    return kept


def _queue_jobs(connection: Any) -> list[str]:
    """The same jobs on the terminal's three queues, queued query first and cancel last, with RQ's own enqueue."""
    ids = []
    for number, kind in enumerate([keys.QUERY_QUEUE, keys.ORDER_QUEUE, keys.CANCEL_QUEUE, keys.ORDER_QUEUE, keys.QUERY_QUEUE]):
        queue = Queue(TERMINAL.queue(kind), connection=connection, serializer=JSONSerializer)
        func = f"{__name__}.{'refuse' if number == 3 else 'answer'}"
        job = queue.enqueue_call(func, args=(number,), job_id=f"job-{number}", result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, timeout=-1)
        ids.append(job.id)
    return ids


def _run(connection: Any, worker_class: type[SimpleWorker], name: str) -> tuple[dict, list[str]]:
    """Queue the jobs, let a worker of `worker_class` take them by its blocking pop (not burst), and return what is left."""
    ids = _queue_jobs(connection)
    queues = [Queue(name, connection=connection, serializer=JSONSerializer) for name in TERMINAL.queues]
    worker = worker_class(queues, connection=connection, serializer=JSONSerializer, name=name)
    worker.work(max_jobs=len(ids), logging_level=None)  # not burst: every job comes through the BLPOP path
    ran = [_decoded(raw) for raw in connection.lrange(RAN, 0, -1)]
    return state(connection, (name,)), ran


def test_the_router_worker_leaves_what_rqs_simple_worker_leaves_on_a_terminals_queues(real_redis):
    rq_kept, rq_ran = _run(real_redis, SimpleWorker, "rq-simple-worker")
    real_redis.flushdb()
    router_kept, router_ran = _run(real_redis, EquivalenceWorker, "router-worker")

    assert router_ran == rq_ran == ["job-2", "job-1", "job-0", "job-4"]  # cancel, order, query; job-3 failed
    assert router_kept.keys() == rq_kept.keys()
    for key, (kind, content, ttl) in rq_kept.items():
        router_kind, router_content, router_ttl = router_kept[key]
        assert (key, router_kind, router_content) == (key, kind, content)
        assert router_ttl == pytest.approx(ttl, abs=5), key  # kept as long as RQ keeps it (-1: for good)
    finished = Job.fetch("job-2", connection=real_redis, serializer=JSONSerializer)
    failed = Job.fetch("job-3", connection=real_redis, serializer=JSONSerializer)
    assert (finished.get_status(), finished.return_value(), finished.origin) == ("finished", {"answer": 2}, "cancel@sh")
    assert failed.get_status() == "failed" and "refused 3" in (failed.latest_result().exc_string or "")


def test_a_job_left_started_reads_as_running_then_as_finished_once_its_result_is_recorded(real_redis):
    """What RQ's tools read of a job whose send is in flight: started (in the started registry, no result), then, once
    the other thread recorded it, finished with its return value, in the finished registry, out of the started one."""
    LATER.clear()
    queue = Queue(TERMINAL.queue(keys.ORDER_QUEUE), connection=real_redis, serializer=JSONSerializer)
    queue.enqueue_call(f"{__name__}.answer_later", args=(7,), job_id="later", result_ttl=RESULT_TTL, timeout=-1)
    queues = [Queue(name, connection=real_redis, serializer=JSONSerializer) for name in TERMINAL.queues]
    EquivalenceWorker(queues, connection=real_redis, serializer=JSONSerializer, name="router-worker").work(burst=True, logging_level=None)
    started, finished = queue.started_job_registry, queue.finished_job_registry
    running = Job.fetch("later", connection=real_redis, serializer=JSONSerializer)
    assert (running.get_status(), running.return_value(), started.get_job_ids(cleanup=False)) == ("started", None, ["later"])
    [(_, expires)] = real_redis.zrange(started.key, 0, -1, withscores=True)  # RQ's abandoned-job sweep leaves it alone that long
    assert expires >= time.time() + EquivalenceWorker.left_started_seconds - 30
    LATER.set()
    assert wait_until(lambda: Job.fetch("later", connection=real_redis, serializer=JSONSerializer).get_status() == "finished", 10)
    done = Job.fetch("later", connection=real_redis, serializer=JSONSerializer)
    assert done.return_value() == {"answer": 7} and done.latest_result().type.name == "SUCCESSFUL"
    assert started.get_job_ids(cleanup=False) == [] and finished.get_job_ids() == ["later"]
    assert real_redis.ttl(done.key) == pytest.approx(RESULT_TTL, abs=5)


def _commands(connection: Any, worker_class: type[SimpleWorker]) -> dict[str, int]:
    connection.flushdb()
    connection.config_resetstat()
    _run(connection, worker_class, "counted")
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in connection.info("commandstats").items()}


def test_the_router_worker_keeps_those_keys_in_fewer_commands(real_redis):
    rq_commands = _commands(real_redis, SimpleWorker)
    router_commands = _commands(real_redis, EquivalenceWorker)

    assert router_commands["blpop"] >= 1 and rq_commands["blpop"] >= 1  # the jobs came through the blocking pop
    # the result's transaction needs no WATCH (the router's jobs have no dependents): only the failed job's, RQ's own path
    assert (rq_commands["watch"], router_commands["watch"]) == (5, 1)
    assert sum(router_commands.values()) < sum(rq_commands.values())


def _rq_enqueue(connection: Any, settings: Any, payloads: list) -> None:
    """The router's jobs as RQ's own unique enqueue would queue them (same id, function, payload, TTLs, meta)."""
    for number, payload in enumerate(payloads):
        kind, func = JOB_ROUTES[payload.kind]
        queue = Queue(terminals.of_account(settings, payload.account_index).queue(kind), connection=connection, serializer=JSONSerializer)
        queue.enqueue_call(
            func,
            kwargs={"payload": payload.model_dump(mode="json")},
            job_id=f"order-{number}",
            timeout=jobqueue.NO_TIMEOUT,
            result_ttl=86_400,
            failure_ttl=86_400,
            description=f"{payload.kind} order-{number}",
            meta={"kind": payload.kind, "client_id": payload.meta.client_id},
            unique=True,
        )


def _router_enqueue(connection: Any, settings: Any, payloads: list) -> None:
    for number, payload in enumerate(payloads):
        jobqueue.enqueue(connection, payload, 86_400, job_id=f"order-{number}", terminal=terminals.of_account(settings, payload.account_index))


def _two_terminals() -> Any:
    """Two terminals, so jobs are routed to a terminal's own queues (account 0 to `sh`)."""
    accounts = [
        {"account_id": "SIM000001", "qmt_path": "C:/a/userdata_mini", "terminal": "sh"},
        {"account_id": "SIM000002", "qmt_path": "C:/b/userdata_mini", "terminal": "sz"},
    ]
    return make_settings(TRADER_CONFIGS=accounts)


PAYLOADS = [order_payload(volume=100 * n) for n in (1, 2, 3)]


def test_the_enqueue_script_writes_what_rqs_unique_enqueue_writes(real_redis):
    settings = _two_terminals()
    _rq_enqueue(real_redis, settings, PAYLOADS)
    rq_kept = state(real_redis, ())
    real_redis.flushdb()
    _router_enqueue(real_redis, settings, PAYLOADS)
    router_kept = state(real_redis, ())
    router_own = sorted(_decoded(k) for k in real_redis.keys(f"{keys.PREFIX}:*"))

    assert rq_kept == router_kept  # the job hashes field by field, queue contents and positions, RQ's set of queues, TTLs
    assert router_kept["rq:queue:order@sh"][1] == ["order-0", "order-1", "order-2"]
    assert set(router_own) <= {keys.PENDING_JOBS, keys.EVENTS_STREAM}  # besides RQ's keys: what recovery and the events need


def test_rqs_tools_read_the_routers_jobs(real_redis, redis_url):
    settings = _two_terminals()
    _router_enqueue(real_redis, settings, PAYLOADS)
    job = Job.fetch("order-1", connection=real_redis, serializer=JSONSerializer)
    assert (job.get_status(), job.origin, job.func_name) == ("queued", "order@sh", JOB_ROUTES["order"][1])
    assert job.kwargs["payload"]["volume"] == 200 and job.meta["kind"] == "order"
    assert Queue("order@sh", connection=real_redis, serializer=JSONSerializer).job_ids == ["order-0", "order-1", "order-2"]

    rq = Path(sys.executable).parent / "rq"
    shown = subprocess.run([str(rq), "info", "--url", redis_url, "--only-queues", "--raw"], capture_output=True, text=True, timeout=60, check=True)
    assert re.search(r"queue order@sh 3\b", shown.stdout), shown.stdout


@pytest.mark.parametrize("move", ["front", "back"])
def test_the_requeue_script_writes_what_rqs_enqueue_job_writes(real_redis, move):
    """Recovery's requeue: a job taken off its queue and never started goes back to the front; a job carried from the
    plain queue to its terminal's goes to the back of that queue. Either way, what RQ's enqueue_job of the job writes."""
    settings = _two_terminals()

    def requeued(requeue: Any) -> dict:
        real_redis.flushdb()
        _router_enqueue(real_redis, settings, PAYLOADS)
        jobqueue.enqueue(real_redis, PAYLOADS[0], 86_400, job_id="plain")  # on the plain order queue (one-terminal name)
        if move == "front":
            real_redis.lrem("rq:queue:order@sh", 1, "order-1")  # popped by a worker killed before it started the job
        requeue()
        return state(real_redis, ())

    job_id, source = ("order-1", "") if move == "front" else ("plain", "order")
    rq_queue = Queue("order@sh", connection=real_redis, serializer=JSONSerializer)

    def rq_requeue() -> None:
        if source:
            real_redis.lrem(f"rq:queue:{source}", 1, job_id)
        rq_queue.enqueue_job(Job.fetch(job_id, connection=real_redis, serializer=JSONSerializer), at_front=move == "front")

    rq_kept = requeued(rq_requeue)
    router_kept = requeued(lambda: jobqueue.requeue(real_redis, job_id, "order@sh", taken_from=source or None))

    assert router_kept == rq_kept
    expected = ["order-1", "order-0", "order-2"] if move == "front" else ["order-0", "order-1", "order-2", "plain"]
    assert router_kept["rq:queue:order@sh"][1] == expected
