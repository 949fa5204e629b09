"""The worker process: open the broker sessions, then run jobs in this process, cancel > order > query.

RQ's SimpleWorker runs each job in the calling thread: no fork (Windows has none, and a forked
child would not own the QMT session) and no SIGALRM (TimerDeathPenalty everywhere).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import sys
import threading
import time

import redis
from rq import SimpleWorker
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.utils import import_attribute

from common import events, keys
from common.exceptions import UnknownJobFunction
from common.jobqueue import queue
from common.payloads import JOB_ROUTES
from common.settings import Settings
from worker import runtime
from worker.broker import Brokers
from worker.callbacks import OrderEventRecorder
from worker.recovery import OrphanWatch, reconcile

log = logging.getLogger("worker")
HEARTBEAT_SECONDS = 2.0
REDIS_RETRY_SECONDS = 1.0
ORPHAN_SCAN_SECONDS = 15.0


# Dotted path a job names -> the function that runs it. Jobs name their function by path (common.payloads.JOB_ROUTES);
# when a function moves, its old path stays here, so jobs queued by the previous version still run.
JOB_FUNCTIONS: dict[str, str] = {path: path for _, path in JOB_ROUTES.values()}


class RouterJob(Job):
    """A job that runs only the router's own job functions; any other path fails the job with a clear error."""

    @property
    def func(self):  # type: ignore[override]  # RQ's is an untyped property too
        target = JOB_FUNCTIONS.get(self.func_name or "")
        if target is None:
            raise UnknownJobFunction(
                f"job {self.id} names {self.func_name!r}, which this worker does not run (queued by another version?); "
                f"it was not run: drain the queues before an upgrade (README, Upgrading)"
            )
        return import_attribute(target)


class RouterWorker(SimpleWorker):
    """RQ's SimpleWorker with the timer death penalty, our job functions only, a short blocking dequeue, and
    jobs whose Redis bookkeeping failed left in the started registry for `reconcile` (never marked failed)."""

    death_penalty_class = TimerDeathPenalty
    job_class = RouterJob

    def __init__(self, *args, dequeue_block: int = 5, **kwargs):
        self._dequeue_block = dequeue_block  # read by RQ's __init__ (connection_timeout) before anything else is set
        self.stop_asked = False  # SIGINT/SIGTERM arrived (RQ records it only when a job is running)
        super().__init__(*args, **kwargs)

    def request_stop(self, signum, frame):
        self.stop_asked = True
        super().request_stop(signum, frame)

    @property
    def dequeue_timeout(self) -> int:
        """Seconds one BLPOP blocks; RQ's default (405 s) would leave a frozen Redis unnoticed for minutes."""
        return self._dequeue_block

    @property
    def connection_timeout(self) -> int:
        """The socket timeout RQ insists on: above the BLPOP block (the dequeue connection is given one already)."""
        return self._dequeue_block + 1

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        # Redis, not the job, failed (e.g. the result write timed out on a frozen Redis): the job may have done its
        # work, so it stays started and `reconcile` settles it by its tag once Redis answers, never running an order twice.
        failure = sys.exc_info()[1]
        if isinstance(failure, redis.RedisError):
            raise failure
        return super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)


def _beat(connection: redis.Redis, settings: Settings, stop: threading.Event) -> None:
    """Heartbeat even while a job blocks the main thread, so the status page can tell 'busy' from 'dead';
    and every ORPHAN_SCAN_SECONDS, requeue jobs lost between a queue and this worker."""
    fields = {"pid": os.getpid(), "host": socket.gethostname(), "broker": settings.BROKER, "started": time.time()}
    watch = OrphanWatch(connection)
    next_scan = time.monotonic() + ORPHAN_SCAN_SECONDS
    while not stop.is_set():
        try:
            connection.hset(keys.WORKER_HEARTBEAT, mapping={**fields, "ts": time.time()})
            connection.expire(keys.WORKER_HEARTBEAT, int(HEARTBEAT_SECONDS * 10))
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + ORPHAN_SCAN_SECONDS
                watch.scan()
        except redis.RedisError as error:
            log.warning("heartbeat not written: %s", error.__class__.__name__)
        stop.wait(HEARTBEAT_SECONDS)


