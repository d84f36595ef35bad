"""The paper's scaling fit, made to survive the noise of real runs.

Section 6 of the paper models EntiGraph as a random graph whose edges a model learns as synthetic tokens
arrive, and derives that accuracy grows as a mixture of exponentials in the number of synthetic tokens
(Section 6.3, eq. 2). Appendix G.1 truncates the mixture to three terms and fits, by least squares, with x
the synthetic tokens in millions:

    y = 64.5456 - 13.8352 * 0.9989^x - 8.4705 * 0.8961^x - 3.932 * 0.0546^x

We fit the same form, y = A - sum_k B_k r_k^x (A the plateau, A - sum_k B_k the accuracy before any
synthetic data). Given the rates, A and B are linear: each candidate set of rates is scored by bounded
least squares on A and B (variable projection); rates start from a grid and the best start is polished.
What keeps a fit of 2K + 1 parameters to a handful of noisy points honest:
- the plateau is bounded to the accuracy's scale (1 for fractions, 100 for percent) and at least the best
  accuracy observed; each drop to [0, scale];
- each rate decays within the range the budgets can tell apart: by at least a third of its drop over the
  largest budget (a slower term would be a straight line there, and any plateau would fit it) and by at most
  ten times over the smallest;
- the number of terms is chosen from the data unless set: 1, 2 or 3, whichever predicts a left-out point
  best (leave-one-out), among those the other points can fit (n - 1 >= 2K + 1);
- the uncertainty is measured: a residual bootstrap (residuals rescaled for the parameters fitted, resampled
  onto the fit, refitted) gives a 90% band for the curve and an interval for the plateau;
- the curve is drawn, and `fitted` evaluates it, only within a few times the largest budget (it warns past).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy.optimize import least_squares, lsq_linear

MILLION = 1e6  # x in the paper's fit: synthetic tokens in millions
TERMS = (1, 2, 3)
BAND = 0.90
EXTRAPOLATION = 4.0  # how far past the largest budget the curve is drawn and trusted, as a multiple


def scaling_curve(x, plateau: float, drops, rates) -> np.ndarray:
    """y = plateau - sum_k drops_k * rates_k ** x."""
    x = np.asarray(x, np.float64)
    return plateau - sum(b * np.power(r, x) for b, r in zip(drops, rates, strict=True))


class Problem:
    """The points, their scale, and the bounds every fit of them keeps to."""

    def __init__(self, x: np.ndarray, y: np.ndarray, scale: float | None = None):
        self.x, self.y = x, y
        self.scale = scale or (1.0 if np.nanmax(y) <= 1.0 else 100.0)
        positive = x[x > 0]
        # log decay (per million tokens) between a third of a drop over the largest budget and ten over the smallest
        self.low, self.high = math.log(1 / 3 / positive.max()), math.log(10.0 / positive.min())
        self.lower = np.array([min(np.nanmax(y), self.scale)])
        self.upper = np.array([self.scale])

    def linear(self, y: np.ndarray, log_decays) -> tuple[np.ndarray, np.ndarray]:
        """For decay rates exp(log_decays): the best bounded plateau and drops, and the residual."""
        basis = np.stack([np.ones_like(self.x), *[-np.exp(-np.exp(d) * self.x) for d in log_decays]], axis=1)
        k = len(log_decays)
        lower = np.concatenate([self.lower, np.zeros(k)])
        upper = np.concatenate([self.upper, np.full(k, self.scale)])
        coef = lsq_linear(basis, y, bounds=(lower, upper), method="bvls").x
        return coef, basis @ coef - y

    def fit(self, components: int, y: np.ndarray | None = None, start=None) -> tuple[np.ndarray, np.ndarray]:
        """(log decays, linear coefficients) of the best `components`-term fit to `y` (default: the points);
        from `start` alone where given (a bootstrap refit), else from a grid of starts."""
        y = self.y if y is None else y
        if start is None:
            grid = np.linspace(self.low, self.high, max(components + 3, 8))
            ranked = sorted(itertools.combinations(grid, components),
                            key=lambda d: float(np.sum(self.linear(y, d)[1] ** 2)))
            starts = [np.array(s) for s in ranked[:5]]
        else:
            starts = [np.clip(start, self.low, self.high)]
        best = None
        for begin in starts:
            polished = least_squares(lambda d: self.linear(y, d)[1], begin, bounds=(self.low, self.high),
                                     xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
            if best is None or polished.cost < best.cost:
                best = polished
        decays = np.sort(best.x)
        return decays, self.linear(y, decays)[0]


def held_out_error(x: np.ndarray, y: np.ndarray, components: int, scale: float) -> float:
    """The mean squared error of predicting each point from a fit to the others (leave-one-out); inf where the
    others are too few for the terms."""
    if len(x) - 1 < 2 * components + 1:
        return math.inf
    errors = []
    for left in range(len(x)):
        keep = np.arange(len(x)) != left
        others = Problem(x[keep], y[keep], scale)
        decays, coef = others.fit(components)
        errors.append(float(scaling_curve(x[left], coef[0], coef[1:], np.exp(-np.exp(decays))) - y[left]) ** 2)
    return float(np.mean(errors))


def fit_scaling(tokens, accuracy, components: int = 0, scale: float | None = None, draws: int = 200,
                seed: int = 0) -> dict:
    """Least-squares fit of y = A - sum_k B_k r_k^x, x = tokens / 1e6 (accuracy in the units given: a
    fraction, or percent as the paper prints it), with `components` terms (0: chosen by held-out error). Returns the
    plateau A, the drops B and rates r (per million tokens, fastest decay last), the accuracy at zero
    tokens, the rmse, the formula, how the terms were chosen, and with `draws` a bootstrap: `band` (the 90%
    band of the curve on a grid of token counts) and `plateau_interval`."""
    x, y = np.asarray(tokens, np.float64) / MILLION, np.asarray(accuracy, np.float64)
    if components and len(x) < 2 * components + 1:
        raise ValueError(f"a {components}-term fit needs at least {2 * components + 1} points, got {len(x)}")
    problem = Problem(x, y, scale)
    candidates = [components] if components else [k for k in TERMS if len(x) - 1 >= 2 * k + 1] or [1]
    scores = {k: held_out_error(x, y, k, problem.scale) for k in candidates} if not components else {}
    chosen = components or min(candidates, key=lambda k: (scores[k], k))
    decays, coef = problem.fit(chosen)
    residual = problem.linear(y, decays)[1]
    plateau, drops, rates = float(coef[0]), coef[1:].tolist(), np.exp(-np.exp(decays)).tolist()
    terms = " ".join(f"- {b:.6g}*{r:.6g}^x" for b, r in zip(drops, rates, strict=True))
    fit = {"A": plateau, "B": drops, "r": rates, "x": "synthetic tokens in millions", "at_zero": plateau - sum(drops),
           "rmse": float(np.sqrt(np.mean(residual**2))), "formula": f"y = {plateau:.6g} {terms}",
           "components": chosen, "chosen_by": "set" if components else "held-out error over 1-3 terms",
           "held_out_error": {str(k): v if math.isfinite(v) else None for k, v in scores.items()},
           "scale": problem.scale, "budgets": [float(np.min(tokens)), float(np.max(tokens))]}
    if draws:
        fit.update(bootstrap(problem, chosen, decays, residual, draws, seed))
    return fit


def bootstrap(problem: Problem, components: int, decays: np.ndarray, residual: np.ndarray, draws: int,
              seed: int) -> dict:
    """The 90% band of the curve and interval of the plateau over residual-bootstrap refits."""
    n, parameters = len(problem.y), 2 * components + 1
    sigma = math.sqrt(float(np.sum(residual**2)) / max(n - parameters, 1))  # residuals shrink by fitting
    best = problem.y + residual  # the fitted values
    grid = np.geomspace(problem.x[problem.x > 0].min() / 2, problem.x.max() * 2, 60)
    rng = np.random.default_rng(seed)
    curves, plateaus = [], []
    for _ in range(draws):
        again = best + rng.normal(0.0, sigma, size=n)
        d, c = problem.fit(components, again, start=decays)
        curves.append(scaling_curve(grid, c[0], c[1:], np.exp(-np.exp(d))))
        plateaus.append(c[0])
    tail = (1 - BAND) / 2 * 100
    low, high = np.percentile(np.array(curves), [tail, 100 - tail], axis=0)
    return {"band": {"level": BAND, "tokens": (grid * MILLION).tolist(), "low": low.tolist(), "high": high.tolist()},
            "plateau_interval": np.percentile(plateaus, [tail, 100 - tail]).tolist(), "draws": draws}


def fitted(fit: dict, tokens) -> np.ndarray:
    """The fitted accuracy at `tokens` (counts, not millions); a warning where that is past a few times the
    largest budget (the fit says nothing there: the plateau is an extrapolation)."""
    tokens = np.asarray(tokens, np.float64)
    largest = fit.get("budgets", [0, np.inf])[1]
    if np.max(tokens, initial=0) > EXTRAPOLATION * largest:
        warnings.warn(f"the scaling fit is asked for {np.max(tokens):.3g} tokens, more than {EXTRAPOLATION:g} "
                      f"times its largest budget ({largest:.3g}): an extrapolation", stacklevel=2)
    return scaling_curve(tokens / MILLION, fit["A"], fit["B"], fit["r"])
