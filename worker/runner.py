"""The worker process: open the broker sessions, then run jobs in this process, cancel > order > query.

RQ's SimpleWorker runs each job in the calling thread: no fork (Windows has none, and a forked
child would not own the QMT session) and no SIGALRM (TimerDeathPenalty, common.store.rq_model.LeanWorker).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence

import redis
from redis.client import Pipeline
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer, Serializer

from common.config import logs
from common.config.settings import Settings
from common.rules.loose_types import JsonObject
from common.store import events, keys, metrics, replication, stream_backlog, terminals
from common.store.continuity import Continuity
from common.store.jobqueue import queue
from common.store.payloads import JOB_ROUTES
from common.store.rq_model import LeanJob, LeanWorker
from common.store.terminals import Terminal
from worker import runtime
from worker.broker import Brokers
from worker.callbacks import OrderEventRecorder
from worker.failover import FailoverWatch
from worker.in_flight import InFlight
from worker.lease import Lease
from worker.prior_sends import PriorSends
from worker.recovery import SETTLE_WAIT, OrphanWatch, carry_to_terminals, reconcile
from worker.sends import count_job_end

log = logging.getLogger("worker")
# The status page calls a worker silent when its heartbeat is older than 0.9 s (api.health.WORKER_SILENT_SECONDS), so it
# says "worker not answering" within 2 s of a kill; orders are refused only after tradability.WORKER_STALE_SECONDS (6 s).
HEARTBEAT_SECONDS = 0.25
# The heartbeat hash outlives a dead worker this long, so /health still tells its age; its TTL, set afresh at each beat,
# is the age by Redis's clock (keep − TTL), which holds when the worker's and the web's machines disagree on the time.
HEARTBEAT_KEEP_SECONDS = 20
REDIS_RETRY_SECONDS = 1.0
ORPHAN_SCAN_SECONDS = 15.0
CONTINUITY_SECONDS = 2.0  # the store id is read this often (common.store.continuity), not at every quick beat
STARTING_MARK_SECONDS = 120  # a worker still not beating this long after it began starting is no longer "starting"


# Dotted path a job names -> the function that runs it. Jobs name their function by path (common.store.payloads.JOB_ROUTES);
# when a function moves, its old path stays here, so jobs queued by the previous version still run.
JOB_FUNCTIONS: dict[str, str] = {path: path for _, path in JOB_ROUTES.values()}


class RouterJob(LeanJob):
    """A job that runs only the router's own job functions; any other path fails the job with a clear error."""

    functions = JOB_FUNCTIONS

    def payload(self) -> JsonObject:  # the JSON payload as RQ's serializer decoded it
        """The job's payload as queued (empty when it carries none)."""
        payload = (self.kwargs or {}).get("payload")
        return payload if isinstance(payload, dict) else {}