def serve(settings: Settings, connection: redis.Redis, burst: bool = False, dequeue: redis.Redis | None = None) -> None:
    """Open the broker sessions and take jobs until stopped (SIGINT/SIGTERM), or until the queues are empty with `burst`.

    `dequeue` is RQ's connection (common.store.dequeue_connection: a socket timeout above the blocking
    dequeue); `connection` (short timeout) serves the jobs, callbacks and heartbeat. A lost or frozen
    Redis does not end the worker: it waits for Redis, settles the job it was running (by its tag,
    never resending) and takes jobs again.
    """
    dequeue = dequeue or connection
    # Abandoned-job cleanup would use the signal penalty on Windows; make it the timer (docs/architecture.md, "Windows").
    StartedJobRegistry.death_penalty_class = TimerDeathPenalty
    recorder = OrderEventRecorder(connection, settings.JOB_TTL)
    brokers = Brokers(settings, connection, recorder)
    brokers.open()
    if settings.BROKER == "qmt":
        _publish_calendar(connection)
    runtime.install(runtime.Runtime(settings=settings, redis=connection, brokers=brokers, recorder=recorder))
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(connection, settings, stop), name="worker-heartbeat", daemon=True)
    beat.start()
    events.append(connection, events.WorkerEvent(state="up", host=socket.gethostname()))
    try:
        for attempt in itertools.count():
            # before any new job: whatever is running belongs to a dead worker (or to this one, before Redis went away)
            recovered = reconcile(connection, brokers, settings.JOB_TTL)
            if recovered:
                log.warning("settled %d job(s) left running by a stopped worker: %s", len(recovered), recovered)
            worker = RouterWorker(
                [queue(dequeue, name) for name in keys.QUEUES_BY_PRIORITY],
                connection=dequeue,
                serializer=JSONSerializer,
                name=f"router-{socket.gethostname()}-{os.getpid()}-{attempt}",
                dequeue_block=settings.WORKER_DEQUEUE_BLOCK,
            )
            log.info("worker %s taking jobs from %s (broker=%s)", worker.name, ", ".join(keys.QUEUES_BY_PRIORITY), settings.BROKER)
            try:
                worker.work(burst=burst, with_scheduler=False, logging_level=settings.LOG_LEVEL)
                if burst or worker.stop_asked:
                    return
                # RQ's loop quits on a Redis timeout or any error it cannot place (logged above by RQ): not a stop request
                log.error("the job loop ended without a stop request (Redis frozen or lost?); taking jobs again once Redis answers")
            except redis.RedisError as error:
                log.error("lost Redis (%s); taking jobs again once it answers", error.__class__.__name__)
            if not _wait_for_redis(connection):
                return
    finally:
        stop.set()
        beat.join(5)
        _mark_stopped(connection)
        brokers.close()
        runtime.install(None)
        events.append(connection, events.WorkerEvent(state="down", host=socket.gethostname(), reason="stopped"))
        log.info("worker stopped")


def _mark_stopped(connection: redis.Redis) -> None:
    """Say in the heartbeat that this worker stopped on purpose: it announced that itself, and the scheduler need not."""
    try:
        connection.hset(keys.WORKER_HEARTBEAT, "stopped", time.time())
    except redis.RedisError as error:
        log.warning("heartbeat not marked stopped: %s", error.__class__.__name__)


def _wait_for_redis(connection: redis.Redis) -> bool:
    """Block until Redis answers (True) or SIGINT/SIGTERM arrives (False), retrying every REDIS_RETRY_SECONDS."""
    stopping = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM"):
            signal.signal(getattr(signal, name), lambda *_: stopping.set())
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
