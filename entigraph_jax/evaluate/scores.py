"""Scores of multiple-choice questions (closed-book, open-book, log-likelihood): accuracy over every
question, with its 95% interval (a bootstrap over articles: `uncertainty.py`), and over the answered ones,
the attempt rate, by the paper's split (articles sorted by title: the first 20% `tune`, the rest `test`) and
by the groups a question belongs to — QuALITY's `hard` questions, and the questions the generator could
(`guessable`) or could not answer without their document (a user's own questions)."""

from __future__ import annotations

import collections
import dataclasses
import math

from entigraph_jax.data import Document, Question, SourceError

from .task import Result, Row
from .uncertainty import Units, interval

TUNE_FRACTION = 0.2
CHANCE = 0.25  # four options
FEW_ATTEMPTS = 0.05  # an attempt rate below this says more than the accuracy it leaves
SPLITS = ("test", "tune", "all")  # the paper's test split (its headline), the tuning split, every article
# a question's groups, by what its source says of it (a group a source says nothing of stays empty)
GROUPS = {"hard": ("difficult", True), "non_hard": ("difficult", False), "not_guessable": ("guessable", False),
          "guessable": ("guessable", True)}


def in_group(question: Question | dict, group: str) -> bool:
    """Whether a question (or a result row, which carries its flags) is in `group`."""
    key, value = GROUPS[group]
    flag = question.get(key) if isinstance(question, dict) else getattr(question, key)
    return flag is not None and bool(flag) == value


def paper_split(docs: list[Document]) -> dict[str, list[Document]]:
    """The articles sorted by title (ties keep the source's order): the first 20% `tune`, the rest `test`."""
    ordered = sorted(docs, key=lambda d: d.title)
    cut = int(TUNE_FRACTION * len(ordered))
    return {"tune": ordered[:cut], "test": ordered[cut:], "all": ordered}


def check_split(docs: list[Document], split: str, source: str) -> None:
    """One line where `split` selects none of `docs` (the articles with questions)."""
    parts = paper_split(docs)
    if not parts[split]:
        raise SourceError(f"{source}: split={split} selects no question: of the {len(docs)} articles with questions "
                          f"it holds, tune (the first 20% by title) has {len(parts['tune'])} and test "
                          f"{len(parts['test'])}; set split=all")


def items(docs: list[Document], max_questions: int = 0) -> list[tuple[Document, Question]]:
    """(article, question) in the paper's order: articles by title, questions by their text."""
    pairs = [(doc, q) for doc in paper_split(docs)["all"] for q in sorted(doc.questions, key=lambda q: q.question)]
    return pairs[:max_questions] if max_questions else pairs


def result_row(doc: Document, question: Question, letters: str, selected: str | None, **more) -> dict:
    """The row a question's answer adds to a result's details (what `scores` and the groups read)."""
    gold = letters[question.gold_label - 1]
    return {"title": doc.title, "doc_id": doc.doc_id, "question": question.question, "gold": gold,
            "selected": selected, "correct": selected == gold, "difficult": question.difficult,
            "guessable": question.guessable, **more}


