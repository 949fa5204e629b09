"""RQ's model as the router uses it: the one module that knows RQ's insides (its private names and the worker methods it
overrides). Jobs stay RQ jobs: the same keys, hashes and registries, so RQ's own tools (rq info, Job.fetch, the
dashboard, registries' cleanup) read them as they always do.

- the job hash as RQ's unique enqueue writes it (hash_as_enqueued), for the enqueue script (common.store.scripts.enqueue);
- a job recorded as finished as a worker finishing it would (finish_job), for recovery, tests and a job the worker left
  running while its broker call is in flight (DEFERRED: the job function's return value that says another thread records
  the result; the job stays started, in its started registry, until then);
- the worker (LeanWorker, LeanJob): RQ's SimpleWorker with its per-job bookkeeping in fewer round trips, the timer death
  penalty (no SIGALRM: Windows) for its jobs and its abandoned-job cleanup alike, a short blocking dequeue, and hooks
  with the router's own names (job_context, keep_taking_jobs, before_dequeue, may_run, result_writes, job_succeeded,
  job_deferred, job_failing, job_failed) where the router adds its lease, logs, metrics and held events. A subclass overrides those hooks, never
  RQ's methods (tests/common/test_rq_model.py checks it, and that no other module uses RQ's private names).

Measured with `python run.py bench` (docs/benchmarks.md), RQ 2.12 spends about eleven round trips on every job besides the
job's own work. Here:
- the execution record, the worker's "busy", the job's "started" and the PERSIST that RQ's Job.perform sends on its own
  go in one pipeline, not three round trips (prepare_job_execution);
- the job's heartbeat at its end is not sent by itself: the result's transaction saves the job hash anyway
  (handle_execution_ended);
- the result's transaction runs without WATCH and the read of the job's dependents, because the router queues no job
  that depends on another, and carries the worker's "idle" (handle_job_success);
- a state the worker is in already is not written again (set_state);
- whether `rq suspend` was run is asked once a second, not before every job (check_for_suspension);
- RQ's worker heartbeat between jobs is written at most once a second (heartbeat).
RQ is pinned to a tested range (requirements.txt; `python run.py test --rq-floor` runs the RQ-facing tests on its lower
bound): what is copied from it follows those versions, and tests/worker/test_rq_equivalence.py compares every key a
job leaves with what RQ's own SimpleWorker and enqueue leave.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, ClassVar

import redis
from redis.client import Pipeline
from rq import SimpleWorker, worker_registration
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus, _job_stack
from rq.queue import Queue
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.timeouts import TimerDeathPenalty
from rq.utils import import_attribute, now
from rq.worker import WorkerStatus

from common.rules.exceptions import UnknownJobFunction
from common.rules.loose_types import RedisArg

SUSPENSION_CHECK_SECONDS = 1.0
DEFERRED = "rq_model.deferred"  # a job function returning this leaves its job started: another thread calls finish_job
RQ_HEARTBEAT_EVERY = 1.0  # seconds between the RQ worker heartbeats written between jobs


def hash_as_enqueued(queue: Queue, job: Job) -> tuple[list[RedisArg], int]:
    """The fields of `job`'s hash as RQ's enqueue on `queue` writes them (origin, enqueued_at, status set by RQ itself just
    before its own save), and the hash's TTL (-1: none)."""
    queue._prepare_for_queue(job)  # noqa: SLF001 - RQ's own step before it saves a job it queues
    fields: list[RedisArg] = []
    for name, value in job.to_dict().items():
        if value is not None:
            fields += [name, value]
    return fields, job.ttl if job.ttl is not None else -1


