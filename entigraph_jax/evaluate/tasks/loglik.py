"""loglik: multiple-choice questions by option log-likelihood, the question named as the paper's prompt names
it (no worked examples): a fast, deterministic score for small models and for training hooks. Not the
paper's protocol (that is `closed_book`)."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from entigraph_jax.data import Document, Question
from entigraph_jax.data.sources import article_context
from entigraph_jax.settings import Settings, at_least, positive, setting

from ..likelihood import continuation_scores
from ..quality import LETTERS
from ..scores import QuestionScores, items, result_row, summarize
from ..task import Context, Task


@dataclasses.dataclass(frozen=True)
class LoglikSettings(Settings):
    batch: int = setting(16, "rows per forward pass", check=positive)
    max_questions: int = setting(0, "questions scored (0: every question)", check=at_least(0))


def loglik_prompt(doc: Document, question: Question) -> str:
    q = question.question.strip()
    return f"{article_context(doc.title, doc.author, doc.year)} {q[:1].lower() + q[1:]}\nAnswer:"


def log_likelihood(model, tokenizer, docs: list[Document], max_questions: int = 0, batch: int = 16,
                   progress: bool = False) -> QuestionScores:
    """Score each option's tokens after the question (mean log-probability per token), pick the best;
    with `progress`, a line saying how much work there is and a progress bar."""
    todo = items(docs, max_questions)
    bos = tokenizer.bos()
    pairs = []
    for doc, q in todo:
        context = bos + tokenizer.encode(loglik_prompt(doc, q))
        pairs += [(context, tokenizer.encode(" " + option.strip())) for option in q.options]
    if progress:
        print(f"{len(todo)} questions x 4 options scored, {batch} at a time", file=sys.stderr)
    scores = continuation_scores(model, pairs, batch, "loglik" if progress else "").reshape(len(todo), 4)
    results = []
    for i, (doc, q) in enumerate(todo):
        choice = LETTERS[int(np.argmax(scores[i]))]
        results.append(result_row(doc, q, LETTERS, choice, answers=[choice], scores=scores[i].tolist()))
    return summarize("loglik", results, docs)


def loglik(settings: LoglikSettings, context: Context) -> QuestionScores:
    return log_likelihood(context.model, context.tokenizer, context.questions(), settings.max_questions,
                          settings.batch, progress=context.output is not None)


TASK = Task("loglik", "multiple-choice questions by option log-likelihood (fast, deterministic; not the paper's "
            "protocol)", LoglikSettings, needs="model", reads="questions", result=QuestionScores, run=loglik)
