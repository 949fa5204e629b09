"""The router measured against its own building blocks: each figure beside its baseline, in the same run.

    python run.py bench [--scale 1.0] [--out DIR]      (or .venv/bin/python -m tests.bench.bench_router)

Real Redis: a private redis-server on a free loopback port when one is installed, else database 14
of 127.0.0.1:6379 (flushed). The roles run as real processes (python -m api / worker / scheduler,
simulator broker) in a temporary folder; the baselines are tests/bench/baseline.py.

- intake: signed orders/s answered 202 by the web role (waitress, api.server.options) over
  N keep-alive connections, beside a bare Flask 202 handler on the same server settings;
- end to end at a steady 50 and 200 orders/s (open loop: request i is due at i/rate whatever came
  before): due -> job start, -> the simulator's order_stock call (the worker's `sent` event), ->
  result written; p50/p90/p99, beside a bare Flask handler that enqueues a no-op RQ job and a plain
  SimpleWorker, measured the same way;
- end to end at 50 orders/s with DingTalk hanging (the stand-in robot of tests/notify takes the scheduler's posts
  and answers nothing), beside the same with it answering: due -> result p50/p99;
- worker throughput from a full queue (the middle 80%: start-up excluded), fresh day and after 5,000
  orders in the simulator's day, beside a plain SimpleWorker on no-op jobs; worker start-up time;
- a cancel queued behind 1,000 orders: how long until it starts;
- the orphan scan's time with 1,000 and 30,000 finished jobs kept in Redis;
- peak RSS of the web, worker and scheduler processes.

Prints a table and writes VAR_DIR/bench/bench.json and VAR_DIR/bench/latency.png.
Not a test: the figures depend on the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import scenarios  # noqa: E402
from tests.bench.plot import latency_png  # noqa: E402
from tests.bench.rig import BenchRedis  # noqa: E402

# (metric, how the router's figure compares with the baseline's to meet the target)
TARGETS = {
    "intake orders/s": ("≥ 0.6×", lambda r, *_: r >= 0.6),
    "50/s due→start p50 ms": ("≤ 1.3×", lambda r, *_: r <= 1.3),
    "50/s due→start p99 ms": ("≤ 2×", lambda r, *_: r <= 2.0),
    "50/s due→result p50 ms": ("≤ 1.3×", lambda r, *_: r <= 1.3),
    "50/s due→result p99 ms": ("≤ 2×", lambda r, *_: r <= 2.0),
    # a hanging DingTalk holds up the scheduler's notifier thread, never an order
    "DingTalk hanging due→result p50 ms": ("≤ 1.3× answering", lambda r, *_: r <= 1.3),
    "DingTalk hanging due→result p99 ms": ("≤ 2× answering", lambda r, *_: r <= 2.0),
    "worker jobs/s (fresh day)": ("≥ 0.8×", lambda r, *_: r >= 0.8),
    "worker jobs/s (5,000 in day)": ("≥ 0.9× fresh", lambda r, *_: r >= 0.9),
    "cancel start delay, in jobs": ("≤ 2 jobs", lambda r, *_: r <= 2.0),
    # the same few round trips at any count: a sub-millisecond gap is the machine's noise, the old scan took seconds
    "orphan scan ms (30,000 kept)": ("≈ 1,000 kept", lambda r, router, bare: r <= 2.0 or router - bare < 1.0),
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def rows(results: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(metric, router, baseline) for the table; the baseline of the 5,000-order worker figure is the fresh day's."""
    found: list[tuple[str, float | None, float | None]] = []
    intake = results["intake"]
    found.append(("intake orders/s", intake["router"], intake["bare_flask"]))
    for load, figures in results["end_to_end"].items():
        for stage in ("start", "sent", "result"):
            for share in ("p50", "p90", "p99"):
                router = figures["router"].get(f"{stage}_{share}")
                bare = figures["bare"].get(f"{stage}_{share}") if stage != "sent" else figures["bare"].get(f"start_{share}")
                if router is not None:
                    found.append((f"{load} due→{stage} {share} ms", router, bare))
    dingtalk = results.get("dingtalk_hanging")
    if dingtalk:  # the baseline of these is the same run with DingTalk answering
        for share in ("p50", "p99"):
            found.append((f"DingTalk hanging due→result {share} ms", dingtalk["hanging"][f"result_{share}"], dingtalk["healthy"][f"result_{share}"]))
    worker = results["worker"]
    found.append(("worker jobs/s (fresh day)", worker["router_fresh"], worker["bare_rq"]))
    found.append(("worker jobs/s (5,000 in day)", worker["router_full_day"], worker["router_fresh"]))
    found.append(("worker start-up s", worker["router_startup_s"], worker["bare_startup_s"]))
    cancel = results["cancel"]
    found.append(("cancel start delay ms", cancel["delay_ms"], cancel["job_ms"]))
    found.append(("cancel start delay, in jobs", cancel["delay_jobs"], 1.0))
    scan = results["orphan_scan"]
    found.append(("orphan scan ms (30,000 kept)", scan["30000"], scan["1000"]))
    for role, mb in results["peak_rss_mb"].items():
        found.append((f"peak RSS MB {role}", mb, None))
    return found


def table(results: dict[str, Any]) -> str:
    lines = [
        f"| {'figure':<32} | {'router':>9} | {'baseline':>9} | {'ratio':>6} | target |",
        f"|{'-' * 34}|{'-' * 11}|{'-' * 11}|{'-' * 8}|--------|",
    ]
    for name, router, bare in rows(results):
        ratio = router / bare if router is not None and bare else None
        target = TARGETS.get(name)
        verdict = f"{target[0]} {'met' if target[1](ratio, router, bare) else 'NOT met'}" if target and ratio is not None else ""
        lines.append(
            f"| {name:<32} | {_fmt(router):>9} | {_fmt(bare):>9} | {_fmt(ratio, 2):>6} | {verdict} |",
        )
    return "\n".join(lines)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.2 for a quick look)")
    parser.add_argument("--connections", type=int, default=8, help="client connections of the intake figure")
    parser.add_argument("--out", default="", help="folder for bench.json and latency.png (default VAR_DIR/bench)")
    args = parser.parse_args(argv)
    from common.config.settings import load_settings

    out = Path(args.out) if args.out else Path(load_settings().VAR_DIR) / "bench"
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "scale": args.scale}
    samples: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="qmt-bench-") as folder:
        workdir = Path(folder)
        bench_redis = BenchRedis(workdir)
        print(f"benchmark against {bench_redis.where}; roles as processes in {workdir}", flush=True)
        try:
            context = scenarios.Context(bench_redis, workdir, args.scale)
            results["intake"] = scenarios.intake(context, args.connections)
            results["end_to_end"] = {}
            for rate in (50, 200):
                figures, series = scenarios.end_to_end(context, rate)
                results["end_to_end"][f"{rate}/s"] = figures
                samples[f"{rate}/s"] = series
            results["dingtalk_hanging"] = scenarios.dingtalk_hanging(context)
            results["worker"] = scenarios.worker_throughput(context)
            results["cancel"] = scenarios.cancel_behind(context, results["worker"]["router_fresh"])
            results["orphan_scan"] = scenarios.orphan_scan(context)
            results["peak_rss_mb"] = context.peak_rss
        finally:
            bench_redis.flush()
            bench_redis.close()
    print()
    print(table(results))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    png = latency_png(samples, out / "latency.png")
    print(f"\nwritten: {out / 'bench.json'}" + (f", {png}" if png else " (no plot: matplotlib is a dev dependency)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
