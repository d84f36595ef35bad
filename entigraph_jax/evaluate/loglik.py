"""QuALITY by option log-likelihood: a fast, deterministic score for small models (and the training
hook), and the continuation scorer open-book reranking shares. Not the paper's protocol."""

from __future__ import annotations

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from entigraph_jax.data import Document, Question
from entigraph_jax.data.sources import article_context
from entigraph_jax.runs import EvalReport

from .quality import LETTERS, items, summarize


def loglik_prompt(doc: Document, question: Question) -> str:
    q = question.question.strip()
    return f"{article_context(doc.title, doc.author, doc.year)} {q[:1].lower() + q[1:]}\nAnswer:"


@functools.lru_cache(maxsize=4)
def _log_probs(graphdef):
    """One compiled scorer per model structure: the trainer calls `log_likelihood` every N steps."""
    return jax.jit(lambda state, tokens: jax.nn.log_softmax(nnx.merge(graphdef, state)(tokens), axis=-1))


def continuation_logprobs(model, pairs: list[tuple[list[int], list[int]]], batch: int = 16,
                          progress: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(summed log-probability, whether greedy decoding would write it) of each continuation given its
    (non-empty) context. The model reads context and continuation but the last token; pairs go longest
    first in batches of `batch` rows, each padded to a multiple of 64 tokens (few shapes to compile); a
    progress bar named `progress` if given."""
    graphdef, state = nnx.split(model)
    forward = functools.partial(_log_probs(graphdef), state)
    order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
    sums, greedy = np.zeros(len(pairs)), np.zeros(len(pairs), bool)
    for start in tqdm(range(0, len(order), batch), desc=progress, unit="batch", disable=not progress,
                      dynamic_ncols=True):
        part = order[start : start + batch]
        width = -(-max(len(pairs[i][0]) + len(pairs[i][1]) - 1 for i in part) // 64) * 64
        tokens = np.zeros((batch, width), np.int32)
        for k, i in enumerate(part):
            row = (pairs[i][0] + pairs[i][1])[:-1]
            tokens[k, : len(row)] = row
        logp = np.asarray(forward(jnp.asarray(tokens)))
        for k, i in enumerate(part):
            context, continuation = pairs[i]
            positions = np.arange(len(context) - 1, len(context) + len(continuation) - 1)
            sums[i] = logp[k, positions, continuation].sum()
            greedy[i] = bool((logp[k, positions].argmax(-1) == continuation).all())
    return sums, greedy


def continuation_scores(model, pairs: list[tuple[list[int], list[int]]], batch: int = 16,
                        progress: str = "") -> np.ndarray:
    """Mean log-probability per token of each continuation given its context."""
    sums, _ = continuation_logprobs(model, pairs, batch, progress)
    return sums / np.array([len(continuation) for _, continuation in pairs])


def log_likelihood(model, tokenizer, docs: list[Document], max_questions: int = 0, batch: int = 16,
                   progress: bool = False) -> EvalReport:
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
        results.append({"title": doc.title, "doc_id": doc.doc_id, "question": q.question,
                        "gold": LETTERS[q.gold_label - 1], "selected": choice, "difficult": q.difficult,
                        "correct": choice == LETTERS[q.gold_label - 1], "answers": [choice],
                        "scores": scores[i].tolist()})
    return summarize("loglik", results, docs)
