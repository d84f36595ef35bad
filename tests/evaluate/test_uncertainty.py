"""Intervals and paired changes (`evaluate/uncertainty.py`): a case computed by hand, the coverage of the
interval when questions cluster by article, and the verdicts of a paired change."""

import numpy as np
import pytest

from entigraph_jax.data import Document, Question
from entigraph_jax.evaluate.quality import SamplingSettings
from entigraph_jax.evaluate.task import Context
from entigraph_jax.evaluate.tasks.closed_book import ClosedBookSettings, closed_book
from entigraph_jax.evaluate.uncertainty import BETTER, NO_CHANGE, WORSE, Units, interval, paired_change
from entigraph_jax.models.sampling import Sample


class KnowsSome:
    """A model made to answer the questions it is told right (gold letter), every other one wrong."""

    def __init__(self, right: set[str], gold: dict[str, str]):
        self.right, self.gold = right, gold

    def generate(self, prompts, params):
        out = []
        for prompt in prompts:
            question = next(q for q in self.gold if q in prompt)
            wrong = "ABCD"[("ABCD".index(self.gold[question]) + 1) % 4]
            letter = self.gold[question] if question in self.right else wrong
            out.append([Sample("x\n", [], "stop", f"Answer: {letter}.\n")] * params.n)
        return out


def test_two_articles_one_known_and_one_not_give_the_interval_computed_by_hand():
    """Article A's two questions answered right, B's two wrong: resampling two articles gives accuracy 1 (AA),
    1/2 (AB, BA) or 0 (BB) with chances 1/4, 1/2, 1/4, so the 95% interval is [0, 1] — while resampling the
    four questions alone would claim more certainty than two articles hold."""
    docs = [Document(a, "text", title=a, questions=[Question(f"what is {a}{i}?", ("w", "x", "y", "z"), 1)
                                                    for i in range(2)]) for a in ("A", "B")]
    gold = {q.question: "A" for d in docs for q in d.questions}
    model = KnowsSome({"what is A0?", "what is A1?"}, gold)
    result = closed_book(ClosedBookSettings(sampling=SamplingSettings(samples=1)),
                         Context(load_documents=lambda: docs, load_sampler=lambda: model))
    overall = result.splits["all"].overall
    assert (overall.accuracy, overall.total, overall.interval) == (0.5, 4, [0.0, 1.0])
    questions = Units(tuple("abcd"), tuple("abcd"), (1.0, 1.0, 0.0, 0.0), (1.0,) * 4)
    assert interval(questions) == [0.0, 1.0] and result.rows()["closed-book accuracy"].interval == [0.0, 1.0]
    assert interval(Units(("a",), ("a",), (1.0,), (1.0,))) is None  # one article: nothing to resample


def clustered_world(rng, articles=40, per_article=10, p=0.6, alike=0.25) -> Units:
    """Questions whose articles differ in how well the model knows them: each article's chance of a right
    answer drawn around `p` (a Beta with that mean), so answers within an article go together (`alike`: the
    correlation of two answers about one article)."""
    strength = 1 / alike - 1
    rates = rng.beta(p * strength, (1 - p) * strength, size=articles)
    correct = rng.random((articles, per_article)) < rates[:, None]
    clusters = tuple(str(a) for a in range(articles) for _ in range(per_article))
    return Units(tuple(map(str, range(correct.size))), clusters, tuple(correct.ravel().astype(float)),
                 (1.0,) * correct.size)


def test_the_article_bootstrap_covers_the_true_accuracy_where_a_question_bootstrap_does_not():
    rng = np.random.default_rng(7)
    worlds = [clustered_world(rng) for _ in range(300)]
    covered = [lo <= 0.6 <= hi for lo, hi in (interval(w, seed=i, draws=1000) for i, w in enumerate(worlds))]
    questions = [Units(w.keys, w.keys, w.numerators, w.denominators) for w in worlds]  # clusters ignored
    naive = [lo <= 0.6 <= hi for lo, hi in (interval(w, seed=i, draws=1000) for i, w in enumerate(questions))]
    assert 0.90 <= np.mean(covered) <= 0.99, np.mean(covered)  # measured: 0.937 (300 worlds)
    assert np.mean(naive) < 0.85, np.mean(naive)  # measured: 0.75: resampling questions claims too much


def test_a_paired_change_on_the_same_units_and_its_verdict():
    rng = np.random.default_rng(3)
    base = clustered_world(rng, p=0.4)
    same = paired_change(base, base)
    assert (same.change, same.interval, same.verdict) == (0.0, [0.0, 0.0], NO_CHANGE)
    learned = Units(base.keys, base.clusters, tuple(1.0 for _ in base.keys), base.denominators)
    assert paired_change(base, learned).verdict == BETTER and paired_change(learned, base).verdict == WORSE
    assert paired_change(base, learned).units == len(base.keys)
    perplexity = Units(("d1", "d2", "d3"), ("d1", "d2", "d3"), (30.0, 33.0, 29.0), (10.0, 11.0, 10.0), "exp", False)
    lower = Units(perplexity.keys, perplexity.clusters, (20.0, 22.0, 19.0), perplexity.denominators, "exp", False)
    change = paired_change(perplexity, lower)  # a lower perplexity is the better one
    assert change.verdict == BETTER and change.change == pytest.approx(np.exp(61 / 31) - np.exp(92 / 31))
    other = Units(("x",), ("x",), (1.0,), (1.0,))
    assert paired_change(base, other) is None  # nothing in common: no change to speak of
