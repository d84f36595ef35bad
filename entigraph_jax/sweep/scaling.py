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


def scaling_figure(rows: list[dict], fit: dict | None, references: dict[str, float], label: str):
    """Accuracy against tokens: the runs (`label`), the fit, the reference accuracies and chance; the
    x ticks are the runs' budgets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    rows = [r for r in rows if r["accuracy"] is not None]
    tokens = np.array([r["tokens"] for r in rows], np.float64)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(tokens, [r["accuracy"] for r in rows], "o", label=label, zorder=3)
    if fit is not None:
        grid = np.geomspace(tokens.min() / 2, tokens.max() * 2, 200)
        ax.plot(grid, fitted(fit, grid), "-", label=f"mixture-of-exponential fit ({len(fit['B'])} terms)")
        if "band" in fit:
            band = fit["band"]
            ax.fill_between(band["tokens"], band["low"], band["high"], alpha=0.2,
                            label=f"{band['level']:.0%} band (bootstrap)")
    for (name, value), style in zip(references.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="gray", label=name)
    ax.axhline(CHANCE, color="black", linewidth=0.8, label="chance (1 in 4)")
    ax.set_xscale("log")
    ax.set_xticks(tokens)
    ax.xaxis.set_major_formatter(FuncFormatter(short_count))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training tokens")
    ax.set_ylabel("QuALITY accuracy (correct / attempted)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_scaling(rows: list[dict], fit: dict | None, references: dict[str, float], out: Path, label: str) -> Path:
    import matplotlib.pyplot as plt

    fig = scaling_figure(rows, fit, references, label)
    path = out / "scaling.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
