"""Text embeddings from a Hugging Face embedding checkpoint of a family we load, run by our own forward pass.

Qwen3-Embedding (the SBP paper's embedder) is a Qwen3 model without the LM head: a text is tokenized as
its tokenizer frames it (its post-processor ends every text with `<|endoftext|>`), and the embedding is
the final-norm hidden state of that last token, L2-normalized (the model card's `last_token_pool` and
`F.normalize`). A sentence-transformers folder that names mean pooling (`1_Pooling/config.json`) is
pooled over its tokens instead. Texts longer than `max_tokens` keep their first tokens and the framing's
last one, as the tokenizer's truncation does.

Rows are batched by length (padded on the right to a multiple of 64: causal attention never lets a
padding token reach an earlier one) and spread over the mesh's batch axes; the weights are loaded
sharded by the model's rules, so one model larger than a device runs over the mesh as in training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from entigraph_jax.clients import embedders
from entigraph_jax.clients.settings import EmbedderSettings
from entigraph_jax.data import load_tokenizer

from .hf import CheckpointError, from_pretrained_hf, resolve
from .sharding import ShardingRules, make_mesh

POOLINGS = ("last", "mean")


def pooling_of(path: Path) -> str:
    """The pooling a sentence-transformers folder names (its Pooling module's config), else last-token."""
    config = path / "1_Pooling" / "config.json"
    if not config.is_file():
        return "last"
    modes = json.loads(config.read_text())
    if modes.get("pooling_mode_lasttoken"):
        return "last"
    if modes.get("pooling_mode_mean_tokens"):
        return "mean"
    named = sorted(k for k, v in modes.items() if k.startswith("pooling_mode") and v)
    raise CheckpointError(f"{config}: pooling {', '.join(named) or 'none'} is not supported; "
                          f"expected one of {', '.join(POOLINGS)}")


class ModelEmbedder:
    """`embed(texts) -> float32 [n, hidden]`, unit rows; the interface of `clients.embedders`."""

    def __init__(self, path: str, mesh: Mesh | None = None, dtype: str = "float32", batch: int = 32,
                 max_tokens: int = 8192, rules: ShardingRules = ShardingRules()):
        folder = resolve(path)
        self.name, self.batch, self.max_tokens = f"model:{path}", batch, max_tokens
        self.mesh = mesh or make_mesh(1, -1, 1)
        self.pooling = pooling_of(folder)
        self.tokenizer = load_tokenizer(folder)
        model = from_pretrained_hf(folder, dtype, mesh=self.mesh, rules=rules)
        self.dim = model.config.hidden_size
        self.graphdef, self.state = nnx.split(model)
        self.rows = NamedSharding(self.mesh, PartitionSpec(rules.batch))
        self.multiple = int(np.prod([self.mesh.shape[a] for a in rules.batch if a in self.mesh.shape]))
        self._pool = jax.jit(self._forward, static_argnames=("mean",))

    def _forward(self, state, tokens, segments, mean: bool):
        model = nnx.merge(self.graphdef, state)
        positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        hidden = model.hidden(tokens, positions, segments).astype(jnp.float32)
        mask = segments.astype(jnp.float32)[..., None]
        if mean:
            pooled = (hidden * mask).sum(1) / jnp.maximum(mask.sum(1), 1.0)
        else:  # the hidden state at each row's last real token
            pooled = jnp.take_along_axis(hidden, (segments.sum(1) - 1)[:, None, None], axis=1)[:, 0]
        return pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)

    def framed(self, text: str) -> list[int]:
        ids = self.tokenizer.encode_framed(text)
        return ids if len(ids) <= self.max_tokens else ids[: self.max_tokens - 1] + ids[-1:]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        ids = [self.framed(t) for t in texts]
        order = np.argsort([len(i) for i in ids], kind="stable")  # similar lengths batched together
        out = np.zeros((len(ids), self.dim), np.float32)
        for start in range(0, len(order), self.batch):
            part = order[start : start + self.batch]
            rows = -(-len(part) // self.multiple) * self.multiple
            width = -(-max(len(ids[i]) for i in part) // 64) * 64
            tokens, segments = np.zeros((rows, width), np.int32), np.zeros((rows, width), np.int32)
            for row, i in enumerate(part):
                tokens[row, : len(ids[i])], segments[row, : len(ids[i])] = ids[i], 1
            segments[len(part):, 0] = 1  # padding rows: one token, so their pooling is defined; dropped below
            placed = [jax.device_put(a, self.rows) for a in (tokens, segments)]
            pooled = np.asarray(self._pool(self.state, *placed, mean=self.pooling == "mean"))[: len(part)]
            out[part] = pooled
        return out


def make_embedder(settings: EmbedderSettings, cache_dir: str = ""):
    """Any embedder the settings name: `model` here, the services' (hashing, openai, gemini) from
    `clients.embedders`; cached on disk in `settings.cache_dir` (else `cache_dir`) when one is given."""
    if settings.backend != "model":
        return embedders.make_embedder(settings, cache_dir)
    if not settings.model:
        raise CheckpointError("embedder.model is empty: name the embedding checkpoint (a folder or Hub name)")
    embedder = ModelEmbedder(settings.model, dtype=settings.dtype, batch=settings.batch, max_tokens=settings.max_tokens)
    cache = settings.cache_dir or cache_dir
    return embedders.CachedEmbedder(embedder, cache) if cache else embedder
