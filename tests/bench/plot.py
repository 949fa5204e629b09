"""The benchmark's PNG: the basket's acceptances over time, the latency distributions and the worker's pace over a day,
the router's beside its baseline's."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _paces(samples: list[tuple[int, float]], step: int) -> tuple[list[int], list[float]]:
    """Jobs/s over each `step` jobs of (jobs finished, seconds) samples: (jobs finished at each step's end, rates)."""
    ends, rates = [], []
    mark = samples[0] if samples else None
    for done, moment in samples[1:]:
        if mark is not None and done - mark[0] >= step and moment > mark[1]:
            ends.append(done)
            rates.append((done - mark[0]) / (moment - mark[1]))
            mark = (done, moment)
    return ends, rates


def bench_png(basket: dict[str, list[float]], latency: dict[str, list[float]], day: dict[str, list[tuple[int, float]]], out: Path) -> Path | None:
    """Three panels: the basket ({"router": [s after the first request of each acceptance], "bare": [...]}) as orders at
    the broker over time; the latency series ({name: [ms, ...]}) as empirical CDFs on a log axis; the worker's day
    ({phase: [(orders finished in the day, perf seconds), ...]}) as jobs/s against orders in the day. None when
    matplotlib is not installed (it is a dev dependency)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return None
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(18, 4.8))
    _basket(left, basket, ticker)
    _latency(middle, latency, ticker)
    _day(right, day)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def _basket(axes: Any, basket: dict[str, list[float]], ticker: Any) -> None:
    for name, moments in basket.items():
        axes.step(sorted(moments), range(1, len(moments) + 1), where="post", label=f"{name} ({max(moments):.2f} s)",
                  linestyle="--" if name == "bare" else "-")  # fmt: skip
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlabel("seconds after the first request")
    axes.set_ylabel("orders the broker has accepted")
    axes.set_title(f"basket: {max(len(m) for m in basket.values())} orders to one terminal, 50 ms a call")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")


def _latency(axes: Any, latency: dict[str, list[float]], ticker: Any) -> None:
    for name, values in latency.items():
        ordered = sorted(values)
        shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
        axes.step(ordered, shares, where="post", label=name, linestyle="--" if name.startswith("bare") else "-")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 1, 2, 5, 10, 20, 50 ms
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(ticker.NullFormatter())
    axes.set_xlabel("ms after the request was received")
    axes.set_ylabel("share of orders")
    axes.set_title("latency: open loop at 50 orders/s, 50 ms a call")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")


def _day(axes: Any, day: dict[str, list[tuple[int, float]]]) -> None:
    total = max((samples[-1][0] for samples in day.values() if samples), default=0)
    step = max(10, total // 60)
    for name, samples in day.items():
        ends, rates = _paces(samples, step)
        axes.plot(ends, rates, marker=".", linewidth=1, label=name)
    axes.set_xlabel("orders of the day finished")
    axes.set_ylabel(f"jobs/s over the last {step} jobs")
    axes.set_ylim(bottom=0)
    axes.set_title("worker, call time 0: its pace over one day")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
