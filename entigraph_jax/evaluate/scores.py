"""Scores of multiple-choice questions (closed-book, open-book, log-likelihood): accuracy over every
question and over the answered ones, the attempt rate, by the paper's split (articles sorted by title:
the first 20% `tune`, the rest `test`) and by the groups a question belongs to — QuALITY's `hard`
questions, and the questions the generator could (`guessable`) or could not answer without their
document (a user's own questions)."""

from __future__ import annotations

import collections
import dataclasses
import math

from entigraph_jax.data import Document, Question

from .task import Result

TUNE_FRACTION = 0.2
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

    def __post_init__(self):
        for name in ("accuracy", "accuracy_answered", "attempt_rate"):
            object.__setattr__(self, name, _json_number(getattr(self, name)))


def score(rows: list[dict]) -> Score:
    """Accuracy over all questions (unanswered ones wrong), the paper's accuracy over answered ones,
    and the attempt rate (share of samples with a parsed answer); None where there is nothing to count."""
    total, correct = len(rows), sum(r["correct"] for r in rows)
    answered = sum(r["selected"] is not None for r in rows)
    samples = [a for r in rows for a in r["answers"]]
    return Score(correct=correct, total=total, accuracy=correct / total if total else None, answered=answered,
                 accuracy_answered=correct / answered if answered else None,
                 attempt_rate=sum(a is not None for a in samples) / len(samples) if samples else None)


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

    def rows(self) -> dict[str, float | None]:
        """Accuracy over every question of every article, and over each group that has questions."""
        scores, name = self.splits["all"], self.task.replace("_", "-")
        rows = {f"{name} accuracy": scores.overall.accuracy}
        for group in GROUPS:
            if getattr(scores, group).total:
                rows[f"{name} accuracy, {group.replace('_', ' ').replace('non ', 'not ')}"] = \
                    getattr(scores, group).accuracy
        return rows


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
