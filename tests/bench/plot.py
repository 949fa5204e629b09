"""The benchmark's PNG: the basket's acceptances over time and the latency distributions, the router's beside its baseline's."""

from __future__ import annotations

from pathlib import Path


def bench_png(basket: dict[str, list[float]], latency: dict[str, list[float]], out: Path) -> Path | None:
    """Two panels: the basket ({"router": [s after the first request of each acceptance], "bare": [...]}) as orders at
    the broker over time, and the latency series ({name: [ms, ...]}) as empirical CDFs on a log axis. None when
    matplotlib is not installed (it is a dev dependency)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for name, moments in basket.items():
        left.step(sorted(moments), range(1, len(moments) + 1), where="post", label=f"{name} ({max(moments):.2f} s)",
                  linestyle="--" if name == "bare" else "-")  # fmt: skip
    left.set_xscale("log")
    left.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    left.set_xlabel("seconds after the first request")
    left.set_ylabel("orders the broker has accepted")
    left.set_title(f"basket: {max(len(m) for m in basket.values())} orders to one terminal, 50 ms a call")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8, loc="upper left")
    for name, values in latency.items():
        ordered = sorted(values)
        shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
        right.step(ordered, shares, where="post", label=name, linestyle="--" if name.startswith("bare") else "-")
    right.set_xscale("log")
    right.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 1, 2, 5, 10, 20, 50 ms
    right.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    right.xaxis.set_minor_formatter(ticker.NullFormatter())
    right.set_xlabel("ms after the request was received")
    right.set_ylabel("share of orders")
    right.set_title("latency: open loop at 50 orders/s, 50 ms a call")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