class RouterWorker(LeanWorker):
    """RQ's SimpleWorker as common.store.rq_model runs it (timer death penalty, a short blocking dequeue, jobs whose Redis
    bookkeeping failed left in the started registry for `reconcile`), running our job functions only, with the lease,
    the job's log context, its held events and the worker's figures added through the model's hooks."""

    job_class = RouterJob

    def __init__(
        self,
        queues: Sequence[Queue],
        *,
        connection: redis.Redis,
        serializer: Serializer | None = None,
        name: str | None = None,
        dequeue_block: int = 5,
        lease: Lease | None = None,
        figures: redis.Redis | None = None,
        batch: stream_backlog.Batch | None = None,
        in_flight: InFlight | None = None,
        call_timeout: float = 0.0,
        failover: FailoverWatch | None = None,
    ):
        self.lease = lease
        self.failover = failover  # another Redis answers (a failover): leave the loop, settle the started jobs first
        self.in_flight = in_flight
        if call_timeout:  # a send left started: its answer waited for, its tag listened for and searched, each up to it
            self.left_started_seconds = int(3 * call_timeout) + 60
        self.batch = batch  # the runtime's: a job's audit entry and closing events, written with its result
        self._batch_sent = False  # they went into the result's transaction (whose answer may then be lost)
        super().__init__(queues, name=name, connection=connection, serializer=serializer, dequeue_block=dequeue_block)
        self._figures = figures or self.connection  # the connection whose metrics the worker's Flusher writes

    def job_context(self, job: Job) -> contextlib.AbstractContextManager[None]:
        """Every log line written while the job runs carries its id, client id and account index."""
        payload = job.payload() if isinstance(job, RouterJob) else {}
        return logs.job_context(job.id, job.meta.get("client_id"), payload.get("account_index"))

    def result_writes(self, pipeline: Pipeline) -> None:
        # inside RQ's transaction that writes a job's result: the job's held entries ride along, no round trip of their own
        self._batch_sent = False
        if self.batch is not None:
            self.batch.write_to(pipeline)
            self._batch_sent = True

    def job_succeeded(self, job: Job) -> None:
        if self.batch is not None:
            self.batch.clear()  # written in the result's transaction
        self._batch_sent = False
        created = (job.payload().get("meta") or {}).get("created_at") if isinstance(job, RouterJob) else None
        count_job_end(self._figures, job.meta.get("kind", "?"), getattr(job, "returned", None), created)

    def keep_taking_jobs(self) -> bool:
        # a lost lease ends the loop: stand by; or, the lease taken again after it lapsed, check the jobs left running first.
        # The lease thread (_beat) finds a lost lease within HEARTBEAT_SECONDS, and every job asks Redis again before it
        # runs (may_run) and before it sends (the fence), so this reads the flag, not Redis. A send whose job could not
        # be recorded ends it too: recovery settles that job by its tag before any new one is taken.
        if self.in_flight is not None and self.in_flight.fault.is_set():
            return False
        if self.failover is not None and self.failover.moved.is_set():
            return False
        return self.lease is None or not (self.lease.lost.is_set() or self.lease.retaken.is_set())

    def before_dequeue(self) -> None:
        # a job is taken only with room for its send: a cancel queued behind many orders goes before any not yet sent
        if self.in_flight is not None and not self.in_flight.wait_for_room(lambda: self.keep_taking_jobs() and not self.stop_asked):
            raise StopRequested()

    def job_deferred(self, job: Job) -> None:  # noqa: ARG002 - the model's hook
        if self.batch is not None:
            self.batch.clear()  # written in the transaction that left the job started
        self._batch_sent = False

    def may_run(self, job: Job) -> bool:
        if self.failover is not None and self.failover.moved.is_set():
            return False  # taken from the new master before the reconciliation: it puts this job back (never started)
        if self.lease is not None and not self.lease.held():
            # taken off the queue after another worker became active: left as it is, queued in no queue, so the
            # active worker's orphan scan gives it back to its queue; running or re-pushing it here could double it
            log.error("job %s was taken after this worker lost its lease; left for the active worker", job.id)
            return False
        return True

    def job_failing(self, failure: BaseException | None) -> None:
        if self.batch is not None:
            if self._batch_sent and isinstance(failure, redis.TimeoutError):
                # the result's transaction carrying them was sent and its answer lost: Redis runs it when it answers,
                # so writing them again would write them twice
                self.batch.clear()
            else:
                self.batch.flush(self._figures)  # what the job held is written now (kept for later if Redis refuses it)
        self._batch_sent = False

    def job_failed(self, job: Job) -> None:
        metrics.count(self._figures, metrics.JOBS, kind=job.meta.get("kind", "?"), outcome="failed")


