"""The scaling study's table and plot: accuracy against synthetic tokens, the fit (`fit.py`) with its 90%
band, the reference accuracies and chance."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from entigraph_jax.outputs import json_text

from .fit import fitted

COLUMNS = ["tokens", "accuracy", "accuracy_all", "hard_accuracy", "hard_accuracy_all", "attempt_rate", "run_dir"]


def write_table(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json_text(rows, indent=2))
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


CHANCE = 0.25  # QuALITY: one of four options


def short_count(value: float, _position=None) -> str:
    """500, 1.5k, 2M, 1.2B: a token count short enough for a tick label."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def scaling_figure(series: list[tuple[str, list[dict], dict | None]], references: dict[str, float]):
    """Accuracy against tokens: each series' runs (with their 95% intervals where every question was attempted)
    and fit (with its band), the reference accuracies and chance; the x ticks are the runs' budgets. A series
    is (label, rows, fit or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(7 + 2.5 * (len(series) > 1), 4.5))
    ticks = set()
    for (label, rows, fit), color in zip(series, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False):
        rows = [r for r in rows if r["accuracy"] is not None]
        tokens = np.array([r["tokens"] for r in rows], np.float64)
        ticks |= set(tokens.tolist())
        accuracy = np.array([r["accuracy"] for r in rows])
        bars = [r.get("interval") if r.get("accuracy_all") == r["accuracy"] else None for r in rows]
        if any(b is not None for b in bars):
            low = [a - b[0] if b else 0.0 for a, b in zip(accuracy, bars, strict=True)]
            high = [b[1] - a if b else 0.0 for a, b in zip(accuracy, bars, strict=True)]
            ax.errorbar(tokens, accuracy, yerr=[low, high], fmt="o", color=color, capsize=3, label=label, zorder=3)
        else:
            ax.plot(tokens, accuracy, "o", color=color, label=label, zorder=3)
        if fit is not None:
            grid = np.geomspace(tokens.min() / 2, tokens.max() * 2, 200)
            ax.plot(grid, fitted(fit, grid), "-", color=color,
                    label=f"{label}: mixture-of-exponential fit ({len(fit['B'])} terms)")
            if "band" in fit:
                band = fit["band"]
                ax.fill_between(band["tokens"], band["low"], band["high"], color=color, alpha=0.15,
                                label=f"{label}: {band['level']:.0%} band (bootstrap)")
    for (name, value), style in zip(references.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="gray", label=name)
    ax.axhline(CHANCE, color="black", linewidth=0.8, label="chance (1 in 4)")
    ax.set_xscale("log")
    ax.set_xticks(sorted(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(short_count))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training tokens")
    ax.set_ylabel("QuALITY accuracy (correct / attempted)")
    ax.legend(fontsize="small", **({"loc": "upper left", "bbox_to_anchor": (1.01, 1)} if len(series) > 1 else {}))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_scaling(series: list[tuple[str, list[dict], dict | None]], references: dict[str, float], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig = scaling_figure(series, references)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
