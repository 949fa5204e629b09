"""The router measured like for like against its own building blocks: each figure beside its baseline, in the same run.

    python run.py bench [--runs 3] [--scale 1.0] [--out DIR]      (or .venv/bin/python -m tests.bench.bench_router)

Real Redis: a private redis-server on a free loopback port when one is installed, else database 14 of 127.0.0.1:6379
(flushed). The roles run as real processes (python -m api / worker, simulator broker) in a temporary folder; the
baselines are tests/bench/baseline.py. The per-account rate caps are raised for every run (scenarios.RATE_CAPS: a
basket would meet 20/s, a day 5,000); every other risk limit is as by default.

- basket: 300 orders to one terminal at 50 ms a broker call (a terminal working on 64 calls at once), sent as fast as
  answered over 8 connections: from the first request to the broker's acceptance of the 300th; beside the same basket
  through a bare Flask handler and RQ SimpleWorker whose job calls the simulator's order_stock and waits (the sequential
  floor);
- latency: an open loop at 50 orders/s at 50 ms a call: request received → job start, → broker call started, → broker
  accepted, p50/p99; beside a bare Flask + RQ worker's request → job start on no-op jobs;
- intake: signed 202s/s of the web role beside a bare Flask handler that stores the job with RQ's enqueue_call (both
  store before they answer), over 8 keep-alive connections, same server settings;
- worker: at call time 0, order jobs/s from a queue of 1,000 beside RQ's SimpleWorker on no-op jobs, at the start of a
  day and after 5,000 orders in the same day (tests/bench/worker_day.py), with a cancel queued behind 1,000 orders.

Each run does all four; the table gives min / median / max over the runs, the machine's cores and the commit, and
writes VAR_DIR/bench/bench.json and VAR_DIR/bench/bench.png. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common.rules.risk import RiskLimits  # noqa: E402
from tests.bench import scenarios  # noqa: E402
from tests.bench.plot import bench_png  # noqa: E402
from tests.bench.rig import BenchRedis  # noqa: E402
from tests.bench.worker_day import worker_day  # noqa: E402

Check = Callable[[float, float | None], bool]  # (the router's median, the ratio of medians) -> met
# figure key -> the target's words and its check
TARGETS: dict[str, tuple[str, Check]] = {
    "basket": ("≤ 1.0 s", lambda router, ratio: router <= 1.0),
    "call_p50": ("≤ 2 ms", lambda router, ratio: router <= 2.0),
    "call_p99": ("≤ 5 ms", lambda router, ratio: router <= 5.0),
    "accepted_p50": (f"≤ {scenarios.CALL_MS} + 3 ms", lambda router, ratio: router <= float(scenarios.CALL_MS) + 3),
    "intake": ("≥ 0.8×", lambda router, ratio: ratio is not None and ratio >= 0.8),
    "worker": ("≥ 0.8×", lambda router, ratio: ratio is not None and ratio >= 0.8),
    "worker_day": ("≥ 0.9× start", lambda router, ratio: ratio is not None and ratio >= 0.9),
    "cancel": ("≤ 1", lambda router, ratio: router <= 1),
}
Row = tuple[str, str, float | None, float | None]  # key, label, router, baseline
# what the baseline column holds, printed under the table
LEGEND = (
    "basket: the same requests through a bare Flask handler (RQ's enqueue_call) and RQ's SimpleWorker whose job calls "
    "the same simulator's order_stock and waits: the sequential floor. Accepted: the router's order's first event, the "
    "bare job's return from order_stock. The last 202 and the CPU (of the web and the worker, until the last result) "
    "say where the basket's time goes",
    "request → …: received is the intake's created_at (bare: its handler entered), job start RQ's started_at, broker call "
    "the result's submitted_at (after the fence); the baseline is a bare Flask + RQ no-op job's request → start, where "
    "a bare job would call the broker",
    "intake: a bare Flask handler on the same waitress settings that stores the job with RQ's enqueue_call",
    "worker: RQ's SimpleWorker on no-op jobs; the rows 'after N in the day' against the router's own start of the day "
    "(its RSS: after the first window of orders, same process); web RSS against the bare web of the latency run",
    "cancel: order jobs that started after the cancel was queued and before it started (the one already taken may go first)",
)


def figures(run: dict[str, Any]) -> list[Row]:
    """The table's rows of one run: (key, label, router, baseline)."""
    basket, latency, intake, worker, rss = run["basket"], run["latency"], run["intake"], run["worker"], run["rss_mb"]
    day = f"{worker['day']:,}"
    return [
        ("basket", f"basket: {basket['orders']} orders at the broker, s", basket["router_s"], basket["bare_s"]),
        ("basket_answered", "basket: the client's last 202, s", basket["router_answered_s"], basket["bare_answered_s"]),
        ("basket_web_cpu", "basket: web CPU ms an order", basket["router_cpu_ms"]["web"], basket["bare_cpu_ms"]["web"]),
        ("basket_worker_cpu", "basket: worker CPU ms an order", basket["router_cpu_ms"]["worker"], basket["bare_cpu_ms"]["worker"]),
        ("start_p50", "request → job start p50, ms", latency["start_p50"], latency["bare_start_p50"]),
        ("start_p99", "request → job start p99, ms", latency["start_p99"], latency["bare_start_p99"]),
        ("call_p50", "request → broker call p50, ms", latency["call_p50"], latency["bare_start_p50"]),
        ("call_p99", "request → broker call p99, ms", latency["call_p99"], latency["bare_start_p99"]),
        ("accepted_p50", "request → broker accepted p50, ms", latency["accepted_p50"], None),
        ("accepted_p99", "request → broker accepted p99, ms", latency["accepted_p99"], None),
        ("intake", "intake, signed 202/s", intake["router"], intake["bare_flask"]),
        ("worker", "worker jobs/s, call time 0", worker["router_fresh"], worker["bare_rq"]),
        ("worker_day", f"worker jobs/s after {day} in the day", worker["router_full_day"], worker["router_fresh"]),
        ("startup", "worker start-up, s", worker["router_startup_s"], worker["bare_startup_s"]),
        ("startup_day", f"worker start-up after {day} in the day, s", worker["router_startup_full_day_s"], worker["router_startup_s"]),
        ("cancel", f"cancel behind ~{worker['cancel_behind']:,} orders: orders first", worker["cancel_orders_first"], None),
        ("web_rss", "web peak RSS, MB", rss.get("web"), rss.get("bare_web")),
        ("worker_rss", f"worker RSS after {day} orders, MB", worker["rss_mb_after_day"], worker["rss_mb_after_window"]),
    ]


