"""The benchmark's PNG: the end-to-end latency distributions, the router's beside its baseline's."""

from __future__ import annotations

from pathlib import Path


def latency_png(samples: dict[str, dict[str, list[float]]], out: Path) -> Path | None:
    """One panel per load ({"50/s": {"router -> job start": [ms, ...], ...}}): empirical CDFs on a log axis.

    None when matplotlib is not installed (it is a dev dependency).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return None
    figure, axes = plt.subplots(1, len(samples), figsize=(6.5 * len(samples), 4.5), squeeze=False)
    for axis, (load, series) in zip(axes[0], samples.items(), strict=True):
        for name, values in series.items():
            if not values:
                continue
            ordered = sorted(values)
            shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
            axis.step(ordered, shares, where="post", label=name, linestyle="--" if name.startswith("bare") else "-")
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 1, 2, 5, 10, 20, 50 ms
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())  # the log axis' own labels (3×10⁰ ...) overlap
        axis.set_xlabel("ms after the request was due")
        axis.set_ylabel("share of orders")
        axis.set_title(f"end to end at {load}")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