def _beat(connection: redis.Redis, settings: Settings, stop: threading.Event, terminal: Terminal, lease: Lease, continuity: Continuity) -> None:
    """Heartbeat even while a job blocks the main thread, so the status page can tell 'busy' from 'dead'; notice a Redis
    that lost its data (common.store.continuity); renew the terminal's lease; and every ORPHAN_SCAN_SECONDS, requeue jobs lost
    between a queue and this worker."""
    fields = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "broker": settings.BROKER,
        "started": time.time(),
        "terminal": terminal.name,
        "keep": HEARTBEAT_KEEP_SECONDS,
    }
    watch = OrphanWatch(connection, terminal.queues)
    next_scan = time.monotonic() + ORPHAN_SCAN_SECONDS
    next_check = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + CONTINUITY_SECONDS
            try:
                continuity.check()  # before the lease: a Redis that came back empty fails closed before any job is taken
            except redis.RedisError as error:
                log.warning("the store's id not checked: Redis %s", error.__class__.__name__)
        if not lease.renew():
            return  # another worker is active: this one takes no more jobs and beats no more
        try:
            with connection.pipeline(transaction=False) as beat:  # one round trip a beat
                beat.hset(terminal.heartbeat_key, mapping={**fields, "ts": time.time()})
                beat.expire(terminal.heartbeat_key, HEARTBEAT_KEEP_SECONDS)
                beat.delete(keys.worker_starting(terminal.name))
                beat.execute()
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + ORPHAN_SCAN_SECONDS
                watch.scan()
        except redis.RedisError as error:
            log.warning("heartbeat not written: %s", error.__class__.__name__)
        stop.wait(HEARTBEAT_SECONDS)


def serve(
    settings: Settings, connection: redis.Redis, burst: bool = False, dequeue: redis.Redis | None = None, terminal_name: str | None = None
) -> bool:
    """Serve one terminal: take its lease (a standby waits here), open its broker sessions, and take its jobs until
    stopped (SIGINT/SIGTERM), until the queues are empty with `burst`, or until another worker takes the lease.

    Returns False when, with `burst`, it stopped because another worker holds the lease, else True. Without `burst` a
    worker whose lease another worker took stands by (it waits for the lease again) rather than exit, and one whose lease
    lapsed with nobody holding it takes it again. `dequeue` is RQ's connection (common.store.connections.dequeue_connection: a
    socket timeout above the blocking dequeue); `connection` (short timeout) serves the jobs, callbacks and heartbeat.
    A lost, frozen or restarted Redis does not end the worker: it waits for Redis, settles the job it was running (by
    its tag, never resending) and takes jobs again.
    """
    terminal = terminals.named(settings, terminal_name)
    lease = Lease(connection, terminal.lease_key, settings.WORKER_LEASE_SECONDS, replication.confirm_of(settings))
    stopping = _stop_signals()  # until RQ's loop installs its own handlers: a stop asked during start-up is kept
    try:  # /health says "starting" until the first heartbeat, rather than "no worker"
        connection.set(keys.worker_starting(terminal.name), time.time(), nx=True, ex=STARTING_MARK_SECONDS)
    except redis.RedisError:
        pass
    while lease.acquire(stopping):
        try:
            kept = _serve_terminal(settings, connection, dequeue or connection, burst, terminal, lease, stopping)
        finally:
            lease.release()
        if kept or burst:
            return kept
        log.warning("terminal %s: standing by until the lease is free again", terminal.name)
        _stop_signals(stopping)  # RQ's loop had its own handlers: a stop asked while standing by must end the wait
    return True


