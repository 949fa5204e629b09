"""The router's counters and latency histograms: counted in each process, summed in Redis, read at scrape time.

Several processes see the figures — one or more web processes (requests), the worker (jobs, order
latencies), every role (events appended) — and Prometheus should see one total. Each process counts
in memory (`count`, `observe`: no I/O, so a request or a job never waits on Redis for a metric) and
a `Flusher` thread adds what it counted to Redis every FLUSH_SECONDS, in one transaction; a web process
also flushes its own counts when it is scraped. `/metrics` on any web process reads the sums
(common.store.exposition), so scraping one of them is enough and every one of them gives the same figures.

Storage: one hash per family, `keys.metric(family.name)`. A field is the JSON list of the label values
(in the family's label order); a histogram has a field per bucket (`<labels>|b<i>`, i indexing
LATENCY_BUCKETS, the last being +Inf; counts per bucket, not cumulative) and one for the sum
(`<labels>|sum`). The sums live as long as Redis keeps them (AOF), across process restarts, so they
only grow: Prometheus' counter semantics. A flush Redis refuses is kept and tried again; one whose
answer is lost to a timeout may have been applied, so a figure may be counted twice across an outage
(it is never lost): good enough for a dashboard, and the audit trail is the record.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
from dataclasses import dataclass
from typing import Literal
from weakref import WeakKeyDictionary

import redis

from common.store import keys

log = logging.getLogger("router.metrics")
FLUSH_SECONDS = 1.0
# seconds; an order through the simulator takes ~10 ms, through QMT tens to hundreds, a queue behind a slow broker seconds
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Family:
    """One metric family the processes count: its Prometheus name (counters without `_total`), kind, help and labels."""

    name: str
    kind: Literal["counter", "histogram"]
    help: str
    labels: tuple[str, ...] = ()


HTTP_REQUESTS = Family("qmt_http_requests", "counter", "HTTP requests answered by the web processes", ("method", "route", "status"))
JOBS = Family("qmt_jobs", "counter", "jobs the worker ended, by kind and outcome", ("kind", "outcome"))
EVENTS_APPENDED = Family("qmt_events_appended", "counter", "entries appended to the event stream (common.store.events), by kind", ("kind",))
ORDER_TO_BROKER = Family(
    "qmt_order_accepted_to_broker_seconds", "histogram", "an order job's time from accepted (the payload's meta.created_at) to the broker call"
)
ORDER_TO_RESULT = Family(
    "qmt_order_accepted_to_result_seconds", "histogram", "an order job's time from accepted to its result written (every outcome)"
)
FAMILIES: tuple[Family, ...] = (HTTP_REQUESTS, JOBS, EVENTS_APPENDED, ORDER_TO_BROKER, ORDER_TO_RESULT)

Pending = dict[tuple[str, str], float]  # (family name, field) -> amount not yet in Redis
_lock = threading.Lock()
_pending: WeakKeyDictionary[redis.Redis, Pending] = WeakKeyDictionary()


def label_field(family: Family, labels: dict[str, str]) -> str:
    """The hash field of one label set: the values in the family's label order, as JSON."""
    return json.dumps([str(labels.get(name, "")) for name in family.labels], ensure_ascii=False)


def count(connection: redis.Redis, family: Family, amount: float = 1, **labels: str) -> None:
    """Add `amount` to a counter of `family` (figures go to the Redis behind `connection` on the next flush)."""
    _add(connection, {(family.name, label_field(family, labels)): amount})


def observe(connection: redis.Redis, family: Family, seconds: float, **labels: str) -> None:
    """Record one observation of a histogram of `family`."""
    field = label_field(family, labels)
    bucket = bisect.bisect_left(LATENCY_BUCKETS, seconds)  # the first bound >= seconds (len(): +Inf)
    _add(connection, {(family.name, f"{field}|b{bucket}"): 1, (family.name, f"{field}|sum"): float(seconds)})


def _add(connection: redis.Redis, amounts: Pending) -> None:
    with _lock:
        pending = _pending.setdefault(connection, {})
        for where, amount in amounts.items():
            pending[where] = pending.get(where, 0) + amount


def flush(connection: redis.Redis) -> bool:
    """Add what this process counted for `connection` to Redis; False (and kept for the next flush) when Redis refused it."""
    with _lock:
        taken = _pending.pop(connection, None)
    if not taken:
        return True
    try:
        with connection.pipeline(transaction=True) as pipe:
            for (name, field), amount in taken.items():
                if isinstance(amount, float) and not amount.is_integer() or field.endswith("|sum"):
                    pipe.hincrbyfloat(keys.metric(name), field, amount)
                else:
                    pipe.hincrby(keys.metric(name), field, int(amount))
            pipe.execute()
        return True
    except redis.RedisError as error:
        _add(connection, taken)
        log.debug("metrics not flushed (%s); kept for the next flush", error.__class__.__name__)
        return False


def read(connection: redis.Redis, family: Family) -> dict[str, float]:
    """The sums in Redis of `family`: field -> value."""
    raw: dict = connection.hgetall(keys.metric(family.name))  # type: ignore[assignment]
    return {field.decode(): float(value) for field, value in raw.items()}


class Flusher:
    """A daemon thread flushing this process's counts for one connection every FLUSH_SECONDS, and once more at stop."""

    def __init__(self, connection: redis.Redis, every: float = FLUSH_SECONDS):
        self._connection = connection
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)

    def start(self) -> Flusher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        flush(self._connection)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            flush(self._connection)


# -- DingTalk: written by whatever posts the messages (keys.DINGTALK_*), read at scrape time ---------------------
def dingtalk_posted(connection: redis.Redis, delivered: bool) -> None:
    """Count one DingTalk message: posted (`delivered`) or given up on. Never raises: a metric never stops a notification."""
    try:
        connection.incr(keys.DINGTALK_SENT if delivered else keys.DINGTALK_FAILED)
    except redis.RedisError as error:
        log.debug("DingTalk figure not counted: %s", error.__class__.__name__)


def dingtalk_waiting(connection: redis.Redis, messages: int) -> None:
    """Set how many DingTalk messages wait to be posted now. Never raises."""
    try:
        connection.set(keys.DINGTALK_QUEUED, int(messages))
    except redis.RedisError as error:
        log.debug("DingTalk queue figure not set: %s", error.__class__.__name__)