def _json_number(value: float | None) -> float | None:
    """NaN has no JSON form: a figure over nothing is null."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dataclasses.dataclass(frozen=True)
class Score:
    correct: int
    total: int
    accuracy: float | None  # correct / total: a question without a parsed answer is wrong (None: no questions)
    answered: int  # questions with at least one parsed answer
    accuracy_answered: float | None  # correct / answered: the released code's accuracy
    attempt_rate: float | None  # share of samples with a parsed answer
    interval: list[float] | None = None  # accuracy's 95% interval, articles resampled (None: under 2 articles)

    def __post_init__(self):
        for name in ("accuracy", "accuracy_answered", "attempt_rate"):
            object.__setattr__(self, name, _json_number(getattr(self, name)))


def question_units(rows: list[dict]) -> Units:
    """The questions of result rows as units of an accuracy: each question clustered by its article."""
    return Units(tuple(f"{r['doc_id']}\n{r['question']}" for r in rows), tuple(r["doc_id"] for r in rows),
                 tuple(float(r["correct"]) for r in rows), (1.0,) * len(rows))


def score(rows: list[dict]) -> Score:
    """Accuracy over all questions (unanswered ones wrong) and its interval, the paper's accuracy over
    answered ones, and the attempt rate (share of samples with a parsed answer); None where there is
    nothing to count."""
    total, correct = len(rows), sum(r["correct"] for r in rows)
    answered = sum(r["selected"] is not None for r in rows)
    samples = [a for r in rows for a in r["answers"]]
    return Score(correct=correct, total=total, accuracy=correct / total if total else None, answered=answered,
                 accuracy_answered=correct / answered if answered else None,
                 attempt_rate=sum(a is not None for a in samples) / len(samples) if samples else None,
                 interval=interval(question_units(rows)) if rows else None)


@dataclasses.dataclass(frozen=True)
class SplitScores:
    overall: Score
    hard: Score  # QuALITY's questions marked difficult
    non_hard: Score
    not_guessable: Score  # a user's questions the generator could not answer without their document
    guessable: Score

    @classmethod
    def of(cls, rows: list[dict]) -> SplitScores:
        return cls(overall=score(rows), **{g: score([r for r in rows if in_group(r, g)]) for g in GROUPS})

    @classmethod
    def from_dict(cls, d: dict) -> SplitScores:
        empty = dataclasses.asdict(score([]))  # a result written before a group existed
        return cls(**{f.name: Score(**d.get(f.name, empty)) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class QuestionScores(Result):
    """Multiple-choice answers scored by split and group, per article, every prompt and answer in `details`."""

    splits: dict[str, SplitScores] = dataclasses.field(default_factory=dict)  # by SPLITS
    per_article: dict[str, Score] = dataclasses.field(default_factory=dict)  # by title

    @classmethod
    def from_dict(cls, d: dict) -> QuestionScores:
        return super().from_dict({**d, "splits": {k: SplitScores.from_dict(v) for k, v in d["splits"].items()},
                                  "per_article": {k: Score(**v) for k, v in d["per_article"].items()}})

    def figures(self, split: str = "all") -> dict:
        """The split's scores: `accuracy`, ... over every question, then `<group>_accuracy`, ... for each
        group that has questions."""
        scores = self.splits[split]
        out = {"split": split, **dataclasses.asdict(scores.overall)}
        for group in GROUPS:
            found = getattr(scores, group)
            if found.total:
                out.update({f"{group}_{k}": v for k, v in dataclasses.asdict(found).items()})
        return out

    def _named(self) -> dict[str, str]:
        """Row name -> group ("" for every question): every group that has questions."""
        scores, name = self.splits["all"], self.task.replace("_", "-")
        named = {f"{name} accuracy": ""}
        named.update({f"{name} accuracy, {g.replace('_', ' ').replace('non ', 'not ')}": g for g in GROUPS
                      if getattr(scores, g).total})
        return named

    def rows(self) -> dict[str, Row]:
        """Accuracy over every question of every article, and over each group that has questions, with n and
        interval; a row says so where almost no sample had an answer, or where it is below chance."""
        scores, rows = self.splits["all"], {}
        for name, group in self._named().items():
            found = getattr(scores, group) if group else scores.overall
            note = ""
            if found.attempt_rate is not None and found.attempt_rate < FEW_ATTEMPTS:
                note = f"answers parsed in {found.attempt_rate:.0%} of samples"
            elif found.interval and found.interval[1] < CHANCE:
                note = f"below chance ({CHANCE:g})"
            rows[name] = Row(found.accuracy, found.total, found.interval, note)
        return rows

    def units(self) -> dict[str, Units]:
        results = self.details.get("results", [])
        return {name: question_units([r for r in results if not group or in_group(r, group)])
                for name, group in self._named().items()}


def summarize(task: str, results: list[dict], docs: list[Document], **details) -> QuestionScores:
    """The result of answered questions (`result_row`s): scores of each split and per article."""
    splits = {}
    for split, members in paper_split(docs).items():
        ids = {d.doc_id for d in members}
        splits[split] = SplitScores.of([r for r in results if r["doc_id"] in ids])
    by_article = collections.defaultdict(list)
    for r in results:
        by_article[r["title"]].append(r)
    return QuestionScores(task, splits=splits, per_article={title: score(rows) for title, rows in by_article.items()},
                          details={**details, "results": results})
