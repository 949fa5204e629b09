"""The benchmark's scenarios at the web: intake, the basket and the latency loop, each beside its baseline, run the same
way. The worker's own figures are tests/bench/worker_day.py."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from common.rules import risk
from common.store import keys, risk_state
from tests.bench import baseline
from tests.bench.rig import TRADE, BenchRedis, Requests, Stack, closed_loop, fetch_job, finished, job_times, open_loop, progress, signed_requests
from tests.support import wait_until

BASKET = 300  # orders in the basket (times --scale)
BASKET_CONNECTIONS = 8  # the client's keep-alive connections, sending as fast as answered
CALL_MS = "50"  # what one broker call costs at the simulated terminal (SIM_CALL_MS)
TERMINAL_CONCURRENCY = 64  # calls it works on at once (SIM_CALL_CONCURRENCY): a terminal that pipelines async requests
LATENCY_RATE = 50  # orders/s of the open loop
LATENCY_SECONDS = 10
WARM_UP = 10  # orders sent and finished before a latency loop: its first orders pay no import or first quote
# the per-account rate caps for every run: above anything the bench sends (a basket would meet 20/s, a day 5,000); every
# other limit (the notional cap, the price band) stays as by default
RATE_CAPS = {"max_actions_per_second": 100_000, "max_actions_per_day": 1_000_000}


def raised_limits() -> risk.RiskLimits:
    return risk.RiskLimits(**RATE_CAPS)


@dataclass
class Context:
    redis: BenchRedis
    workdir: Path
    scale: float
    rss: dict[str, float | None] = field(default_factory=dict)
    stacks: list[Stack] = field(default_factory=list)

    def stack(self) -> Stack:
        """A fresh folder (a fresh simulator day) and a flushed Redis with the rate caps raised (RATE_CAPS)."""
        folder = self.workdir / f"run{len(self.stacks) + 1}"
        folder.mkdir()
        self.redis.flush()
        risk_state.save(self.redis.connection, raised_limits())
        self.stacks.append(Stack(self.redis.url, folder))
        return self.stacks[-1]

    def stop(self) -> None:
        """Stop every process still running (a scenario that failed or was interrupted leaves its stack up)."""
        for stack in self.stacks:
            stack.stop()

    def count(self, base: int) -> int:
        return max(20, int(base * self.scale))


def ready(stack: Stack, port: int | None = None, path: str = "/qmt/trade/api/health") -> None:
    assert wait_until(lambda: stack.web_up(port, path), 60, 0.1), f"web did not start: see {stack.workdir}"


def worker_ready(stack: Stack) -> float:
    """Seconds from the worker's Popen until it registered with RQ (after its start-up reconciliation)."""
    connection = redis.Redis.from_url(stack.env["REDIS_URL"])
    assert wait_until(lambda: connection.scard("rq:workers") > 0, 120, 0.005), f"worker did not start: see {stack.workdir}"
    return time.perf_counter() - max(t for n, t in stack.started.items() if n.endswith("worker"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def intake(context: Context, connections: int) -> dict[str, Any]:
    """Signed 202s/s of the web role beside a bare Flask handler that stores the job with RQ's enqueue_call."""
    count = context.count(3000)
    stack = context.stack()
    stack.start("bare-web")
    ready(stack, path="/health")
    requests = signed_requests(count, "i")
    closed_loop(stack.port, baseline.ENQUEUE, requests[: count // 10], connections)  # warm-up
    bare = closed_loop(stack.port, baseline.ENQUEUE, requests, connections)
    stack.stop()
    assert bare.accepted() == count, f"{count - bare.accepted()} bare enqueues not accepted"
    finished("intake: bare Flask + enqueue_call", f"{count / bare.seconds:.0f}/s")

    stack = context.stack()
    stack.start("api")
    ready(stack)
    closed_loop(stack.port, TRADE, signed_requests(count // 10, "w"), connections)  # warm-up
    router = closed_loop(stack.port, TRADE, signed_requests(count, "i"), connections)
    stack.stop()
    assert router.accepted() == count, f"{count - router.accepted()} orders not accepted"
    finished("intake: router signed 202", f"{count / router.seconds:.0f}/s")
    return {"router": round(count / router.seconds, 1), "bare_flask": round(count / bare.seconds, 1), "requests": count, "connections": connections}


def _first_order_events(connection: redis.Redis) -> dict[str, float]:
    """{job_id: ts} of each job's first order event: written on the broker's push of the order it accepted, the first
    moment the router holds the broker's word that it has the order (SIM_PUSH_MS 0: pushed at once)."""
    found: dict[str, float] = {}
    entries: Any = connection.xrange(keys.EVENTS_STREAM)
    for _, fields in entries:
        if fields.get(b"kind") == b"order":
            job_id = json.loads(fields[b"body"]).get("job_id")
            if job_id and job_id not in found:
                found[job_id] = float(fields[b"ts"])
    return found


def _wait_for_results(connection: redis.Redis, ids: list[str], label: str) -> None:
    deadline = time.monotonic() + 300
    while (count := sum(1 for job_id in ids if connection.exists(f"rq:results:{job_id}"))) < len(ids) and time.monotonic() < deadline:
        progress(label, count, len(ids))
        time.sleep(0.1)
    assert count == len(ids), f"{label}: {len(ids) - count} jobs without a result"


def _router_stack(context: Context) -> Stack:
    stack = context.stack()
    stack.env.update({"SIM_CALL_MS": CALL_MS, "SIM_CALL_CONCURRENCY": str(TERMINAL_CONCURRENCY)})
    for role in ("api", "worker"):
        stack.start(role)
    ready(stack)
    worker_ready(stack)
    return stack


def _bare_stack(context: Context) -> Stack:
    stack = context.stack()
    stack.env.update({"SIM_CALL_MS": CALL_MS, "SIM_CALL_CONCURRENCY": str(TERMINAL_CONCURRENCY)})
    stack.start("bare-web")
    stack.start("bare-worker")
    ready(stack, path="/health")
    worker_ready(stack)
    return stack


def _send_basket(
    stack: Stack, connection: redis.Redis, path: str, requests: Requests, label: str
) -> tuple[float, list[str], float, dict[str, float]]:
    """The basket sent as fast as answered, its results waited for, the stack stopped: (when it started, the job ids,
    seconds until the client had its last 202, {"web" and "worker": CPU ms an order until the last result})."""
    count = len(requests)
    before = stack.cpu_seconds()
    first = time.time()
    load = closed_loop(stack.port, path, requests, BASKET_CONNECTIONS)
    ids = [record.job_id for record in load.sent]
    assert all(ids), f"{label}: {sum(1 for i in ids if not i)} orders not accepted"
    answered = max(record.answered for record in load.sent) - first
    _wait_for_results(connection, ids, label)
    after = stack.cpu_seconds()
    cpu_ms = {("worker" if name.endswith("worker") else "web"): round((after[name] - before[name]) / count * 1000, 2) for name in after}
    stack.stop()
    finished(label, f"{count} requests answered 202 in {answered:.2f} s; CPU an order: {cpu_ms['web']:.1f} ms web, {cpu_ms['worker']:.1f} ms worker")
    return first, ids, answered, cpu_ms


def basket(context: Context) -> dict[str, Any]:
    """BASKET orders to one terminal at CALL_MS a call, as fast as the client sends them: from the first request to the
    broker's acceptance of the last; beside the same basket through a bare Flask handler and RQ SimpleWorker whose job
    calls the same simulator's order_stock and waits for it (one at a time: the sequential floor). With each, when the
    client had its last 202 and the CPU the web and the worker spent an order: where the router's second goes."""
    count = context.count(BASKET)
    connection = context.redis.connection
    first, ids, answered, cpu_ms = _send_basket(_router_stack(context), connection, TRADE, signed_requests(count, "k"), "basket: router")
    accepted = _first_order_events(connection)
    assert all(job_id in accepted for job_id in ids), f"basket: {sum(1 for i in ids if i not in accepted)} orders never at the broker"
    router = max(accepted[job_id] for job_id in ids) - first
    curve = sorted(accepted[job_id] - first for job_id in ids)
    finished("basket: router", f"{count} orders at the broker {router:.2f} s after the first request")

    bare_first, ids, bare_answered, bare_cpu_ms = _send_basket(
        _bare_stack(context), connection, baseline.BASKET, signed_requests(count, "b"), "basket: bare RQ, sync"
    )
    answers = [fetch_job(connection, job_id).return_value() for job_id in ids]
    assert all(answer and answer["order_id"] > 0 for answer in answers), "the bare worker failed or its simulator refused (see its log)"
    bare = max(answer["accepted_at"] for answer in answers) - bare_first
    bare_curve = sorted(answer["accepted_at"] - bare_first for answer in answers)
    finished("basket: bare RQ, sync", f"{count} orders at the broker {bare:.2f} s after the first request")
    return {
        "router_s": round(router, 3), "bare_s": round(bare, 3), "orders": count,
        "router_answered_s": round(answered, 3), "bare_answered_s": round(bare_answered, 3),
        "router_cpu_ms": cpu_ms, "bare_cpu_ms": bare_cpu_ms,
        "curves": {"router": curve, "bare": bare_curve},
    }  # fmt: skip


def _warm_up(stack: Stack, connection: redis.Redis, path: str, prefix: str) -> None:
    load = closed_loop(stack.port, path, signed_requests(WARM_UP, prefix), 1)
    _wait_for_results(connection, [record.job_id for record in load.sent], "latency: warm-up")


def latency(context: Context) -> dict[str, Any]:
    """An open loop at LATENCY_RATE orders/s at CALL_MS a call, after WARM_UP orders: from the request received (the
    intake's created_at, stored in the job) to the job's start (RQ's started_at), to the broker call started (the
    result's submitted_at, taken after the fence, just before the send) and to the broker's acceptance (the order's
    first event); beside a bare Flask + RQ worker's request received (its handler entered) → job start on no-op jobs,
    where a bare job would start its broker call."""
    count = context.count(LATENCY_RATE * LATENCY_SECONDS)
    connection = context.redis.connection
    stack = _bare_stack(context)
    _warm_up(stack, connection, baseline.ENQUEUE, "lw")
    load = open_loop(stack.port, baseline.ENQUEUE, signed_requests(count, "l"), LATENCY_RATE)
    ids = [record.job_id for record in load.sent]
    _wait_for_results(connection, ids, "latency: bare Flask + RQ")
    bare = []
    for job_id in ids:
        received, (started, _) = fetch_job(connection, job_id).meta["received"], job_times(connection, job_id)
        if started:
            bare.append((started - received) * 1000)
    context.rss["bare_web"] = stack.peak_rss_mb("bare-web")
    stack.stop()
    finished("latency: bare Flask + RQ", f"request → job start p50 {percentile(bare, 0.5):.1f} ms p99 {percentile(bare, 0.99):.1f} ms")

    stack = _router_stack(context)
    _warm_up(stack, connection, TRADE, "mw")
    load = open_loop(stack.port, TRADE, signed_requests(count, "m"), LATENCY_RATE)
    ids = [record.job_id for record in load.sent]
    assert all(ids), f"latency: {sum(1 for i in ids if not i)} orders not accepted"
    _wait_for_results(connection, ids, "latency: router")
    accepted = _first_order_events(connection)
    to_start, to_call, to_accepted = [], [], []
    for job_id in ids:
        received = fetch_job(connection, job_id).kwargs["payload"]["meta"]["created_at"]
        started, _ = job_times(connection, job_id)
        to_start.append(((started or float("nan")) - received) * 1000)
        to_call.append((fetch_job(connection, job_id).return_value()["submitted_at"] - received) * 1000)
        to_accepted.append((accepted[job_id] - received) * 1000)
    context.rss["web"] = stack.peak_rss_mb("api")
    stack.stop()
    figures = {
        "start_p50": percentile(to_start, 0.5), "start_p99": percentile(to_start, 0.99),
        "call_p50": percentile(to_call, 0.5), "call_p99": percentile(to_call, 0.99),
        "accepted_p50": percentile(to_accepted, 0.5), "accepted_p99": percentile(to_accepted, 0.99),
        "bare_start_p50": percentile(bare, 0.5), "bare_start_p99": percentile(bare, 0.99),
    }  # fmt: skip
    finished("latency: router", f"request → call p50 {figures['call_p50']:.1f} ms p99 {figures['call_p99']:.1f} ms")
    return {
        **{k: round(v, 2) for k, v in figures.items()},
        "orders": count,
        "series": {"router → job start": to_start, "router → call": to_call, "router → accepted": to_accepted, "bare → job start": bare},
    }