def prior_sends(settings: Settings, connection: redis.Redis, terminal: Terminal, in_flight: InFlight | None) -> PriorSends:
    """The broker's orders for the jobs queued before this process started, read once a send the worker before handed
    its terminal can no longer be landing (recovery's window: SETTLE_WAIT, or BROKER_CALL_TIMEOUT with sends in flight,
    after that worker's death, its last heartbeat plus a beat and the second a Redis may lose). No wait when no worker
    beat within HEARTBEAT_KEEP_SECONDS or the last one stopped on purpose (its sends drained). Read before this worker's
    own first beat."""
    window = settings.BROKER_CALL_TIMEOUT if in_flight is not None else SETTLE_WAIT
    now = time.time()
    try:
        beat, stopped = connection.hmget(terminal.heartbeat_key, ["ts", "stopped"])  # type: ignore[misc]
    except redis.RedisError:
        beat, stopped = now, None  # not known: as if the worker before died just now
    if beat is None or (stopped is not None and float(stopped) >= float(beat)):
        return PriorSends(now)
    return PriorSends(now, settle=max(0.0, float(beat) + HEARTBEAT_SECONDS + 1.0 + window - now))


def _serve_terminal(
    settings: Settings, connection: redis.Redis, dequeue: redis.Redis, burst: bool, terminal: Terminal, lease: Lease, stopping: threading.Event
) -> bool:
    recorder = OrderEventRecorder(connection, settings.JOB_TTL)
    brokers = Brokers(settings, connection, recorder, indexes=terminal.accounts)
    brokers.open()
    if settings.BROKER == "qmt":
        _publish_calendar(connection)
    batch = stream_backlog.Batch()
    in_flight = InFlight(settings.BROKER_IN_FLIGHT) if settings.BROKER_IN_FLIGHT > 1 else None
    runtime.install(
        runtime.Runtime(
            settings=settings,
            redis=connection,
            brokers=brokers,
            recorder=recorder,
            lease=lease,
            batch=batch,
            in_flight=in_flight,
            prior=prior_sends(settings, connection, terminal, in_flight),
        )
    )
    figures = metrics.Flusher(connection).start()
    continuity = Continuity(connection, settings.VAR_DIR, "worker")
    continuity.start()
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(connection, settings, stop, terminal, lease, continuity), name="worker-heartbeat", daemon=True)
    beat.start()
    events.append(connection, events.WorkerEvent(state="up", host=socket.gethostname(), reason=f"terminal {terminal.name}"))
    failover = FailoverWatch(connection, lease).start()  # issue 26: a failover (another Redis answers) restarts the loop below
    try:
        for attempt in itertools.count():
            failover.moved.clear()  # issue 26: the reconciliation below runs against the Redis that answers now
            _drain(in_flight, settings)  # sends still out end their jobs first; what they could not record is settled below
            carry_to_terminals(connection, settings)
            # before any new job: whatever is running belongs to a dead worker (or to this one, before Redis went away)
            window = settings.BROKER_CALL_TIMEOUT if in_flight is not None else SETTLE_WAIT  # how long a send can still land
            recovered = reconcile(
                connection, brokers, settings.JOB_TTL, terminal.queues, settings.ORDER_TTL, recorder.awaiting_broker, window, recorder.never_sent_here
            )
            if recovered:
                log.warning("settled %d job(s) left running by a stopped worker: %s", len(recovered), recovered)
            worker = RouterWorker(
                [queue(dequeue, name) for name in terminal.queues],
                connection=dequeue,
                serializer=JSONSerializer,
                name=f"router-{terminal.name}-{socket.gethostname()}-{os.getpid()}-{attempt}",
                dequeue_block=settings.WORKER_DEQUEUE_BLOCK,
                lease=lease,
                figures=connection,
                batch=batch,
                in_flight=in_flight,
                call_timeout=settings.BROKER_CALL_TIMEOUT,
                failover=failover,
            )
            log.info("worker %s taking jobs from %s (broker=%s)", worker.name, ", ".join(terminal.queues), settings.BROKER)
            try:
                # logging_level=None: RQ keeps the level common.config.logs gave its loggers (LOG_LEVEL, quiet below DEBUG)
                if stopping.is_set():
                    log.info("stop asked while starting: taking no jobs")
                    return True
                worker.work(burst=burst, with_scheduler=False, logging_level=None)
                _drain(in_flight, settings)
                if in_flight is not None and in_flight.fault.is_set():
                    log.error("a sent order's job could not be recorded; settling it by its tag before taking jobs again")
                    continue
                if lease.lost.is_set():
                    log.error("terminal %s: another worker holds the lease now; this one takes no more jobs", terminal.name)
                    return False
                if burst or worker.stop_asked:
                    return True
                if lease.retaken.is_set():
                    lease.retaken.clear()
                    log.warning("terminal %s: the lease is this worker's again; checking the jobs left running, then taking jobs", terminal.name)
                    continue
                if failover.moved.is_set():  # issue 26: settle the started jobs against the broker before any new one
                    log.warning("terminal %s: another Redis answers now; checking the jobs left running, then taking jobs", terminal.name)
                    continue
                # RQ's loop quits on a Redis timeout or any error it cannot place (logged above by RQ): not a stop request
                log.error("the job loop ended without a stop request (Redis frozen or lost?); taking jobs again once Redis answers")
            except redis.RedisError as error:
                log.error("lost Redis (%s); taking jobs again once it answers", error.__class__.__name__)
            if not _wait_for_redis(connection, stopping):
                return True
    finally:
        _drain(in_flight, settings)
        failover.stop()
        stop.set()
        beat.join(5)
        _mark_stopped(connection, terminal)
        brokers.close()
        runtime.install(None)
        events.append(connection, events.WorkerEvent(state="down", host=socket.gethostname(), reason=f"terminal {terminal.name} stopped"))
        figures.stop()
        log.info("worker stopped")
    return True  # unreachable: the loop only returns