def finish_job(
    connection: redis.Redis,
    job: Job,
    result: dict,
    result_ttl: int,
    started: StartedJobRegistry | None = None,
    also: Callable[[Pipeline], None] | None = None,
    *,
    if_started: bool = False,
) -> bool:
    """Record `result` as the job's return value and the job as finished, as a worker finishing it would: out of its
    started registry (`started`, when it was there), status, hash, finished registry and result stream, with `also`'s
    writes, in one transaction. `if_started`: only while the job is still started (WATCHed), so a job that another
    thread or worker ended meanwhile (a sent job's ending thread and recovery) is never finished twice; False when it
    was not."""
    finished = FinishedJobRegistry(job.origin, connection=connection, serializer=job.serializer)
    with connection.pipeline() as pipe:
        if if_started:
            pipe.watch(job.key)
            status = pipe.hget(job.key, "status")
            if (status.decode() if isinstance(status, bytes) else status) != JobStatus.STARTED.value:
                return False
            pipe.multi()
        job.ended_at = now()
        job._result = result  # noqa: SLF001 - RQ keeps a finished job's return value here; Result.create below reads it
        if started is not None:
            started.remove_executions(job, pipeline=pipe)
            pipe.zrem(started.key, job.id)
        job.set_status(JobStatus.FINISHED, pipeline=pipe)
        job.save(pipeline=pipe, include_meta=False)
        job.cleanup(result_ttl, pipeline=pipe, remove_from_queue=False)
        finished.add(job, result_ttl, pipeline=pipe)
        Result.create(job, Result.Type.SUCCESSFUL, result_ttl, return_value=result, pipeline=pipe)
        if also is not None:
            also(pipe)
        try:
            pipe.execute()
        except redis.WatchError:  # ended by another meanwhile
            return False
    return True


class LeanJob(Job):
    """A job whose PERSIST of its hash rides in the worker's preparing pipeline (LeanWorker) instead of its own round trip.

    With `functions` set (dotted path a job names -> the function run), it runs only those: any other path fails the
    job with a clear error (UnknownJobFunction). `returned` keeps what the job function returned."""

    functions: ClassVar[Mapping[str, str] | None] = None
    returned: object = None

    @property
    def func(self) -> Any:  # Any: the job's callable, as RQ's Job.func has it
        if self.functions is None:
            return super().func
        target = self.functions.get(self.func_name or "")
        if target is None:
            raise UnknownJobFunction(
                f"job {self.id} names {self.func_name!r}, which this worker does not run (queued by another version?); "
                f"it was not run: drain the queues before an upgrade (docs/moving-over.md, Upgrading)"
            )
        return import_attribute(target)

    def perform(self) -> Any:  # Any: what the job function returned, as RQ's Job.perform has it
        _job_stack.push(self)  # what RQ's Job.perform does, but the PERSIST before it
        try:
            self._result = self._execute()
        finally:
            assert self is _job_stack.pop()
        self.returned = self._result
        return self._result


class TimerStartedJobRegistry(StartedJobRegistry):
    """RQ's started registry whose abandoned-job cleanup uses the timer death penalty (its default is SIGALRM's)."""

    death_penalty_class = TimerDeathPenalty  # type: ignore[assignment]  # RQ declares it by its default; both are BaseDeathPenalty


