"""The worker's own pace at call time 0, over one trading day, beside RQ's SimpleWorker on no-op jobs.

One simulator day and one Redis for the whole day, as a trader's day leaves them (results, order states, events,
the simulator's books):

1. WINDOW order jobs are queued, then the worker starts: its rate between 10% and 90% of them finished (orders
   ~100 to ~900 of the day), beside a bare SimpleWorker's on WINDOW no-op jobs measured the same way;
2. the rest of FULL_DAY is queued while the worker runs; once CANCEL_BEHIND orders are left in the queue a cancel
   is queued behind them: how many orders start after it was queued and before it starts (the one already taken
   may go first; RQ's own queue order gives a cancel the same place);
3. the worker is stopped, WINDOW more are queued and a new worker starts: its rate on them (orders ~5,100 to
   ~5,900 of the day) beside the first window's — the same queue, a fresh process, only the day behind it differs.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from common.store import jobqueue, keys
from common.store.payloads import CancelPayload, new_job_id
from tests.bench import baseline
from tests.bench.rig import fetch_job, finished, job_times, progress, rq_moment
from tests.bench.scenarios import Context, worker_ready
from tests.support import order_payload

WINDOW = 1000  # jobs queued before a worker starts; its rate is taken between 10% and 90% of them finished
FULL_DAY = 5000  # orders in the day before the second window
CANCEL_BEHIND = 1000  # orders left in the queue when the cancel is queued
CHUNK = 250  # jobs queued in one round trip (jobqueue.enqueue_all)
JOB_TTL = 86_400
ORDERS = f"rq:finished:{keys.ORDER_QUEUE}"

Samples = list[tuple[int, float]]  # (jobs finished, perf_counter seconds)


def _queue_orders(connection: redis.Redis, count: int, prefix: str) -> list[str]:
    """`count` order jobs for account 0 on the order queue, CHUNK to a round trip, as the intake's script stores them."""
    ids: list[str] = []
    for start in range(0, count, CHUNK):
        admits = [
            jobqueue.Admit(order_payload(strategy_name=f"{prefix}{i}", deadline=time.time() + 3600), JOB_TTL, new_job_id("order"))
            for i in range(start, min(count, start + CHUNK))
        ]
        ids += [job_id for job_id, _ in jobqueue.enqueue_all(connection, admits)]
    return ids


