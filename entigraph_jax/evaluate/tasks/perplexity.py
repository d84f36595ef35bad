"""perplexity: a model's perplexity on any source (held-out text, the training corpus), over packed rows with
document masking (each document scored on its own). The same task is a training run's held-out hook
(`hooks.perplexity.*`), where it scores the run's own packed batches with the run's sharded loss."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import tempfile
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from entigraph_jax.data import Document, PackedRows, SourceError, build_token_cache, subsample
from entigraph_jax.settings import Settings, at_least, positive, setting

from ..task import Context, Result, Task


@dataclasses.dataclass(frozen=True)
class PerplexitySettings(Settings):
    seq_len: int = setting(512, "tokens per scored row (a training hook: the run's data.seq_len)", check=positive)
    batch: int = setting(8, "rows per forward pass (a training hook: the run's data.global_batch)", check=positive)
    max_batches: int = setting(0, "batches scored (0: every row of the source once)", check=at_least(0))


@dataclasses.dataclass(frozen=True)
class PerplexityResult(Result):
    perplexity: float | None = None
    loss: float | None = None  # nats per token
    tokens: int | None = None  # tokens scored

    def figures(self, split: str = "all") -> dict:
        return {"perplexity": self.perplexity, "loss": self.loss, "tokens": self.tokens}

    def rows(self) -> dict[str, float | None]:
        return {"perplexity": self.perplexity}


@functools.partial(jax.jit, static_argnums=0)
def _nll(graphdef, state, tokens, positions, segments, targets, mask):
    """Summed negative log-likelihood of the masked targets, and their count; compiled once per model
    shape and batch, not once per call."""
    logp = jax.nn.log_softmax(nnx.merge(graphdef, state)(tokens, positions, segments), axis=-1)
    picked = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return -jnp.sum(picked * mask), jnp.sum(mask)


def packed_losses(model, tokenizer, docs: list[Document],
                  settings: PerplexitySettings) -> Iterator[tuple[float, float]]:
    """(summed loss, target tokens) of each batch of `docs` packed into rows of `settings.seq_len`."""
    seq_len, batch = settings.seq_len, settings.batch
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = build_token_cache(docs, tokenizer, cache_dir)
        rows = PackedRows(cache, subsample(cache, seed=0), seq_len, mask_documents=True)
        if len(rows) == 0:
            raise SourceError(f"the text ({cache.num_tokens} tokens) is shorter than one row of {seq_len}")
        graphdef, state = nnx.split(model)
        for start in tqdm(range(0, len(rows), batch), desc=f"perplexity ({len(rows)} rows of {seq_len})",
                          unit="batch", dynamic_ncols=True):
            part = [rows[i] for i in range(start, min(start + batch, len(rows)))]
            part += [dict(part[0], loss_mask=np.zeros(seq_len, np.float32))] * (batch - len(part))  # pad the batch
            stacked = {k: np.stack([p[k] for p in part]) for k in part[0]}
            yield _nll(graphdef, state, *(stacked[k] for k in ("inputs", "positions", "segment_ids", "targets",
                                                              "loss_mask")))


def perplexity(settings: PerplexitySettings, context: Context) -> PerplexityResult:
    batches = context.loss_batches() if context.loss_batches else \
        packed_losses(context.model, context.tokenizer, context.documents, settings)
    total = count = 0.0
    with contextlib.closing(batches):  # a generator stopped early cleans up now (its token cache)
        for loss_sum, tokens in itertools.islice(batches, settings.max_batches or None):
            total, count = total + float(loss_sum), count + float(tokens)
    loss = total / max(count, 1.0)
    return PerplexityResult("perplexity", tokens=int(count), loss=loss, perplexity=math.exp(loss))


TASK = Task("perplexity", "perplexity on any source (held-out text, the training corpus)", PerplexitySettings,
            needs="model", reads="text", result=PerplexityResult, run=perplexity)
