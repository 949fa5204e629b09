"""The benchmark's scenarios: each runs the router and its baseline the same way and returns their figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.rules import risk
from common.store import jobqueue, keys, risk_state
from common.store.payloads import CancelPayload
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
    sent_events,
    signed_requests,
)
from tests.support import order_payload, wait_until

E2E_SECONDS = 10  # each steady load lasts this long (times --scale)
WORKER_JOBS = 1000
WORKER_ROUNDS = 2
CANCEL_BEHIND = 1000
FULL_DAY = 5000
KEPT = (1000, 30_000)
SCAN_REPEATS = 20


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
    closed_loop(stack.port, TRADE, requests[: count // 10], connections)  # warm-up
    bare = closed_loop(stack.port, TRADE, requests, connections)
    stack.stop()
    finished("intake: bare Flask 202", f"{count / bare.seconds:.0f}/s")

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


def _latencies(context: Context, load, label: str, with_sent: bool) -> tuple[dict[str, float], dict[str, list[float]]]:
    connection = context.redis.connection
    ids = [s.job_id for s in load.sent]
    assert all(ids), f"{label}: {sum(1 for i in ids if not i)} requests not accepted"

    def done() -> int:
        return sum(1 for job_id in ids if connection.exists(f"rq:results:{job_id}"))

    deadline = time.monotonic() + 300
    while (count := done()) < len(ids) and time.monotonic() < deadline:
        progress(f"{label}: results", count, len(ids))
        time.sleep(0.25)
    sent = sent_events(connection) if with_sent else {}
    series: dict[str, list[float]] = {"start": [], "sent": [], "result": []}
    for record in load.sent:
        started, result = job_times(connection, record.job_id)
        if started is not None:
            series["start"].append((started - record.scheduled) * 1000)
        if result is not None:
            series["result"].append((result - record.scheduled) * 1000)
        if record.job_id in sent:
            series["sent"].append((sent[record.job_id] - record.scheduled) * 1000)
    from tests.bench.bench_router import percentile

    figures = {
        f"{stage}_{name}": round(percentile(values, share), 1)
        for stage, values in series.items()
        if values
        for name, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    }
    figures["rate_sent"] = round(len(ids) / load.seconds, 1)
    return figures, {k: v for k, v in series.items() if v}


def end_to_end(context: Context, rate: int) -> tuple[dict[str, Any], dict[str, list[float]]]:
    count = context.count(rate * E2E_SECONDS)
    stack = context.stack()
    stack.start("bare-web")
    stack.start("bare-worker")
    _ready(stack, path="/health")
    _worker_ready(stack)
    bare_load = open_loop(stack.port, baseline.ENQUEUE, signed_requests(count, "b"), rate)
    bare, bare_series = _latencies(context, bare_load, f"{rate}/s bare Flask + RQ", with_sent=False)
    stack.stop()
    finished(f"{rate}/s bare Flask + RQ", f"start p50 {bare['start_p50']} ms, result p99 {bare['result_p99']} ms")

    stack = context.stack()
    for role in ("api", "worker", "scheduler"):
        stack.start(role)
    _ready(stack)
    _worker_ready(stack)
    time.sleep(0.5)
    router_load = open_loop(stack.port, TRADE, signed_requests(count, "e"), rate)
    router, router_series = _latencies(context, router_load, f"{rate}/s router", with_sent=True)
    for role in ("api", "worker", "scheduler"):
        context.peak_rss[role] = max(context.peak_rss.get(role) or 0, stack.peak_rss_mb(role) or 0) or None
    stack.stop()
    finished(f"{rate}/s router", f"start p50 {router['start_p50']} ms, result p99 {router['result_p99']} ms")
    series = {f"router due→{k}": v for k, v in router_series.items()}
    series.update({f"bare due→{k}": v for k, v in bare_series.items()})
    return {"router": router, "bare": bare, "orders": count}, series


def dingtalk_hanging(context: Context, rate: int = 50) -> dict[str, Any]:
    """End to end at `rate` with the scheduler telling DingTalk of every fill (tests/notify/robot.py's stand-in robot),
    first answering, then hanging (it takes each post and answers nothing): a hanging robot holds up the scheduler's
    notifier thread, never an order. The order path's side of tests/notify/test_notify_processes.py, measured."""
    from tests.notify.robot import StandInRobot, robot_settings

    count = context.count(rate * E2E_SECONDS)
    figures: dict[str, Any] = {"orders": count}
    for mode in ("healthy", "hanging"):
        robot = StandInRobot()
        try:
            stack = context.stack()
            stack.env.update(robot_settings(robot))
            for role in ("api", "worker", "scheduler"):
                stack.start(role)
            _ready(stack)
            _worker_ready(stack)
            time.sleep(0.5)
            if mode == "hanging":
                robot.hang_for(3600)
            load = open_loop(stack.port, TRADE, signed_requests(count, f"d{mode[0]}"), rate)
            label = f"{rate}/s router, DingTalk {mode}"
            figures[mode], _ = _latencies(context, load, label, with_sent=False)
            stack.stop()
            finished(label, f"result p50 {figures[mode]['result_p50']} ms, p99 {figures[mode]['result_p99']} ms ({robot.held} posts held)")
        finally:
            robot.close()
    return figures


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
    """Bare, router on a fresh day and router on a full day in turn, WORKER_ROUNDS times, the best of each: a 2-core
    machine's passing load (or its slowing over a run) hits one of them, not all."""
    count = context.count(WORKER_JOBS)
    bares, routers, fulls = [], [], []
    for _ in range(WORKER_ROUNDS):
        bares.append(_bare_worker_rate(context))
        routers.append(_router_worker_rate(context, "worker: router, fresh day", 0))
        fulls.append(_router_worker_rate(context, f"worker: router, {FULL_DAY:,} in day", FULL_DAY))
    (bare, bare_startup), (fresh, startup), (full, _) = max(bares), max(routers), max(fulls)
    return {
        "bare_rq": round(bare, 1),
        "router_fresh": round(fresh, 1),
        "router_full_day": round(full, 1),
        "router_startup_s": round(startup, 2),
        "bare_startup_s": round(bare_startup, 2),
        "jobs": count,
    }


def cancel_behind(context: Context, router_rate: float) -> dict[str, Any]:
    count = CANCEL_BEHIND
    stack = context.stack()
    connection = context.redis.connection
    for index in range(count):
        jobqueue.enqueue(connection, order_payload(strategy_name=f"c{index}", deadline=time.time() + 3600), 86_400)
    stack.start("worker")
    _worker_ready(stack)
    assert wait_until(lambda: connection.zcard(f"rq:finished:{keys.ORDER_QUEUE}") >= 50, 120, 0.01)
    queued = time.time()
    cancel_id = jobqueue.enqueue(connection, CancelPayload(account_index=0, account_id="SIM000001", order_id=1), 86_400)
    assert wait_until(lambda: job_times(connection, cancel_id)[0] is not None, 60, 0.002)
    started, _ = job_times(connection, cancel_id)
    behind = connection.llen(f"rq:queue:{keys.ORDER_QUEUE}")
    stack.stop()
    delay_ms = ((started or queued) - queued) * 1000
    job_ms = 1000 / router_rate
    finished("cancel behind queued orders", f"started after {delay_ms:.1f} ms ({behind} orders still queued)")
    return {"delay_ms": round(delay_ms, 1), "job_ms": round(job_ms, 1), "delay_jobs": round(delay_ms / job_ms, 2), "orders_still_queued": behind}


def orphan_scan(context: Context) -> dict[str, Any]:
    from worker.recovery import find_orphans

    figures: dict[str, Any] = {}
    for kept in KEPT:
        context.stack()
        connection = context.redis.connection
        _kept_jobs(connection, kept)
        times = []
        for _ in range(SCAN_REPEATS):  # the best of many: a sub-millisecond figure is otherwise the machine's noise
            started = time.perf_counter()
            find_orphans(connection)
            times.append((time.perf_counter() - started) * 1000)
        figures[str(kept)] = round(min(times), 2)
        finished(f"orphan scan, {kept:,} jobs kept", f"{min(times):.1f} ms")
    return figures


def _kept_jobs(connection, count: int) -> None:
    """`count` finished order jobs as a day of trading leaves them (kept JOB_TTL); the orphan scans during the day
    took them off the pending index once they had started, so only their hashes remain."""
    with connection.pipeline(transaction=False) as pipe:
        for index in range(count):
            job_id = f"o{index:016x}"
            pipe.hset(f"rq:job:{job_id}", mapping={"status": "finished", "origin": keys.ORDER_QUEUE, "enqueued_at": "2026-01-01T00:00:00.000000Z"})
            if index % 1000 == 999:
                pipe.execute()
        pipe.execute()