def _spread(values: list[float | None]) -> tuple[float, float, float] | None:
    known = [v for v in values if v is not None]
    return (min(known), statistics.median(known), max(known)) if known else None


def table(runs: list[dict[str, Any]]) -> str:
    per_run = [figures(run) for run in runs]
    width = max(len(row[1]) for row in per_run[0])
    lines = [
        f"| {'figure':<{width}} | {'router min / median / max':>27} | {'baseline min / median / max':>27} | {'ratio':>5} | target |",
        f"|{'-' * (width + 2)}|{'-' * 29}|{'-' * 29}|{'-' * 7}|--------|",
    ]
    for index, (key, label, _, _) in enumerate(per_run[0]):
        router = _spread([run[index][2] for run in per_run])
        bare = _spread([run[index][3] for run in per_run])
        ratio = router[1] / bare[1] if router and bare and bare[1] else None
        target = TARGETS.get(key)
        verdict = f"{target[0]} {'met' if target[1](router[1], ratio) else 'NOT met'}" if target and router else ""
        lines.append(f"| {label:<{width}} | {_fmt3(router):>27} | {_fmt3(bare):>27} | {_fmt(ratio, 2):>5} | {verdict} |")
    return "\n".join(lines)


def _fmt3(spread: tuple[float, float, float] | None) -> str:
    return " / ".join(_fmt(v) for v in spread) if spread else ""