def _drain(in_flight: InFlight | None, settings: Settings) -> None:
    """Wait for the sends still out to end their jobs (each waits for its answer a call timeout, for its tag as long
    again, then asks for its order by tag: three call timeouts at most); clear a fault, which the next reconciliation
    settles. One still running after that is settled by recovery, and its thread then records nothing (finish_job's
    if_started)."""
    if in_flight is None:
        return
    if not in_flight.drain(3 * settings.BROKER_CALL_TIMEOUT + 5):
        log.error("sends still out after %.0f s: their jobs stay started, settled by their tags", 3 * settings.BROKER_CALL_TIMEOUT + 5)
    in_flight.fault.clear()


def _mark_stopped(connection: redis.Redis, terminal: Terminal) -> None:
    """Say in the heartbeat that this worker stopped on purpose: it announced that itself, and the scheduler need not."""
    try:
        connection.hset(terminal.heartbeat_key, mapping={"stopped": time.time()})  # redis-py's value= takes only text
    except redis.RedisError as error:
        log.warning("heartbeat not marked stopped: %s", error.__class__.__name__)


def _stop_signals(stopping: threading.Event | None = None) -> threading.Event:
    """An event (`stopping`, or a new one) set by SIGINT/SIGTERM (in the main thread), for the waits outside RQ's own loop."""
    stopping = stopping or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM"):
            signal.signal(getattr(signal, name), lambda *_: stopping.set())
    return stopping


def _wait_for_redis(connection: redis.Redis, stopping: threading.Event) -> bool:
    """Block until Redis answers (True) or SIGINT/SIGTERM arrives (False: `stopping` set), retrying every REDIS_RETRY_SECONDS."""
    _stop_signals(stopping)  # RQ's loop had its own handlers: a stop asked now must reach this wait and what follows
    while not stopping.wait(REDIS_RETRY_SECONDS):
        try:
            connection.ping()
            return True
        except redis.RedisError:
            continue
    return False


def _publish_calendar(connection: redis.Redis) -> None:
    """QMT's trading days into Redis, for the scheduler and the status page; never stops the worker."""
    from worker import calendar_feed
    from worker.xtquant_sdk import market_data

    try:
        calendar_feed.publish(connection, market_data())
    except (ImportError, redis.RedisError) as error:
        log.warning("QMT's trading calendar not published: %s", error)