def _follow(connection: redis.Redis, registry: str, until: int, total: int, label: str, samples: Samples) -> None:
    """Poll `registry`'s count every 10 ms (each change sampled) until it reaches `until`."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = connection.zcard(registry)
        if not samples or samples[-1][0] != done:
            samples.append((done, time.perf_counter()))
        progress(label, done, total)
        if done >= until:
            return
        time.sleep(0.01)
    raise AssertionError(f"{label}: only {connection.zcard(registry)} of {until} jobs finished")


def _rate(samples: Samples, low: int, high: int) -> float:
    """Jobs/s between the first samples at or past `low` and `high` jobs finished."""
    first = next(s for s in samples if s[0] >= low)
    last = next(s for s in samples if s[0] >= high)
    return (last[0] - first[0]) / (last[1] - first[1])


def _window(connection: redis.Redis, registry: str, base: int, window: int, label: str) -> tuple[float, Samples]:
    """The rate between 10% and 90% of the `window` jobs queued past `base` finished, once all are finished."""
    samples: Samples = []
    _follow(connection, registry, base + window, base + window, label, samples)
    return _rate(samples, base + window // 10, base + window * 9 // 10), samples


def _submitted(connection: redis.Redis, ids: list[str], label: str) -> None:
    """Every 50th job of `ids` (and the last) reached the broker: a worker refusing every order (a kill switch thrown,
    a lease lost) would otherwise be measured as a fast one."""
    for job_id in [*ids[::50], ids[-1]]:
        outcome = fetch_job(connection, job_id).return_value()
        assert outcome and outcome["outcome"] == "submitted", f"{label}: job {job_id} ended {outcome}"


def _bare(context: Context, window: int) -> tuple[float, float]:
    stack = context.stack()
    connection = context.redis.connection
    queue = baseline.noop_queue(connection)
    for _ in range(window):
        queue.enqueue_call("tests.bench.baseline.noop", result_ttl=baseline.RESULT_TTL)
    stack.start("bare-worker")
    startup = worker_ready(stack)
    rate, _ = _window(connection, f"rq:finished:{baseline.QUEUE}", 0, window, "worker: bare RQ no-op")
    stack.stop()
    finished("worker: bare RQ no-op", f"{rate:.0f} jobs/s (start-up {startup:.2f} s)")
    return rate, startup


def _cancel_behind(connection: redis.Redis, behind: int, day: int, samples: Samples) -> tuple[str, int, float]:
    """Once at most `behind` orders are queued, queue a cancel: (its id, orders queued then, when it was in the queue)."""
    queue = f"rq:queue:{keys.ORDER_QUEUE}"
    while (queued := connection.llen(queue)) > behind:
        done = connection.zcard(ORDERS)
        if not samples or samples[-1][0] != done:
            samples.append((done, time.perf_counter()))
        progress("worker: router, the rest of the day", done, day)
        time.sleep(0.005)
    cancel_id = jobqueue.enqueue(connection, CancelPayload(account_index=0, account_id="SIM000001", order_id=1), JOB_TTL)
    return cancel_id, queued, time.time()


def _started_between(connection: redis.Redis, ids: list[str], after: float, before: float) -> int:
    """How many of the jobs `ids` started (RQ's started_at) after `after` and before `before` (unix seconds)."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(f"rq:job:{job_id}", "started_at")
        moments = [rq_moment(raw) for raw in pipe.execute()]
    return sum(1 for started in moments if started is not None and after < started < before)


def worker_day(context: Context) -> dict[str, Any]:
    window, day = context.count(WINDOW), context.count(FULL_DAY)
    bare, bare_startup = _bare(context, window)
    stack = context.stack()
    connection = context.redis.connection
    first_ids = _queue_orders(connection, window, "a")
    stack.start("worker")
    startup = worker_ready(stack)
    fresh, first = _window(connection, ORDERS, 0, window, "worker: router, start of the day")
    _submitted(connection, first_ids, "worker: router, start of the day")
    early_rss = stack.rss_mb("worker")
    finished("worker: router, start of the day", f"{fresh:.0f} jobs/s (start-up {startup:.2f} s)")

    middle: Samples = []
    rest = _queue_orders(connection, day - window, "b")
    cancel_id, behind, queued_at = _cancel_behind(connection, context.count(CANCEL_BEHIND), day, middle)
    _follow(connection, ORDERS, day, day, "worker: router, the rest of the day", middle)
    cancel_started, _ = job_times(connection, cancel_id)
    assert cancel_started is not None, "the cancel never started"
    first_ahead = _started_between(connection, rest, queued_at, cancel_started)
    day_rss = stack.rss_mb("worker")
    stack.stop()
    finished("worker: router, the rest of the day", f"a cancel behind {behind} orders started after {first_ahead} of them")

    last_ids = _queue_orders(connection, window, "c")
    stack.start("worker")
    late_startup = worker_ready(stack)
    full, last = _window(connection, ORDERS, day, window, f"worker: router, after {day:,}")
    stack.stop()
    _submitted(connection, rest + last_ids, "worker: router, the rest of the day")
    finished(f"worker: router, after {day:,}", f"{full:.0f} jobs/s (start-up {late_startup:.2f} s)")
    return {
        "bare_rq": round(bare, 1),
        "router_fresh": round(fresh, 1),
        "router_full_day": round(full, 1),
        "router_startup_s": round(startup, 2),
        "router_startup_full_day_s": round(late_startup, 2),
        "bare_startup_s": round(bare_startup, 2),
        "cancel_behind": behind,
        "cancel_orders_first": first_ahead,
        "rss_mb_after_window": early_rss,
        "rss_mb_after_day": day_rss,
        "window": window,
        "day": day,
        "curves": {"start of the day": first, "the rest of the day": middle, f"after {day:,}": last},
    }
