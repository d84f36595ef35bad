"""The scaling study: accuracy against synthetic tokens, with the mixture-of-exponential fit.

The paper's model of EntiGraph predicts that accuracy grows with synthetic tokens t as a mixture
of exponentials, acc(t) = p + C * (1 - sum_k a_k exp(-b_k t)), sum_k a_k = 1: p is the accuracy
before any synthetic data, p + C the plateau, and each b_k a rate at which a share a_k of the
missing knowledge is learned. We fit K = 2 components with scipy and draw the curve over the runs.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit


def mixture_of_exponentials(t, p, c, a, log_b1, log_b2):
    """p + c (1 - a e^{-b1 t} - (1 - a) e^{-b2 t}), rates as logs so they stay positive."""
    t = np.asarray(t, np.float64)
    return p + c * (1 - a * np.exp(-np.exp(log_b1) * t) - (1 - a) * np.exp(-np.exp(log_b2) * t))


def fit_scaling(tokens, accuracy) -> dict:
    """Least-squares fit of the mixture-of-exponential form; rates start spread over the token range."""
    tokens, accuracy = np.asarray(tokens, np.float64), np.asarray(accuracy, np.float64)
    span = np.log(1.0 / tokens.max()), np.log(1.0 / tokens.min())
    start = [accuracy.min(), max(accuracy.max() - accuracy.min(), 1e-3), 0.5, span[0] + 1, span[1] - 1]
    bounds = ([0.0, 0.0, 0.0, span[0] - 5, span[0] - 5], [1.0, 1.0, 1.0, span[1] + 5, span[1] + 5])
    with warnings.catch_warnings():  # few points make the covariance undefined; only the fit is used
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(mixture_of_exponentials, tokens, accuracy, p0=start, bounds=bounds, maxfev=20000)
    p, c, a, log_b1, log_b2 = params
    residual = accuracy - mixture_of_exponentials(tokens, *params)
    return {"p": p, "C": c, "a": [a, 1 - a], "b": [float(np.exp(log_b1)), float(np.exp(log_b2))],
            "rmse": float(np.sqrt(np.mean(residual**2))), "params": params.tolist()}


def write_table(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["tokens", "accuracy", "hard_accuracy", "run_dir"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in writer.fieldnames} for r in rows)


def plot_scaling(rows: list[dict], fit: dict | None, references: dict[str, float], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens = np.array([r["tokens"] for r in rows], np.float64)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(tokens, [r["accuracy"] for r in rows], "o", label="EntiGraph CPT", zorder=3)
    if fit is not None:
        grid = np.geomspace(tokens.min() / 2, tokens.max() * 2, 200)
        ax.plot(grid, mixture_of_exponentials(grid, *fit["params"]), "-", label="mixture-of-exponential fit")
    for (name, value), style in zip(references.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="gray", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("synthetic tokens")
    ax.set_ylabel("QuALITY accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "scaling.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
