"""A continuation's log-probability under the model, batched: what the log-likelihood task scores options
with, open-book reranking scores chunks with and the harness's log-likelihood requests are answered with."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm


@functools.lru_cache(maxsize=4)
def _log_probs(graphdef):
    """One compiled scorer per model structure: a training hook scores every N steps."""
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
