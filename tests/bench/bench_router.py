"""Benchmarks, each beside its baseline measured in the same run, so the figure that matters is a ratio.

    .venv/bin/python -m tests.bench.bench_router [--orders 400] [--redis redis://127.0.0.1:6379/14]

- intake: signed POST /trade answered 202 per second (web process, waitress), beside a bare
  Flask handler on the same server and threads;
- worker throughput: order jobs per second through the worker and the simulator, beside bare RQ
  no-op jobs through a plain SimpleWorker;
- end-to-end latency at 20 orders/s: HTTP accepted -> broker call -> result visible (GET ?wait),
  p50/p99, beside enqueue -> result of a bare RQ no-op job.

Uses (and flushes) its own Redis database. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, free_port, signed_headers, sim_prices_file, wait_until  # noqa: E402

TRADE = "/qmt/trade/api/trade"


def noop() -> None:
    """The baseline job: does nothing."""


def bare_app():
    """The baseline web handler: a Flask route that answers 202 with a small JSON body."""
    from flask import Flask, jsonify

    app = Flask("bare")

    @app.post(TRADE)
    def accepted():
        response = jsonify({"success": True, "job_id": "o0000000000000000", "status": "queued"})
        response.status_code = 202
        return response

    return app


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _post_many(port: int, count: int, threads: int, signed: bool) -> float:
    """Requests per second for `count` POSTs over `threads` keep-alive connections."""
    per_thread = count // threads

    def run(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for index in range(per_thread):
            body = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 9.5, "order_type": 23, "strategy_name": f"b{offset}-{index}"}
            headers = {"Content-Type": "application/json", **(signed_headers("POST", TRADE, body) if signed else {})}
            connection.request("POST", TRADE, json.dumps(body), headers)
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 202, answer.status
        connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


class Stack:
    """The router's web and worker as real processes against one Redis database."""

    def __init__(self, redis_url: str, workdir: str):
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": redis_url,
            "FLASK_PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            "QMT_CLIENT_ACCOUNT": CLIENT_ID,
            "QMT_CLIENT_SECRET": CLIENT_SECRET,
            "TRADER_CONFIGS": json.dumps(ACCOUNTS),
            "SIM_DATA_DIR": f"{workdir}/sim",
            "SIM_PRICES_FILE": sim_prices_file(workdir),
            "AUDIT_LOG_FILE": f"{workdir}/audit.log",
        }
        self.processes: list[subprocess.Popen] = []
        self.workdir = workdir

    def start(self, role: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", role], cwd=self.workdir, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(15)


def _web_up(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/qmt/trade/api/health")
        return connection.getresponse().status == 200
    except OSError:
        return False


def bench_intake(args, connection: redis.Redis, workdir: str) -> dict:
    from waitress import create_server

    from api.__main__ import THREADS

    bare = create_server(bare_app(), host="127.0.0.1", port=free_port(), threads=THREADS)
    threading.Thread(target=bare.run, daemon=True).start()
    baseline = _post_many(bare.effective_port, args.orders, args.clients, signed=False)
    bare.close()

    from common import risk

    risk.save(connection, risk.RiskLimits(max_actions_per_second=0, max_actions_per_day=0))
    stack = Stack(args.redis, workdir)
    stack.start("api")
    try:
        assert wait_until(lambda: _web_up(stack.port), 30)
        router = _post_many(stack.port, args.orders, args.clients, signed=True)
    finally:
        stack.stop()
    return {"router_orders_per_s": round(router, 1), "bare_flask_per_s": round(baseline, 1), "ratio": round(router / baseline, 3)}


def bench_worker(args, connection: redis.Redis, workdir: str) -> dict:
    from common import jobqueue, keys
    from tests.support import order_payload

    noops = Queue("bench-noop", connection=connection, serializer=JSONSerializer)
    for _ in range(args.orders):
        noops.enqueue("tests.bench.bench_router.noop")
    started = time.perf_counter()
    SimpleWorker([noops], connection=connection, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")
    baseline = args.orders / (time.perf_counter() - started)

    for index in range(args.orders):
        jobqueue.enqueue(connection, order_payload(price=9.5, strategy_name=f"w{index}", deadline=time.time() + 600), 86_400)
    stack = Stack(args.redis, workdir)
    started = time.perf_counter()
    stack.start("worker")
    try:
        assert wait_until(lambda: jobqueue.queue(connection, keys.ORDER_QUEUE).count == 0 and not connection.zcard("rq:wip:order"), 600, 0.02)
        finished = lambda: connection.zcard(f"rq:finished:{keys.ORDER_QUEUE}") >= args.orders  # noqa: E731
        assert wait_until(finished, 600, 0.02)
        router = args.orders / (time.perf_counter() - started)  # includes the worker's start-up (broker connect)
    finally:
        stack.stop()
    return {"router_jobs_per_s": round(router, 1), "bare_rq_noop_jobs_per_s": round(baseline, 1), "ratio": round(router / baseline, 3)}


def bench_latency(args, connection: redis.Redis, workdir: str) -> dict:
    noops = Queue("bench-noop", connection=connection, serializer=JSONSerializer)
    baseline_worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, redis; from rq import SimpleWorker, Queue; from rq.serializers import JSONSerializer; "
            f"c = redis.Redis.from_url({args.redis!r}); SimpleWorker([Queue('bench-noop', connection=c, serializer=JSONSerializer)], "
            "connection=c, serializer=JSONSerializer).work(logging_level='WARNING')",
        ],
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    bare: list[float] = []
    try:
        time.sleep(1)
        for _ in range(args.latency_samples):
            started = time.perf_counter()
            job = noops.enqueue("tests.bench.bench_router.noop")
            job.latest_result(timeout=10)
            bare.append((time.perf_counter() - started) * 1000)
            time.sleep(1 / 20)
    finally:
        baseline_worker.terminate()
        baseline_worker.wait(10)

    stack = Stack(args.redis, workdir)
    stack.start("api")
    stack.start("worker")
    router: list[float] = []
    try:
        assert wait_until(lambda: _web_up(stack.port), 30)
        time.sleep(1)
        connection_http = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        for index in range(args.latency_samples):
            body = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23, "strategy_name": f"l{index}"}
            started = time.perf_counter()
            connection_http.request("POST", TRADE, json.dumps(body), {"Content-Type": "application/json", **signed_headers("POST", TRADE, body)})
            accepted = json.loads(connection_http.getresponse().read())
            path = f"/qmt/trade/api/jobs/{accepted['job_id']}"
            connection_http.request("GET", f"{path}?wait=10", headers=signed_headers("GET", path, query="wait=10"))
            view = json.loads(connection_http.getresponse().read())
            assert view["status"] == "finished", view
            router.append((time.perf_counter() - started) * 1000)
            time.sleep(1 / 20)
    finally:
        stack.stop()
    return {
        "router_p50_ms": round(statistics.median(router), 2),
        "router_p99_ms": round(_percentile(router, 0.99), 2),
        "bare_rq_p50_ms": round(statistics.median(bare), 2),
        "bare_rq_p99_ms": round(_percentile(bare, 0.99), 2),
        "ratio_p50": round(statistics.median(router) / statistics.median(bare), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    connection = redis.Redis.from_url(args.redis)
    results = {}
    for name, bench in (("intake", bench_intake), ("worker", bench_worker), ("latency", bench_latency)):
        connection.flushdb()
        with tempfile.TemporaryDirectory() as workdir:
            results[name] = bench(args, connection, workdir)
        print(f"{name:8} {json.dumps(results[name])}", flush=True)
    connection.flushdb()
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"ts": time.time(), "orders": args.orders, **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
