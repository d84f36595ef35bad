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

from ..task import Context, Result, Row, Task
from ..uncertainty import Units, interval


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
    documents: int | None = None  # documents scored (None: a training hook's batches, not told apart)
    interval: list[float] | None = None  # the perplexity's 95% interval, documents resampled

    def figures(self, split: str = "all") -> dict:
        return {"perplexity": self.perplexity, "loss": self.loss, "tokens": self.tokens, "documents": self.documents,
                "interval": self.interval}

    def rows(self) -> dict[str, Row]:
        return {"perplexity": Row(self.perplexity, self.documents, self.interval)}

    def units(self) -> dict[str, Units]:
        scored = self.details.get("documents", [])
        return {"perplexity": document_units(scored)} if scored else {}


def document_units(scored: list[dict]) -> Units:
    """Documents as the units of a perplexity: exp(summed loss / tokens), lower is better."""
    ids = tuple(d["doc_id"] for d in scored)
    return Units(ids, ids, tuple(d["loss"] for d in scored), tuple(float(d["tokens"]) for d in scored),
                 transform="exp", higher_is_better=False)


@functools.partial(jax.jit, static_argnums=0)
def _nll(graphdef, state, tokens, positions, segments, targets, mask):
    """The negative log-likelihood of every masked target (0 elsewhere); compiled once per model shape and
    batch, not once per call."""
    logp = jax.nn.log_softmax(nnx.merge(graphdef, state)(tokens, positions, segments), axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0] * mask


def packed_losses(model, tokenizer, docs: list[Document],
                  settings: PerplexitySettings) -> Iterator[tuple[float, float, np.ndarray, np.ndarray]]:
    """Of each batch of `docs` packed into rows of `settings.seq_len`: (summed loss, target tokens, and per
    document of `docs` its summed loss and its target tokens in the batch)."""
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
            # the document of every target: the stream position after the input's
            owners = [rows.order[np.searchsorted(rows.starts, np.arange(1, seq_len + 1) + i * seq_len, side="right")
                                 - 1] for i in range(start, start + len(part))]
            part += [dict(part[0], loss_mask=np.zeros(seq_len, np.float32))] * (batch - len(part))  # pad the batch
            stacked = {k: np.stack([p[k] for p in part]) for k in part[0]}
            nll = np.asarray(_nll(graphdef, state, *(stacked[k] for k in ("inputs", "positions", "segment_ids",
                                                                          "targets", "loss_mask"))))
            mask = stacked["loss_mask"][: len(owners)]
            loss, tokens = np.zeros(len(docs)), np.zeros(len(docs))
            np.add.at(loss, np.concatenate(owners), nll[: len(owners)].ravel())
            np.add.at(tokens, np.concatenate(owners), mask.ravel())
            yield float(nll.sum()), float(mask.sum()), loss, tokens


def perplexity(settings: PerplexitySettings, context: Context) -> PerplexityResult:
    """The command packs the documents itself and scores each apart (an interval over documents); a training
    hook scores the run's own batches."""
    docs = context.documents if context.loss_batches is None else []
    batches = context.loss_batches() if context.loss_batches else \
        packed_losses(context.model, context.tokenizer, docs, settings)
    total = count = 0.0
    by_loss, by_tokens = np.zeros(len(docs)), np.zeros(len(docs))
    with contextlib.closing(batches):  # a generator stopped early cleans up now (its token cache)
        for loss_sum, tokens, *by_document in itertools.islice(batches, settings.max_batches or None):
            total, count = total + float(loss_sum), count + float(tokens)
            if by_document:
                by_loss, by_tokens = by_loss + by_document[0], by_tokens + by_document[1]
    loss = total / max(count, 1.0)
    scored = [{"doc_id": d.doc_id, "loss": float(s), "tokens": int(n)}
              for d, s, n in zip(docs, by_loss, by_tokens, strict=True) if n]
    return PerplexityResult("perplexity", tokens=int(count), loss=loss, perplexity=math.exp(loss),
                            documents=len(scored) or None,
                            interval=interval(document_units(scored)) if scored else None,
                            details={"documents": scored} if scored else {})


TASK = Task("perplexity", "perplexity on any source (held-out text, the training corpus)", PerplexitySettings,
            needs="model", reads="text", result=PerplexityResult, run=perplexity)
