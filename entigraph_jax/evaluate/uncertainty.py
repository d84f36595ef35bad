"""How sure a figure is: a 95% interval from a seeded bootstrap that resamples clusters (QuALITY's questions
cluster by article: questions about one article succeed or fail together, so articles are resampled, not
questions; documents for perplexity), and a paired change between two models scored on the same units,
with a plain verdict — better, worse, or no detectable change.

A figure is made of `Units`: per unit (a question, a document) its cluster, a numerator and a denominator;
the figure is `transform(sum of numerators / sum of denominators)` (an accuracy: correct / questions; a
perplexity: exp(summed loss / tokens)). A result type that can say its units gets intervals and paired
changes in the before/after report for free (`Result.units`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

LEVEL = 0.95
DRAWS = 2000
SEED = 0
BETTER, WORSE, NO_CHANGE = "better", "worse", "no detectable change"


@dataclasses.dataclass(frozen=True)
class Units:
    keys: tuple[str, ...]  # a unit's identity, to pair two models' units (a question, a document)
    clusters: tuple[str, ...]  # what the bootstrap resamples (an article, a document)
    numerators: tuple[float, ...]
    denominators: tuple[float, ...]
    transform: str = "identity"  # identity | exp
    higher_is_better: bool = True

    def figure(self, numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
        ratio = numerators / denominators
        return np.exp(ratio) if self.transform == "exp" else ratio

    def subset(self, keys) -> Units:
        keep = [i for i, k in enumerate(self.keys) if k in keys]
        return Units(*(tuple(getattr(self, f)[i] for i in keep) for f in ("keys", "clusters", "numerators",
                                                                           "denominators")),
                     self.transform, self.higher_is_better)


def _by_cluster(units: Units, order: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators summed per cluster, in `order`."""
    index = {c: i for i, c in enumerate(order)}
    num, den = np.zeros(len(order)), np.zeros(len(order))
    at = np.array([index[c] for c in units.clusters], dtype=int)
    np.add.at(num, at, units.numerators)
    np.add.at(den, at, units.denominators)
    return num, den


def _draws(clusters: int, seed: int, draws: int) -> np.ndarray:
    """[draws, clusters]: each row a resample of the clusters with replacement."""
    return np.random.default_rng(seed).integers(0, clusters, size=(draws, clusters))


def _percentiles(values: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values[np.isfinite(values)], [tail, 100 - tail])
    return [float(low), float(high)]


def interval(units: Units, seed: int = SEED, draws: int = DRAWS, level: float = LEVEL) -> list[float] | None:
    """The figure's `level` percentile interval over resampled clusters (None with fewer than 2 clusters)."""
    order = list(dict.fromkeys(units.clusters))
    if len(order) < 2:
        return None
    num, den = _by_cluster(units, order)
    picks = _draws(len(order), seed, draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _percentiles(units.figure(num[picks].sum(1), den[picks].sum(1)), level)


@dataclasses.dataclass(frozen=True)
class Change:
    before: float
    after: float
    change: float  # after - before, on the units both have
    interval: list[float] | None  # of the change, over resampled clusters (the same draw for both models)
    units: int  # the units both were scored on
    verdict: str  # better | worse | no detectable change (the interval holds 0, or there is none)


def paired_change(before: Units, after: Units, seed: int = SEED, draws: int = DRAWS,
                  level: float = LEVEL) -> Change | None:
    """The change from `before` to `after` on the units both have, and its paired interval: each resample
    takes the same clusters for both models. None where they share no unit."""
    shared = set(before.keys) & set(after.keys)
    if not shared:
        return None
    before, after = before.subset(shared), after.subset(shared)
    order = list(dict.fromkeys(before.clusters))
    (nb, db), (na, da) = _by_cluster(before, order), _by_cluster(after, order)
    first = float(before.figure(nb.sum(), db.sum()))
    second = float(after.figure(na.sum(), da.sum()))
    span = None
    if len(order) >= 2:
        picks = _draws(len(order), seed, draws)
        with np.errstate(invalid="ignore", divide="ignore"):
            diffs = after.figure(na[picks].sum(1), da[picks].sum(1)) - before.figure(nb[picks].sum(1),
                                                                                      db[picks].sum(1))
        span = _percentiles(diffs, level)
    verdict = NO_CHANGE
    if span and (span[0] > 0 or span[1] < 0):
        verdict = BETTER if (span[0] > 0) == before.higher_is_better else WORSE
    return Change(first, second, second - first, span, len(shared), verdict)