class LeanWorker(SimpleWorker):
    """RQ's SimpleWorker in fewer round trips, with the timer death penalty and the router's hooks (module docstring)."""

    death_penalty_class = TimerDeathPenalty
    job_class = LeanJob
    left_started_seconds = 600  # how long a job left started (DEFERRED) stays in its started registry before RQ calls it abandoned
    # RQ waits after a failed dequeue 1 s, doubling to 60 s: a Redis back after a minute's outage would find the worker asleep
    # for up to a minute more, and a failover noticed during the wait could not stop it. Once a second, at most.
    max_connection_wait_time = 1.0
    _suspension_checked = -SUSPENSION_CHECK_SECONDS  # monotonic time of the last check for `rq suspend`

    def __init__(self, queues: Any, *, connection: redis.Redis, dequeue_block: int = 5, **options: Any):  # Any: RQ's own arguments
        self._dequeue_block = dequeue_block  # read by RQ's __init__ (connection_timeout) before anything else is set
        self.stop_asked = False  # SIGINT/SIGTERM arrived (RQ records it only when a job is running)
        self._beaten = -RQ_HEARTBEAT_EVERY  # monotonic time of the last heartbeat written outside a pipeline
        super().__init__(queues, connection=connection, **options)

    # -- the router's hooks (no-ops here) --------------------------------------------------------------------------
    def job_context(self, job: Job) -> contextlib.AbstractContextManager[None]:  # noqa: ARG002 - a hook
        """Entered around each job's run and bookkeeping (the router puts the job's ids on every log line)."""
        return contextlib.nullcontext()

    def keep_taking_jobs(self) -> bool:
        """Asked between jobs (at each heartbeat outside a job's bookkeeping): False ends the loop."""
        return True

    def before_dequeue(self) -> None:
        """Asked before each dequeue (it may wait, e.g. for room among the broker calls in flight); raise StopRequested
        to end the loop."""

    def may_run(self, job: Job) -> bool:  # noqa: ARG002 - a hook
        """Asked just before a taken job runs: False leaves it as it is (queued in no queue) and ends the loop."""
        return True

    def result_writes(self, pipeline: Pipeline) -> None:
        """Add writes to the transaction that records a job's result (sent with it, in one round trip)."""

    def job_succeeded(self, job: Job) -> None:
        """After a job's result was written."""

    def job_deferred(self, job: Job) -> None:
        """After a job whose function returned DEFERRED was left started (its result is recorded later, by finish_job)."""

    def job_failing(self, failure: BaseException | None) -> None:
        """First thing when a job failed, or its bookkeeping did (`failure`: what was raised)."""

    def job_failed(self, job: Job) -> None:
        """After a failed job was recorded as failed (not after a Redis failure: that job stays started)."""

    # -- RQ's methods --------------------------------------------------------------------------------------------
    @property
    def dequeue_timeout(self) -> int:
        """Seconds one BLPOP blocks; RQ's default (405 s) would leave a frozen Redis unnoticed for minutes."""
        return self._dequeue_block

    @property
    def connection_timeout(self) -> int:
        """The socket timeout RQ insists on: above the BLPOP block (the dequeue connection is given one already)."""
        return self._dequeue_block + 1

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)

    def clean_registries(self) -> None:
        # RQ's, with the started registry's abandoned-job cleanup on the timer death penalty, for this worker only
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                self.log.info("Worker %s: cleaning registries for queue: %s", self.name, queue.name)
                for registry_class in (FinishedJobRegistry, TimerStartedJobRegistry, FailedJobRegistry, DeferredJobRegistry):
                    registry = registry_class(name=queue.name, connection=queue.connection, job_class=queue.job_class, serializer=queue.serializer)
                    if isinstance(registry, StartedJobRegistry):
                        registry.cleanup(exception_handlers=self._exc_handlers)
                    else:
                        registry.cleanup()
                worker_registration.clean_worker_registry(queue)
                queue.intermediate_queue.cleanup(self, queue)
                queue.release_maintenance_lock()
        self.last_cleaned_at = now()  # type: ignore[assignment]  # RQ declares it None until the first cleaning

    def check_for_suspension(self, burst: bool) -> None:
        # RQ asks whether `rq suspend` was run before every job (one round trip, with a heartbeat): once a second will do
        if time.monotonic() - self._suspension_checked >= SUSPENSION_CHECK_SECONDS:
            self._suspension_checked = time.monotonic()
            super().check_for_suspension(burst)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is None:  # between jobs, never inside a job's own bookkeeping (which passes a pipeline)
            if not self.keep_taking_jobs():
                raise StopRequested()
            # RQ beats about three times a job, two round trips each; its key lives minutes, so once a second says the same
            if time.monotonic() - self._beaten < RQ_HEARTBEAT_EVERY:
                return
            self._beaten = time.monotonic()
        super().heartbeat(timeout, pipeline)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and state == getattr(self, "_state", None):
            return  # RQ sets "idle" again between jobs: the write would change nothing
        super().set_state(state, pipeline)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        self.before_dequeue()
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def execute_job(self, job: Job, queue: Queue) -> None:
        if not self.may_run(job):
            raise StopRequested()
        super().execute_job(job, queue)

    def perform_job(self, job: Job, queue: Queue) -> bool:
        with self.job_context(job):
            return super().perform_job(job, queue)

    def prepare_execution(self, job: Job) -> Execution | None:  # type: ignore[override]  # RQ's always makes one  # noqa: ARG002 - RQ's signature
        return None  # the execution record is written with the rest of the preparation (prepare_job_execution)

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        heartbeat_ttl = self.get_heartbeat_ttl(job)
        with self.connection.pipeline() as pipeline:
            # RQ's prepare_execution
            self.execution = Execution.create(job, heartbeat_ttl, pipeline=pipeline, worker_name=self.name)
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            # RQ's prepare_job_execution
            self.set_current_job_id(job.id, pipeline=pipeline)
            self.set_current_job_working_time(0, pipeline=pipeline)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            if remove_from_intermediate_queue:
                pipeline.lrem(self.queue_class(job.origin, connection=self.connection).intermediate_queue_key, 1, job.id)
            # RQ's Job.perform
            pipeline.persist(job.key)
            pipeline.execute()
        self.procline(f"Processing {job.func_name} from {job.origin} since {now().timestamp()}")

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:  # noqa: ARG002 - RQ's signature
        job.ended_at = now()
        job.last_heartbeat = job.ended_at  # saved with the job's hash by the result's transaction

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry) -> None:  # noqa: ARG002 - RQ's signature
        if isinstance(job, LeanJob) and job.returned == DEFERRED:
            self._leave_started(job)
            return
        with self.connection.pipeline() as pipeline:
            pipeline.multi()
            self.increment_successful_job_count(pipeline=pipeline)
            self.result_writes(pipeline)
            assert job.started_at and job.ended_at
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                job._handle_success(  # noqa: SLF001  # RQ's own step, as its handle_job_success calls it
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=self.execution.id if self.execution else None,
                    execution_started_at=self.execution.created_at if self.execution else None,
                    execution_ended_at=job.ended_at,
                )
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            self.cleanup_execution(job, pipeline=pipeline)
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)  # what SimpleWorker sends next by itself (set_state skips it)
            pipeline.execute()
        job._status = JobStatus.FINISHED  # noqa: SLF001 - as RQ's own handle_job_success sets it
        self.log.info("Successfully completed job %s in %ss on worker %s", job.id, job.ended_at - job.started_at, self.name)
        self.job_succeeded(job)

    def _leave_started(self, job: Job) -> None:
        """The job's function handed its ending to another thread: the job stays started, in its started registry with
        its execution record, so a worker that dies before finish_job leaves it to recovery as any job it was running."""
        with self.connection.pipeline() as pipeline:
            pipeline.multi()
            self.result_writes(pipeline)
            if self.execution is not None:  # RQ's abandoned-job sweep leaves it alone while its result is on its way
                registry = StartedJobRegistry(job.origin, connection=self.connection, serializer=self.serializer)
                self.execution.heartbeat(registry, self.left_started_seconds, pipeline)
            self.set_current_job_id(None, pipeline=pipeline)
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            pipeline.execute()
        self.execution = None  # the record stays in Redis; finish_job removes it with the job from the started registry
        self.job_deferred(job)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry | None = None, exc_string: str = "") -> None:
        # Redis, not the job, failed (e.g. the result write timed out on a frozen Redis): the job may have done its
        # work, so it stays started and the router's recovery settles it once Redis answers, never running it twice.
        failure = sys.exc_info()[1]
        self.job_failing(failure)
        if isinstance(failure, redis.RedisError):
            raise failure
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)
        self.job_failed(job)
