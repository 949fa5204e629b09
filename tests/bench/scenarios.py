"""The benchmark's scenarios: each runs the router and its baseline the same way and returns their figures."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common.rules import risk
from common.store import jobqueue, keys, risk_state
from tests.bench import baseline
from tests.bench.rig import (
    TRADE,
    BenchRedis,
    Stack,
    closed_loop,
    finished,
    job_times,
    open_loop,
    progress,
    signed_requests,
)
from tests.support import order_payload, wait_until

BASKET = 300  # orders in the basket (times --scale)
BASKET_CONNECTIONS = 8  # the client's keep-alive connections, sending as fast as answered
CALL_MS = "50"  # what one broker call costs at the simulated terminal
TERMINAL_CONCURRENCY = 64  # calls it works on at once: a terminal that pipelines async requests, as QMT's socket does
LATENCY_RATE = 50  # orders/s of the open loop
LATENCY_SECONDS = 10
WORKER_JOBS = 1000
FULL_DAY = 5000


@dataclass
class Context:
    redis: BenchRedis
    workdir: Path
    scale: float
    peak_rss: dict[str, float | None] = field(default_factory=dict)
    _stacks: int = 0

    def stack(self) -> Stack:
        """A fresh folder (a fresh simulator day) and a flushed Redis with the risk caps off (they would refuse a benchmark)."""
        self._stacks += 1
        folder = self.workdir / f"run{self._stacks}"
        folder.mkdir()
        self.redis.flush()
        risk_state.save(self.redis.connection, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=0, max_order_notional=0))
        return Stack(self.redis.url, folder)

    def count(self, base: int) -> int:
        return max(20, int(base * self.scale))


def _ready(stack: Stack, port: int | None = None, path: str = "/qmt/trade/api/health") -> None:
    assert wait_until(lambda: stack.web_up(port, path), 60, 0.1), f"web did not start: see {stack.workdir}"


def _worker_ready(stack: Stack) -> float:
    """Seconds from the worker's Popen until it registered with RQ (after its start-up reconciliation)."""
    connection = stack_connection(stack)
    assert wait_until(lambda: connection.scard("rq:workers") > 0, 120, 0.005), f"worker did not start: see {stack.workdir}"
    return time.perf_counter() - max(t for n, t in stack.started.items() if n.endswith("worker"))


def stack_connection(stack: Stack):
    import redis

    return redis.Redis.from_url(stack.env["REDIS_URL"])


