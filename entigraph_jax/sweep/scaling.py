"""The scaling study: accuracy against synthetic tokens, with the mixture-of-exponential fit.

Section 6 of the paper models EntiGraph as a random graph whose edges a model learns as synthetic
tokens arrive, and derives that accuracy grows as a mixture of exponentials in the number of
synthetic tokens t; it fits that shape to the measured scaling curve. We fit
acc(t) = p + C (1 - sum_k a_k exp(-b_k t)), sum_k a_k = 1, with K components (`fit_components`,
default 2): p is the accuracy before any synthetic data, p + C the plateau, and each rate b_k
learns its share a_k of what is missing. The form is our reading of the paper's; its exact
parameterisation (and K) could not be checked against the paper's text from this project's machine.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from entigraph_jax.outputs import json_text


def mixture_of_exponentials(t, p, c, *shares_and_log_rates):
    """p + c (1 - sum_k a_k e^{-b_k t}): K weights (normalised to the shares a_k) then K log-rates
    (logs, so rates stay positive)."""
    t = np.asarray(t, np.float64)
    k = len(shares_and_log_rates) // 2
    weights, log_rates = np.asarray(shares_and_log_rates[:k]), np.asarray(shares_and_log_rates[k:])
    shares = weights / max(weights.sum(), 1e-12)
    decay = sum(a * np.exp(-np.exp(lb) * t) for a, lb in zip(shares, log_rates, strict=True))
    return p + c * (1 - decay)


def fit_scaling(tokens, accuracy, components: int = 2) -> dict:
    """Least-squares fit with `components` exponentials; rates start spread over the token range."""
    tokens, accuracy = np.asarray(tokens, np.float64), np.asarray(accuracy, np.float64)
    span = np.log(1.0 / tokens.max()), np.log(1.0 / tokens.min())
    rates = np.linspace(span[0] + 1, span[1] - 1, components) if components > 1 else [np.mean(span)]
    start = [accuracy.min(), max(accuracy.max() - accuracy.min(), 1e-3), *[1.0] * components, *rates]
    lower = [0.0, 0.0, *[1e-6] * components, *[span[0] - 5] * components]
    upper = [1.0, 1.0, *[1.0] * components, *[span[1] + 5] * components]
    with warnings.catch_warnings():  # few points make the covariance undefined; only the fit is used
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(mixture_of_exponentials, tokens, accuracy, p0=start, bounds=(lower, upper),
                              maxfev=20000)
    weights, log_rates = params[2 : 2 + components], params[2 + components :]
    residual = accuracy - mixture_of_exponentials(tokens, *params)
    return {"p": float(params[0]), "C": float(params[1]), "a": (weights / weights.sum()).tolist(),
            "b": np.exp(log_rates).tolist(), "rmse": float(np.sqrt(np.mean(residual**2))), "params": params.tolist()}


def write_table(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json_text(rows, indent=2))
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["tokens", "accuracy", "hard_accuracy", "run_dir"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in writer.fieldnames} for r in rows)


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

    tokens = np.array([r["tokens"] for r in rows], np.float64)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(tokens, [r["accuracy"] for r in rows], "o", label=label, zorder=3)
    if fit is not None:
        grid = np.geomspace(tokens.min() / 2, tokens.max() * 2, 200)
        ax.plot(grid, mixture_of_exponentials(grid, *fit["params"]), "-", label="mixture-of-exponential fit")
    for (name, value), style in zip(references.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="gray", label=name)
    ax.axhline(CHANCE, color="black", linewidth=0.8, label="chance (1 in 4)")
    ax.set_xscale("log")
    ax.set_xticks(tokens)
    ax.xaxis.set_major_formatter(FuncFormatter(short_count))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training tokens")
    ax.set_ylabel("QuALITY accuracy")
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
