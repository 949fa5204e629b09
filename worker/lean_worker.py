"""RQ's SimpleWorker with its per-job bookkeeping in fewer round trips: the same keys, hashes and registries, so RQ's own
tools (rq info, the dashboard, registries' cleanup) see jobs and workers as they always do.

Measured with `python run.py bench` (docs/benchmarks.md), RQ 2.12 spends about eleven round trips on every job besides the
job's own work. Here:
- the execution record, the worker's "busy", the job's "started" and the PERSIST that RQ's Job.perform sends on its own
  go in one pipeline, not three round trips (prepare_job_execution);
- the job's heartbeat at its end is not sent by itself: the result's transaction saves the job hash anyway
  (handle_execution_ended);
- the result's transaction runs without WATCH and the read of the job's dependents, because the router queues no job
  that depends on another, and carries the worker's "idle" (handle_job_success);
- a state the worker is in already is not written again (set_state);
- whether `rq suspend` was run is asked once a second, not before every job (check_for_suspension).
RQ is pinned (requirements.txt): what is copied from it follows that version, and tests/worker/test_lean_worker.py
compares the keys a job leaves with what RQ's own SimpleWorker leaves.
"""

from __future__ import annotations

import time
from typing import Any

from redis.client import Pipeline
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job, JobStatus, _job_stack
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.utils import now
from rq.worker.base import WorkerStatus

SUSPENSION_CHECK_SECONDS = 1.0


class LeanJob(Job):
    """A job whose PERSIST of its hash rides in the worker's preparing pipeline (LeanWorker) instead of its own round trip."""

    def perform(self) -> Any:  # Any: what the job function returned, as RQ's Job.perform has it
        _job_stack.push(self)  # what RQ's Job.perform does, but the PERSIST before it
        try:
            self._result = self._execute()
        finally:
            assert self is _job_stack.pop()
        return self._result


class LeanWorker(SimpleWorker):
    job_class = LeanJob
    _suspension_checked = -SUSPENSION_CHECK_SECONDS  # monotonic time of the last check for `rq suspend`

    def check_for_suspension(self, burst: bool) -> None:
        # RQ asks whether `rq suspend` was run before every job (one round trip, with a heartbeat): once a second will do
        if time.monotonic() - self._suspension_checked >= SUSPENSION_CHECK_SECONDS:
            self._suspension_checked = time.monotonic()
            super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and state == getattr(self, "_state", None):
            return  # RQ sets "idle" again between jobs: the write would change nothing
        super().set_state(state, pipeline)

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
        with self.connection.pipeline() as pipeline:
            pipeline.multi()
            self.increment_successful_job_count(pipeline=pipeline)
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
