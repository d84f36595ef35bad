"""The scaling study: accuracy against synthetic tokens, with the paper's mixture-of-exponential fit.

Section 6 of the paper models EntiGraph as a random graph whose edges a model learns as synthetic
tokens arrive, and derives that accuracy grows as a mixture of exponentials in the number of
synthetic tokens (Section 6.3, eq. 2). Appendix G.1 truncates the mixture to three terms and fits,
by least squares, with x the synthetic tokens in millions:

    y = 64.5456 - 13.8352 * 0.9989^x - 8.4705 * 0.8961^x - 3.932 * 0.0546^x

We fit the same form, y = A - sum_k B_k r_k^x (A the plateau, A - sum_k B_k the accuracy before any
synthetic data, 0 < r_k < 1), with K terms (`fit_components`, the paper's 3 by default). A, B are
linear given the rates, so each candidate set of rates is scored by non-negative least squares on
A and B (variable projection); the rates start from a grid spread over the token range and the best
start is polished. With K terms the fit has 2K + 1 parameters and needs at least that many runs.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares, nnls

from entigraph_jax.outputs import json_text

MILLION = 1e6  # x in the paper's fit: synthetic tokens in millions


def scaling_curve(x, plateau: float, drops, rates) -> np.ndarray:
    """y = plateau - sum_k drops_k * rates_k ** x."""
    x = np.asarray(x, np.float64)
    return plateau - sum(b * np.power(r, x) for b, r in zip(drops, rates, strict=True))


def _linear_part(x, y, log_decays):
    """For decay rates exp(log_decays) per unit of x: the best plateau >= 0 and drops >= 0 (NNLS),
    and the residual."""
    basis = np.stack([np.ones_like(x), *[-np.exp(-np.exp(d) * x) for d in log_decays]], axis=1)
    coef, _ = nnls(basis, y)
    return coef, basis @ coef - y


def fit_scaling(tokens, accuracy, components: int = 3) -> dict:
    """Least-squares fit of y = A - sum_k B_k r_k^x, x = tokens / 1e6 (accuracy in the units given:
    a fraction, or percent as the paper prints it). Returns the plateau A, the drops B and rates r
    (per million tokens, fastest decay last), the accuracy at zero tokens, the rmse and the formula."""
    x, y = np.asarray(tokens, np.float64) / MILLION, np.asarray(accuracy, np.float64)
    if len(x) < 2 * components + 1:
        raise ValueError(f"a {components}-term fit needs at least {2 * components + 1} points, got {len(x)}")
    positive = x[x > 0]
    low, high = np.log(0.1 / positive.max()), np.log(10.0 / positive.min())  # log decay rates worth trying
    grid = np.linspace(low, high, max(components + 3, 8))
    starts = sorted(itertools.combinations(grid, components), key=lambda d: np.sum(_linear_part(x, y, d)[1] ** 2))
    best = None
    for start in starts[:5]:
        polished = least_squares(lambda d: _linear_part(x, y, d)[1], np.array(start), bounds=(low - 5, high + 5),
                                 xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=5000)
        if best is None or polished.cost < best.cost:
            best = polished
    log_decays = np.sort(best.x)
    coef, residual = _linear_part(x, y, log_decays)
    plateau, drops, rates = float(coef[0]), coef[1:].tolist(), np.exp(-np.exp(log_decays)).tolist()
    terms = " ".join(f"- {b:.6g}*{r:.6g}^x" for b, r in zip(drops, rates, strict=True))
    return {"A": plateau, "B": drops, "r": rates, "x": "synthetic tokens in millions",
            "at_zero": plateau - sum(drops), "rmse": float(np.sqrt(np.mean(residual**2))),
            "formula": f"y = {plateau:.6g} {terms}"}


def fitted(fit: dict, tokens) -> np.ndarray:
    """The fitted accuracy at `tokens` (counts, not millions)."""
    return scaling_curve(np.asarray(tokens, np.float64) / MILLION, fit["A"], fit["B"], fit["r"])


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
