"""The last step before an order goes to QMT, in one round trip to Redis (common.store.scripts.fences, atomic):

1. the fence: this worker still holds its terminal's lease (worker.lease; skipped when it runs without one);
2. the risk limits the order was just checked against are still the stored ones (common.store.risk_state.assumed);
3. with REDIS_WAIT_REPLICAS, the job is started on the server that answers, and a replica has all of it, the job's start
   included (common.store.replication): a send then rests on nothing a failover can take back.

Any doubt means the order is not sent: a lost lease, a Redis error or no answer. The job's "sent" event is not
written here: only once the broker accepted the call (worker.jobs), so an answer lost after this check can never
leave a "sent" for an order the broker never got.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Literal, cast

import redis
from rq import get_current_job
from rq.job import Job
from rq.utils import now

from common.store import replication
from common.store.scripts import fences
from worker.lease import Lease

log = logging.getLogger("worker.fence")
AWAY_WAIT_MS = 10  # a send's least WAIT while no replica confirmed the last time: one that is back acknowledges within a round trip
Verdict = Literal["ok", "lost", "stale", "unanswered", "unconfirmed"]


def _while_away(wait_ms: int, job: Job | None) -> int:
    """How long a send waits for the replicas while none confirmed the last time (worker.failover, Lease.check_replicas, or
    a send): until the job's intake stopped waiting for them (queued + REDIS_WAIT_MS), so that an order its intake
    answered 202 is never refused here; an older one (its intake answered "outcome unknown") only AWAY_WAIT_MS. So the
    orders queued while the replica is away end within REDIS_WAIT_MS of their intake, not one per REDIS_WAIT_MS, and
    are not sent late; the queries behind them wait only while orders keep coming faster than that."""
    if job is None or job.enqueued_at is None:
        return min(wait_ms, AWAY_WAIT_MS)
    left_ms = int((job.enqueued_at - now()).total_seconds() * 1000) + wait_ms
    return max(AWAY_WAIT_MS, min(wait_ms, left_ms))


def before_send(connection: redis.Redis, lease: Lease | None, limits_json: str) -> tuple[Verdict, str]:
    """("ok", ""): send now. ("stale", the stored limits' JSON): check the order again with them.
    ("lost", the holder or "" for nobody), ("unanswered", the Redis error) or ("unconfirmed": no replica confirmed the
    lease and the job's start within REDIS_WAIT_MS, the lease's `confirm`; or the job is not started on the Redis that
    answers): do not send."""
    confirm = lease.confirm if lease else None
    job = get_current_job() if confirm is not None else None  # the job being sent: started, on the server that answers?
    if lease is not None and confirm is not None and not lease.confirmed:
        confirm = replace(confirm, timeout_ms=_while_away(confirm.timeout_ms, job))
    try:
        job_key = Job.key_for(job.id) if job is not None else ""
        verdict, detail = fences.before_send(connection, lease.key if lease else "", lease.token if lease else "", limits_json, confirm, job_key)
        if verdict == "unconfirmed" and lease is not None and confirm != lease.confirm and replication.replica_syncing(connection):
            # a replica is coming back (being sent the data): wait for it as long as the intake does, rather than refuse an
            # order its intake may be about to confirm (a 202)
            verdict, detail = fences.before_send(connection, lease.key, lease.token, limits_json, lease.confirm, job_key)
    except redis.RedisError as error:
        return "unanswered", error.__class__.__name__
    if verdict == "lost" and lease is not None:
        lease.judge(detail or None)  # another's: stand by; lapsed: the renewal takes it again
    if lease is not None and confirm is not None and verdict in ("ok", "unconfirmed"):  # what the replicas said (else not asked)
        lease.note_replicas(verdict == "ok")  # unconfirmed: the sends after it ask only briefly, until one is confirmed
    if verdict == "unstarted":  # taken from a master that died before its replicas had the job's start: never sent from here
        log.error("job %s is %s, not started, on the Redis that answers now (a failover lost its start): not sent", job and job.id, detail)
        return "unconfirmed", detail
    return cast(Verdict, verdict), detail  # the script answers one of them