def _fmt(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    if digits is None and isinstance(value, int):
        return f"{value:,}"  # a count
    return f"{value:,.{digits if digits is not None else (0 if value >= 100 else 2)}f}"


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "unknown") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _preamble(about: dict[str, Any], where: str, workdir: Path) -> None:
    """What the run is measured against and with, said before it starts."""
    default = RiskLimits()
    caps = scenarios.RATE_CAPS
    print(f"benchmark of {about['commit']} on {about['cores']} cores against {where}; roles as processes in {workdir}")
    print(
        f"the simulated terminal: SIM_CALL_MS={scenarios.CALL_MS} (basket, latency; 0 for the worker's figures), "
        f"SIM_CALL_CONCURRENCY={scenarios.TERMINAL_CONCURRENCY}, SIM_PUSH_MS=0; the worker's BROKER_IN_FLIGHT={about['broker_in_flight']}"
    )
    print(
        f"the per-account rate caps are raised for every run: max_actions_per_second {default.max_actions_per_second} → "
        f"{caps['max_actions_per_second']:,}, max_actions_per_day {default.max_actions_per_day:,} → {caps['max_actions_per_day']:,} "
        "(a basket would meet the first, a day the second); every other risk limit as by default"
    )
    if about["scale"] != 1:
        print(f"scale {about['scale']:g}: every count shrunk (the table's labels give them)")
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every figure (the table gives min / median / max)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.2: a 60-order basket, a 1,000-order day)")
    parser.add_argument("--connections", type=int, default=8, help="client connections of the intake figure")
    parser.add_argument("--out", default="", help="folder for bench.json and bench.png (default VAR_DIR/bench)")
    args = parser.parse_args(argv)
    from common.config.settings import Settings, load_settings

    out = Path(args.out) if args.out else Path(load_settings().VAR_DIR) / "bench"
    about = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit(), "cores": os.cpu_count(), "scale": args.scale,
        "runs": args.runs, "sim_call_ms": scenarios.CALL_MS, "sim_call_concurrency": scenarios.TERMINAL_CONCURRENCY,
        "broker_in_flight": Settings.model_fields["BROKER_IN_FLIGHT"].default, "rate_caps": scenarios.RATE_CAPS,
    }  # fmt: skip
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qmt-bench-") as folder:
        workdir = Path(folder)
        bench_redis = BenchRedis(workdir)
        _preamble(about, bench_redis.where, workdir)
        try:
            for number in range(1, args.runs + 1):
                print(f"run {number} of {args.runs}", flush=True)
                context = scenarios.Context(bench_redis, workdir / f"r{number}", args.scale)
                context.workdir.mkdir()
                try:
                    run = {"intake": scenarios.intake(context, args.connections), "basket": scenarios.basket(context)}
                    run["latency"] = scenarios.latency(context)
                    run["worker"] = worker_day(context)
                finally:
                    context.stop()
                run["rss_mb"] = context.rss
                runs.append(run)
        finally:
            bench_redis.flush()
            bench_redis.close()
    print(f"\n{about['commit']}, {about['cores']} cores, {args.runs} runs, scale {args.scale:g}, {about['started']}\n")
    print(table(runs))
    print("\nbaselines: " + "\n           ".join(LEGEND))
    out.mkdir(parents=True, exist_ok=True)
    middle = sorted(runs, key=lambda run: run["basket"]["router_s"])[len(runs) // 2]
    png = bench_png(middle["basket"]["curves"], middle["latency"]["series"], middle["worker"]["curves"], out / "bench.png")
    for run in runs:  # the plot has them; the JSON keeps the figures
        run["basket"].pop("curves")
        run["latency"].pop("series")
        run["worker"].pop("curves")
    (out / "bench.json").write_text(json.dumps({**about, "runs": runs}, indent=1))
    print(f"\nwritten: {out / 'bench.json'}" + (f", {png}" if png else " (no plot: matplotlib is a dev dependency)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
