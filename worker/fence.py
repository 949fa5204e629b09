"""The last step before an order goes to QMT, in one round trip to Redis (common.store.scripts.fences, atomic):

1. the fence: this worker still holds its terminal's lease (worker.lease; skipped when it runs without one);
2. the risk limits the order was just checked against are still the stored ones (common.store.risk_state.assumed);
3. with REDIS_WAIT_REPLICAS, a replica has all of it, the job's start included (common.store.replication).

Any doubt means the order is not sent: a lost lease, a Redis error or no answer. The job's "sent" event is not
written here: only once the broker accepted the call (worker.jobs), so an answer lost after this check can never
leave a "sent" for an order the broker never got.
"""

from __future__ import annotations

from typing import Literal, cast

import redis

from common.store.scripts import fences
from worker.lease import Lease

Verdict = Literal["ok", "lost", "stale", "unanswered", "unconfirmed"]


def before_send(connection: redis.Redis, lease: Lease | None, limits_json: str) -> tuple[Verdict, str]:
    """("ok", ""): send now. ("stale", the stored limits' JSON): check the order again with them.
    ("lost", the holder or "" for nobody), ("unanswered", the Redis error) or ("unconfirmed": no replica confirmed the
    lease and the job's start within REDIS_WAIT_MS, the lease's `confirm`): do not send."""
    try:
        confirm = lease.confirm if lease else None
        verdict, detail = fences.before_send(connection, lease.key if lease else "", lease.token if lease else "", limits_json, confirm)
    except redis.RedisError as error:
        return "unanswered", error.__class__.__name__
    if verdict == "lost" and lease is not None:
        lease.judge(detail or None)  # another's: stand by; lapsed: the renewal takes it again
    return cast(Verdict, verdict), detail  # the script answers one of them