def intake(context: Context, connections: int) -> dict[str, Any]:
    count = context.count(3000)
    stack = context.stack()
    stack.start("bare-web")
    _ready(stack, path="/health")
    requests = signed_requests(count, "i")
    closed_loop(stack.port, baseline.ENQUEUE, requests[: count // 10], connections)  # warm-up
    bare = closed_loop(stack.port, baseline.ENQUEUE, requests, connections)
    stack.stop()
    assert bare.accepted() == count, f"{count - bare.accepted()} bare enqueues not accepted"
    finished("intake: bare Flask + enqueue_call", f"{count / bare.seconds:.0f}/s")

    stack = context.stack()
    stack.start("api")
    _ready(stack)
    closed_loop(stack.port, TRADE, signed_requests(count // 10, "w"), connections)  # warm-up
    requests = signed_requests(count, "i")
    router = closed_loop(stack.port, TRADE, requests, connections)
    stack.stop()
    assert router.accepted() == count, f"{count - router.accepted()} orders not accepted"
    finished("intake: router signed 202", f"{count / router.seconds:.0f}/s")
    return {"router": round(count / router.seconds, 1), "bare_flask": round(count / bare.seconds, 1), "requests": count, "connections": connections}


def _first_order_events(connection) -> dict[str, float]:
    """{job_id: ts} of each job's first order event: the moment the broker's word that it has the order reached the worker."""
    found: dict[str, float] = {}
    for _, fields in connection.xrange(keys.EVENTS_STREAM):
        if fields.get(b"kind") == b"order":
            job_id = json.loads(fields[b"body"]).get("job_id")
            if job_id and job_id not in found:
                found[job_id] = float(fields[b"ts"])
    return found


def _wait_for_results(connection, ids: list[str], label: str) -> None:
    deadline = time.monotonic() + 300
    while (count := sum(1 for job_id in ids if connection.exists(f"rq:results:{job_id}"))) < len(ids) and time.monotonic() < deadline:
        progress(label, count, len(ids))
        time.sleep(0.1)
    assert count == len(ids), f"{label}: {len(ids) - count} jobs without a result"


def _router_stack(context: Context, call_ms: str, concurrency: int) -> Stack:
    stack = context.stack()
    stack.env.update({"SIM_CALL_MS": call_ms, "SIM_CALL_CONCURRENCY": str(concurrency)})
    for role in ("api", "worker"):
        stack.start(role)
    _ready(stack)
    _worker_ready(stack)
    return stack


def basket(context: Context) -> dict[str, Any]:
    """BASKET orders to one terminal at CALL_MS a call, as fast as the client sends them: from the first request to the
    broker's acceptance of the last; beside the same basket through a bare Flask handler and RQ SimpleWorker whose job
    calls the same simulator's order_stock and waits for it (one at a time: the sequential floor)."""
    count = context.count(BASKET)
    stack = _router_stack(context, CALL_MS, TERMINAL_CONCURRENCY)
    connection = context.redis.connection
    first = time.time()
    load = closed_loop(stack.port, TRADE, signed_requests(count, "k"), BASKET_CONNECTIONS)
    ids = [record.job_id for record in load.sent]
    assert all(ids), f"basket: {sum(1 for i in ids if not i)} orders not accepted"
    _wait_for_results(connection, ids, "basket: router")
    accepted = _first_order_events(connection)
    router = max(accepted[job_id] for job_id in ids) - first
    curve = sorted(accepted[job_id] - first for job_id in ids)
    stack.stop()
    finished("basket: router", f"{count} orders at the broker {router:.2f} s after the first request")

    stack = context.stack()
    stack.env.update({"SIM_CALL_MS": CALL_MS, "SIM_CALL_CONCURRENCY": str(TERMINAL_CONCURRENCY)})
    stack.start("bare-web")
    stack.start("bare-worker")
    _ready(stack, path="/health")
    _worker_ready(stack)
    first = time.time()
    load = closed_loop(stack.port, baseline.BASKET, signed_requests(count, "b"), BASKET_CONNECTIONS)
    ids = [record.job_id for record in load.sent]
    _wait_for_results(connection, ids, "basket: bare RQ, sync")
    from rq.job import Job
    from rq.serializers import JSONSerializer

    answers = [Job.fetch(job_id, connection=connection, serializer=JSONSerializer).return_value() for job_id in ids]
    assert all(answer and answer["order_id"] > 0 for answer in answers), f"the bare worker failed or its simulator refused: see {stack.workdir}"
    bare = max(answer["accepted_at"] for answer in answers) - first
    bare_curve = sorted(answer["accepted_at"] - first for answer in answers)
    stack.stop()
    finished("basket: bare RQ, sync", f"{count} orders at the broker {bare:.2f} s after the first request")
    return {"router_s": round(router, 3), "bare_s": round(bare, 3), "orders": count, "curves": {"router": curve, "bare": bare_curve}}


def latency(context: Context) -> dict[str, Any]:
    """An open loop at LATENCY_RATE orders/s at CALL_MS a call: request received (the intake's created_at) to the broker
    call started (the result's submitted_at, taken after the fence) and to the broker's acceptance (the order's first
    event); beside a bare Flask + RQ worker's request → job start on no-op jobs, measured the same way."""
    count = context.count(LATENCY_RATE * LATENCY_SECONDS)
    stack = context.stack()
    stack.start("bare-web")
    stack.start("bare-worker")
    _ready(stack, path="/health")
    _worker_ready(stack)
    load = open_loop(stack.port, baseline.ENQUEUE, signed_requests(count, "l"), LATENCY_RATE)
    ids = [record.job_id for record in load.sent]
    connection = context.redis.connection
    _wait_for_results(connection, ids, "latency: bare Flask + RQ")
    bare = []
    for job_id in ids:
        enqueued = connection.hget(f"rq:job:{job_id}", "enqueued_at")
        started, _ = job_times(connection, job_id)
        if enqueued and started:
            bare.append((started - datetime.fromisoformat(enqueued.decode().replace("Z", "+00:00")).timestamp()) * 1000)
    stack.stop()

    stack = _router_stack(context, CALL_MS, TERMINAL_CONCURRENCY)
    time.sleep(0.5)
    load = open_loop(stack.port, TRADE, signed_requests(count, "m"), LATENCY_RATE)
    ids = [record.job_id for record in load.sent]
    assert all(ids), f"latency: {sum(1 for i in ids if not i)} orders not accepted"
    _wait_for_results(connection, ids, "latency: router")
    accepted = _first_order_events(connection)
    from rq.job import Job
    from rq.serializers import JSONSerializer

    to_call, to_accepted = [], []
    for job_id in ids:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        received = job.kwargs["payload"]["meta"]["created_at"]
        to_call.append((job.return_value()["submitted_at"] - received) * 1000)
        to_accepted.append((accepted[job_id] - received) * 1000)
    context.peak_rss.update({role: stack.peak_rss_mb(role) for role in ("api", "worker")})
    stack.stop()
    figures = {
        "call_p50": percentile(to_call, 0.5), "call_p99": percentile(to_call, 0.99),
        "accepted_p50": percentile(to_accepted, 0.5), "accepted_p99": percentile(to_accepted, 0.99),
        "bare_start_p50": percentile(bare, 0.5), "bare_start_p99": percentile(bare, 0.99),
    }  # fmt: skip
    finished("latency: router", f"request → call p50 {figures['call_p50']:.1f} ms p99 {figures['call_p99']:.1f} ms")
    return {
        **{k: round(v, 2) for k, v in figures.items()},
        "orders": count,
        "series": {"router → call": to_call, "router → accepted": to_accepted, "bare → job start": bare},
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _steady_rate(connection, registry: str, total: int, label: str) -> float:
    """Jobs/s between 10% and 90% of `total` finished (start-up and the tail excluded)."""
    low, high = int(total * 0.1), int(total * 0.9)
    marks: dict[int, float] = {}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = connection.zcard(registry)
        now = time.perf_counter()
        if done >= low and low not in marks:
            marks[low] = now
            low_done = done
        if done >= high:
            progress(label, done, total)
            return (done - low_done) / (now - marks[low])
        progress(label, done, total)
        time.sleep(0.01)
    raise AssertionError(f"{label}: only {connection.zcard(registry)} of {total} jobs finished")


def _fill_day(stack: Stack, count: int) -> None:
    """Put `count` filled orders in the simulator's day for account 0, as the worker would have (one write at the end)."""
    from worker.sim.trader import SimTrader

    trader = SimTrader(str(stack.sim_dir), 0, starting_cash=1e9, prices_file=stack.env["SIM_PRICES_FILE"])
    with trader._locked():
        for index in range(count):
            trader.exchange.place("SIM000001", "600000.SH", 23, 100, 11, 10.0, f"fill{index}", f"fill{index}")


def _router_worker_rate(context: Context, label: str, in_day: int) -> tuple[float, float]:
    count = context.count(WORKER_JOBS)
    stack = context.stack()
    if in_day:
        _fill_day(stack, in_day)
    connection = context.redis.connection
    for index in range(count):
        jobqueue.enqueue(connection, order_payload(strategy_name=f"w{index}", deadline=time.time() + 3600), 86_400)
    stack.start("worker")
    startup = _worker_ready(stack)
    rate = _steady_rate(connection, f"rq:finished:{keys.ORDER_QUEUE}", count, label)
    stack.stop()
    finished(label, f"{rate:.0f} jobs/s (start-up {startup:.2f} s)")
    return rate, startup


def _bare_worker_rate(context: Context) -> tuple[float, float]:
    count = context.count(WORKER_JOBS)
    stack = context.stack()
    connection = context.redis.connection
    queue = baseline.noop_queue(connection)
    for _ in range(count):
        queue.enqueue_call("tests.bench.baseline.noop", result_ttl=baseline.RESULT_TTL)
    stack.start("bare-worker")
    startup = _worker_ready(stack)
    rate = _steady_rate(connection, f"rq:finished:{baseline.QUEUE}", count, "worker: bare RQ no-op")
    stack.stop()
    finished("worker: bare RQ no-op", f"{rate:.0f} jobs/s")
    return rate, startup


def worker_throughput(context: Context) -> dict[str, Any]:
    """At call time 0: a plain RQ SimpleWorker on no-op jobs, the router's worker on order jobs on a fresh simulator day,
    and again with FULL_DAY orders already in the day (is the 5,000th order of a day as quick as the 100th?)."""
    bare, bare_startup = _bare_worker_rate(context)
    fresh, startup = _router_worker_rate(context, "worker: router, fresh day", 0)
    full, _ = _router_worker_rate(context, f"worker: router, {FULL_DAY:,} in day", FULL_DAY)
    return {
        "bare_rq": round(bare, 1),
        "router_fresh": round(fresh, 1),
        "router_full_day": round(full, 1),
        "router_startup_s": round(startup, 2),
        "bare_startup_s": round(bare_startup, 2),
        "jobs": context.count(WORKER_JOBS),
    }
