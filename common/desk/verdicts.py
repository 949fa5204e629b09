"""The broker's verdict on submitted jobs: the waiting answer that old clients get instead of a job id.

"Definite" is the broker's word, not the job's end: an order job ends after waiting about a second
for the first status, and a rejection (status 57) may arrive after that. An order is a success once
the broker has accepted it (reported, part-filled, filled, or cancelled after that), a failure when
it was rejected, expired or never sent; anything else (not yet reported, unknown) is not yet definite.
A cancel is definite when its job ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis

from common.rules.exceptions import JobNotFound
from common.rules.loose_types import JsonObject
from common.rules.orders import ORDER_UNKNOWN, ORDER_UNREPORTED, ORDER_WAIT_REPORTING
from common.store import jobqueue
from common.store.payloads import JobView

RUNNING = ("queued", "started", "deferred", "scheduled")
NOT_YET_AT_THE_BROKER = frozenset({ORDER_UNREPORTED, ORDER_WAIT_REPORTING, ORDER_UNKNOWN})
POLL_SECONDS = 0.05  # between reads of an order's state while its first broker status is awaited
RESULT_FIELDS = (
    "order_id",
    "symbol",
    "side",
    "volume",
    "price",
    "price_type",
    "order_status",
    "status",
    "status_msg",
    "traded_volume",
    "traded_price",
    "cancelled",
    "refused",
    "day",
    "nothing_to_send",
)


@dataclass(frozen=True)
class Verdict:
    """One job's definite outcome: `result` has the order id, volume (shares), price (yuan) and broker status."""

    trader_index: int | None
    job_id: str
    succeeded: bool
    error: str | None = None
    result: JsonObject = field(default_factory=dict)


def verdict_of(trader_index: int | None, job: JobView) -> Verdict | None:
    """The job's verdict, or None while it is not yet definite."""
    if job.status in RUNNING:
        return None
    result = job.result if isinstance(job.result, dict) else {}
    shown = {name: result[name] for name in RESULT_FIELDS if name in result}
    if job.status != "finished":
        return Verdict(trader_index, job.job_id, False, job.error or f"the job ended {job.status}", shown)
    undecided = result.get("outcome") == "unknown" or result.get("order_status") in NOT_YET_AT_THE_BROKER
    if job.kind == "order" and undecided:
        return None
    return Verdict(trader_index, job.job_id, True, None, shown)


def verdicts_now(connection: redis.Redis, jobs: tuple[tuple[int | None, str], ...]) -> list[Verdict | None]:
    """Each job's verdict as it stands now, None while not yet definite (or the job is gone); no waiting."""
    found: list[Verdict | None] = []
    for trader_index, job_id in jobs:
        try:
            found.append(verdict_of(trader_index, jobqueue.view(connection, job_id)))
        except JobNotFound:
            found.append(None)
    return found


def await_verdicts(connection: redis.Redis, jobs: tuple[tuple[int | None, str], ...], seconds: float) -> list[Verdict] | None:
    """Every job's verdict once all are definite within `seconds`; None when the time runs out first."""
    deadline = time.monotonic() + min(max(seconds, 0.0), jobqueue.WAIT_MAX_SECONDS)
    verdicts: list[Verdict] = []
    for trader_index, job_id in jobs:
        while True:
            left = deadline - time.monotonic()
            job = jobqueue.wait(connection, job_id, max(left, 0.0))  # blocks until the job ends
            verdict = verdict_of(trader_index, job)
            if verdict is not None:
                verdicts.append(verdict)
                break
            if left <= 0:
                return None
            time.sleep(min(POLL_SECONDS, max(left, 0.0)))  # the job ended; its order's first broker status is on the way
    return verdicts
