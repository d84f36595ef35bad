"""Held-out perplexity of a model on any source or record set, over packed rows with document
masking (each document is scored on its own, as the trainer's held-out evaluation does)."""

from __future__ import annotations

import functools
import math
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from entigraph_jax.data import Document, PackedRows, SourceError, build_token_cache, subsample
from entigraph_jax.runs import EvalReport


@functools.partial(jax.jit, static_argnums=0)
def _nll(graphdef, state, tokens, positions, segments, targets, mask):
    """Summed negative log-likelihood of the masked targets, and their count; compiled once per model
    shape and batch, not once per call."""
    logp = jax.nn.log_softmax(nnx.merge(graphdef, state)(tokens, positions, segments), axis=-1)
    picked = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return -jnp.sum(picked * mask), jnp.sum(mask)


def perplexity(model, tokenizer, docs: list[Document], seq_len: int, batch: int) -> EvalReport:
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = build_token_cache(docs, tokenizer, cache_dir)
        rows = PackedRows(cache, subsample(cache, seed=0), seq_len, mask_documents=True)
        if len(rows) == 0:
            raise SourceError(f"the text ({cache.num_tokens} tokens) is shorter than one row of {seq_len}")

        graphdef, state = nnx.split(model)
        total = count = 0.0
        for start in tqdm(range(0, len(rows), batch), desc=f"perplexity ({len(rows)} rows of {seq_len})",
                          unit="batch", dynamic_ncols=True):
            part = [rows[i] for i in range(start, min(start + batch, len(rows)))]
            part += [dict(part[0], loss_mask=np.zeros(seq_len, np.float32))] * (batch - len(part))  # pad the batch
            stacked = {k: np.stack([p[k] for p in part]) for k in part[0]}
            s, n = _nll(graphdef, state, *(stacked[k] for k in ("inputs", "positions", "segment_ids", "targets",
                                                                "loss_mask")))
            total, count = total + float(s), count + float(n)
    return EvalReport("perplexity", tokens=int(count), loss=total / count, perplexity=math.exp(total / count))
