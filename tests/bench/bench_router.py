"""The router measured like for like against its own building blocks: each figure beside its baseline, in the same run.

    python run.py bench [--runs 3] [--scale 1.0] [--out DIR]      (or .venv/bin/python -m tests.bench.bench_router)

Real Redis: a private redis-server on a free loopback port when one is installed, else database 14 of 127.0.0.1:6379
(flushed). The roles run as real processes (python -m api / worker, simulator broker) in a temporary folder; the
baselines are tests/bench/baseline.py. The per-account rate caps are off for every run (a benchmark would meet them).

- basket: 300 orders to one terminal at 50 ms a broker call (a terminal working on 64 calls at once), sent as fast as
  answered over 8 connections: from the first request to the broker's acceptance of the 300th; beside the same basket
  through a bare Flask handler and RQ SimpleWorker whose job calls the simulator's order_stock and waits (the sequential
  floor);
- latency: an open loop at 50 orders/s at 50 ms a call: request received → broker call started, → broker accepted,
  p50/p99; beside a bare Flask + RQ worker's request → job start on no-op jobs;
- intake: signed 202s/s of the web role beside a bare Flask handler that stores the job with RQ's enqueue_call (both
  store before they answer), over 8 keep-alive connections, same server settings;
- worker: at call time 0, order jobs/s from a full queue beside RQ's SimpleWorker on no-op jobs, on a fresh simulator
  day and with 5,000 orders already in the day.

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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import scenarios  # noqa: E402
from tests.bench.plot import bench_png  # noqa: E402
from tests.bench.rig import BenchRedis  # noqa: E402

# figure -> (how it is read: the router's median against a bound, or the ratio of medians, and the target's words)
TARGETS = {
    "basket: orders at the broker, s": ("≤ 1.0 s", lambda router, ratio: router <= 1.0),
    "request → broker call p50, ms": ("≤ 2 ms", lambda router, ratio: router <= 2.0),
    "request → broker call p99, ms": ("≤ 5 ms", lambda router, ratio: router <= 5.0),
    "request → broker accepted p50, ms": (f"≤ {scenarios.CALL_MS} + 3 ms", lambda router, ratio: router <= float(scenarios.CALL_MS) + 3),
    "intake, signed 202/s": ("≥ 0.8×", lambda router, ratio: ratio >= 0.8),
    "worker, jobs/s (call time 0)": ("≥ 0.8×", lambda router, ratio: ratio >= 0.8),
    "worker, jobs/s with 5,000 in the day": ("≥ 0.9× fresh", lambda router, ratio: ratio >= 0.9),
}


def figures(run: dict[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """{figure: (router, baseline)} of one run."""
    basket, latency, intake, worker = run["basket"], run["latency"], run["intake"], run["worker"]
    return {
        "basket: orders at the broker, s": (basket["router_s"], basket["bare_s"]),
        "request → broker call p50, ms": (latency["call_p50"], latency["bare_start_p50"]),
        "request → broker call p99, ms": (latency["call_p99"], latency["bare_start_p99"]),
        "request → broker accepted p50, ms": (latency["accepted_p50"], None),
        "request → broker accepted p99, ms": (latency["accepted_p99"], None),
        "intake, signed 202/s": (intake["router"], intake["bare_flask"]),
        "worker, jobs/s (call time 0)": (worker["router_fresh"], worker["bare_rq"]),
        "worker, jobs/s with 5,000 in the day": (worker["router_full_day"], worker["router_fresh"]),
        "worker start-up, s": (worker["router_startup_s"], worker["bare_startup_s"]),
    }


def _spread(values: list[float | None]) -> tuple[float, float, float] | None:
    known = [v for v in values if v is not None]
    return (min(known), statistics.median(known), max(known)) if known else None


def table(runs: list[dict[str, Any]]) -> str:
    per_run = [figures(run) for run in runs]
    lines = [
        f"| {'figure':<38} | {'router min / median / max':>27} | {'baseline min / median / max':>27} | {'ratio':>5} | target |",
        f"|{'-' * 40}|{'-' * 29}|{'-' * 29}|{'-' * 7}|--------|",
    ]
    for name in per_run[0]:
        router = _spread([run[name][0] for run in per_run])
        bare = _spread([run[name][1] for run in per_run])
        ratio = router[1] / bare[1] if router and bare and bare[1] else None
        target = TARGETS.get(name)
        verdict = (
            f"{target[0]} {'met' if target[1](router[1], ratio) else 'NOT met'}" if target and router and (ratio or "×" not in target[0]) else ""
        )
        lines.append(f"| {name:<38} | {_fmt3(router):>27} | {_fmt3(bare):>27} | {_fmt(ratio, 2):>5} | {verdict} |")
    return "\n".join(lines)


def _fmt3(spread: tuple[float, float, float] | None) -> str:
    return " / ".join(_fmt(v) for v in spread) if spread else ""


def _fmt(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits if digits is not None else (0 if value >= 100 else 2)}f}"


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "unknown") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every figure (the table gives min / median / max)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.2 for a quick look)")
    parser.add_argument("--connections", type=int, default=8, help="client connections of the intake figure")
    parser.add_argument("--out", default="", help="folder for bench.json and bench.png (default VAR_DIR/bench)")
    args = parser.parse_args(argv)
    from common.config.settings import load_settings

    out = Path(args.out) if args.out else Path(load_settings().VAR_DIR) / "bench"
    about = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit(), "cores": os.cpu_count(), "scale": args.scale, "runs": args.runs}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qmt-bench-") as folder:
        workdir = Path(folder)
        bench_redis = BenchRedis(workdir)
        print(f"benchmark of {about['commit']} on {about['cores']} cores against {bench_redis.where}; roles as processes in {workdir}")
        print("the per-account rate caps are off for every run (max_actions_per_second and per_day 0): a basket would meet them", flush=True)
        try:
            for number in range(1, args.runs + 1):
                print(f"run {number} of {args.runs}", flush=True)
                context = scenarios.Context(bench_redis, workdir / f"r{number}", args.scale)
                context.workdir.mkdir()
                run = {"intake": scenarios.intake(context, args.connections), "basket": scenarios.basket(context)}
                run["latency"] = scenarios.latency(context)
                run["worker"] = scenarios.worker_throughput(context)
                run["peak_rss_mb"] = context.peak_rss
                runs.append(run)
        finally:
            bench_redis.flush()
            bench_redis.close()
    print(f"\n{about['commit']}, {about['cores']} cores, {args.runs} runs, scale {args.scale:g}, {about['started']}\n")
    print(table(runs))
    out.mkdir(parents=True, exist_ok=True)
    middle = sorted(runs, key=lambda run: run["basket"]["router_s"])[len(runs) // 2]
    png = bench_png(middle["basket"]["curves"], middle["latency"]["series"], out / "bench.png")
    for run in runs:  # the plot has them; the JSON keeps the figures
        run["basket"].pop("curves")
        run["latency"].pop("series")
    (out / "bench.json").write_text(json.dumps({**about, "runs": runs}, indent=1))
    print(f"\nwritten: {out / 'bench.json'}" + (f", {png}" if png else " (no plot: matplotlib is a dev dependency)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
