"""A Llama-family causal LM (Llama 2, 3, 3.1, 3.2; Mistral; Qwen 2, 2.5, 3; SmolLM2) in Flax NNX.

The families differ by small switches in the config: Qwen 2 adds biases to the q/k/v projections,
Qwen 3 normalizes each head's queries and keys (RMSNorm over head_dim) before the rotation, Mistral
(and Qwen where configured) restricts some or all layers to a sliding window of recent tokens.
Gemma 2 and 3 scale the embeddings by sqrt(hidden), use GeGLU (tanh GELU), norms with scale 1 + w
around both the attention and the MLP, their own query scale, and alternate sliding and global
layers; Gemma 2 soft-caps attention scores and logits (cap * tanh(x / cap)); Gemma 3 normalizes
queries and keys and rotates sliding layers with a base of their own.
Read it top to bottom: the config, the rotary tables, one decoder layer as a plain function, and the
module that holds the parameters. Layers are stacked along a leading `layers` axis and run with
`jax.lax.scan`, so an 80-layer model compiles as fast as a 2-layer one. Every parameter carries its
logical axis names (`sharding.py` maps them onto a mesh); weight conversion lives in `hf.py`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from entigraph_jax.config import ConfigError

from .attention import IMPLEMENTATIONS, cached_attention, causal_attention, softcap, window_mask
from .sharding import constrain_batch

# What each rematerialization setting keeps from the forward pass of a layer for the backward pass.
REMAT_POLICIES = {
    "none": None,  # no remat: keep every activation
    "full": jax.checkpoint_policies.nothing_saveable,  # recompute the whole layer
    "save_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # keep matmul outputs
}


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    """Rotary frequency scaling: "llama3" (Llama 3.1+) or "linear" (position interpolation)."""

    rope_type: str
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """Architecture (as in a Hugging Face config.json) plus how to run it (dtypes, remat)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 4096
    bos_token_id: int | list[int] | None = None
    eos_token_id: int | list[int] | None = None
    param_dtype: str = "float32"
    dtype: str = "bfloat16"  # compute dtype of matmuls and activations
    remat: str = "none"
    attention: str = "auto"  # xla | splash (TPU) | cudnn (GPU) | auto (models/attention.py)
    logits_chunk: int = 0  # the training loss computes logits this many tokens of a row at a time (0: all)
    model_type: str = "llama"  # the Hugging Face family written on export: llama | mistral | qwen2 | qwen3
    attention_bias: bool = False  # q/k/v projections with a bias (Qwen 2)
    qk_norm: bool = False  # RMSNorm of each head's queries and keys before the rotation (Qwen 3)
    sliding_window: int = 0  # tokens a sliding-window layer sees, itself included (0: none)
    layer_types: tuple[str, ...] = ()  # per layer "full_attention" | "sliding_attention" (empty: all full)
    gemma: bool = False  # Gemma's embedding scale, 1 + w norms, GeGLU and norms after attention and MLP
    query_pre_attn_scalar: float = 0.0  # queries are scaled by its -1/2 power (0: head_dim's)
    attn_softcap: float = 0.0  # attention scores soft-capped at this (0: none; Gemma 2: 50)
    final_softcap: float = 0.0  # logits soft-capped at this (0: none; Gemma 2: 30)
    local_rope_theta: float = 0.0  # rotary base of sliding layers (0: rope_theta; Gemma 3: 10000)

    def __post_init__(self):
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"config: model.num_heads={self.num_heads} is not a multiple of model.num_kv_heads={self.num_kv_heads}"
            )
        if self.attention not in IMPLEMENTATIONS:
            raise ConfigError(f"config: model.attention={self.attention!r}; "
                              f"expected one of {', '.join(IMPLEMENTATIONS)}")
        if self.remat not in REMAT_POLICIES:
            raise ConfigError(f"config: model.remat={self.remat!r}; expected one of {sorted(REMAT_POLICIES)}")
        if self.rope_scaling and self.rope_scaling.rope_type not in ("llama3", "linear"):
            raise ConfigError(f"config: unsupported rope scaling {self.rope_scaling.rope_type!r}")
        if self.layer_types and (len(self.layer_types) != self.num_layers
                                 or set(self.layer_types) - {"full_attention", "sliding_attention"}):
            raise ConfigError(f"config: layer_types {self.layer_types} is not one of full_attention / "
                              f"sliding_attention per layer ({self.num_layers} layers)")
        if "sliding_attention" in self.layer_types and self.sliding_window <= 0:
            raise ConfigError("config: sliding_attention layers need sliding_window > 0")

    def sliding_layers(self) -> np.ndarray:
        """Which layers attend within the sliding window [num_layers] bool."""
        return np.asarray([t == "sliding_attention" for t in self.layer_types] or [False] * self.num_layers)

    def num_params(self) -> int:
        d, f, h = self.hidden_size, self.intermediate_size, self.head_dim
        attn = d * h * (2 * self.num_heads + 2 * self.num_kv_heads)
        per_layer = attn + 3 * d * f + 2 * d
        per_layer += (self.num_heads + 2 * self.num_kv_heads) * h if self.attention_bias else 0
        per_layer += 2 * h if self.qk_norm else 0
        per_layer += 2 * d if self.gemma else 0
        head = 0 if self.tie_word_embeddings else d * self.vocab_size
        return self.num_layers * per_layer + self.vocab_size * d + d + head

    def train_flops_per_token(self, seq_len: int) -> float:
        """Model FLOPs of forward + backward per token (PaLM, appendix B): 6 per weight used in a
        matmul (the input embedding is a lookup, not a matmul) plus attention scores and values."""
        matmul_weights = self.num_params() - self.hidden_size * (
            0 if self.tie_word_embeddings else self.vocab_size
        )
        attention = 12 * self.num_layers * self.num_heads * self.head_dim * seq_len
        return 6 * matmul_weights + attention


def rope_frequencies(cfg: LlamaConfig) -> np.ndarray:
    """Inverse frequencies [head_dim // 2], computed in float32 as transformers does."""
    exponents = np.arange(0, cfg.head_dim, 2, dtype=np.int64).astype(np.float32) / cfg.head_dim
    inv_freq = (1.0 / np.float32(cfg.rope_theta) ** exponents).astype(np.float32)
    scaling = cfg.rope_scaling
    if scaling is None:
        return inv_freq
    if scaling.rope_type == "linear":
        return (inv_freq / scaling.factor).astype(np.float32)
    # "llama3": long wavelengths are slowed by `factor`, short ones kept, the band between blended.
    old_len = scaling.original_max_position_embeddings
    low_freq_wavelen = old_len / scaling.low_freq_factor
    high_freq_wavelen = old_len / scaling.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / scaling.factor, inv_freq)
    smooth = (old_len / wavelen - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    blended = (1 - smooth) * scaled / scaling.factor + smooth * scaled
    is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return np.where(is_medium, blended, scaled).astype(np.float32)


def rope_tables(positions: jax.Array, cfg: LlamaConfig) -> tuple[jax.Array, ...]:
    """cos and sin [batch, seq, head_dim] for integer positions [batch, seq]; with a local rotary
    base (Gemma 3), the sliding layers' cos and sin after them."""
    configs = [cfg] + ([dataclasses.replace(cfg, rope_theta=cfg.local_rope_theta, rope_scaling=None)]
                       if cfg.local_rope_theta else [])
    tables = []
    for c in configs:
        angles = positions.astype(jnp.float32)[..., None] * jnp.asarray(rope_frequencies(c))
        angles = jnp.concatenate([angles, angles], axis=-1)
        tables += [jnp.cos(angles), jnp.sin(angles)]
    return tuple(tables)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate [batch, seq, heads, head_dim] by half-dimension pairs (the Hugging Face layout)."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    cos, sin = cos[:, :, None, :].astype(x.dtype), sin[:, :, None, :].astype(x.dtype)
    return x * cos + rotated * sin


def rms_norm(x: jax.Array, weight: jax.Array, eps: float, gemma: bool = False) -> jax.Array:
    """RMSNorm with the statistics in float32 whatever the compute dtype; Gemma's scales by 1 + w,
    in float32 before the cast (as transformers does)."""
    x32 = x.astype(jnp.float32)
    normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    if gemma:
        return (normed * (1.0 + weight.astype(jnp.float32))).astype(x.dtype)
    return weight.astype(x.dtype) * normed.astype(x.dtype)


def dense(x: jax.Array, w: jax.Array, contract: int = 1) -> jax.Array:
    """Contract the last `contract` dims of x with the first of w, as one 2-D matmul in x's dtype.

    XLA:CPU runs the backward pass of a 2-D matmul about twice as fast as that of the equivalent
    3-D einsum, and the reshapes are free (they merge contiguous dims)."""
    lead, inner = x.shape[: x.ndim - contract], x.shape[x.ndim - contract :]
    out = w.shape[contract:]
    y = x.reshape(-1, math.prod(inner)) @ w.astype(x.dtype).reshape(math.prod(inner), -1)
    return y.reshape(*lead, *out)


def decoder_layer(x, w, *, cfg: LlamaConfig, rope, attend):
    """One pre-norm block: attention then SwiGLU MLP, each added to the residual stream.

    `attend(q, k, v, sliding)` returns (attention output, anything to carry out): plain causal
    attention when training, attention over a KV cache (returning the updated cache) when decoding;
    `sliding` (a traced bool) says whether this layer keeps to the sliding window."""
    eps, gemma = cfg.rms_norm_eps, cfg.gemma
    h = rms_norm(x, w["attn_norm"], eps, gemma)
    q, k, v = dense(h, w["q"]), dense(h, w["k"]), dense(h, w["v"])  # [batch, seq, heads, head_dim]
    if cfg.attention_bias:
        q, k, v = q + w["q_bias"].astype(q.dtype), k + w["k_bias"].astype(k.dtype), v + w["v_bias"].astype(v.dtype)
    if cfg.qk_norm:
        q, k = rms_norm(q, w["q_norm"], eps, gemma), rms_norm(k, w["k_norm"], eps, gemma)
    cos, sin = rope[:2]
    if len(rope) == 4:  # a rotary base of their own for sliding layers
        cos, sin = jnp.where(w["sliding"], rope[2], cos), jnp.where(w["sliding"], rope[3], sin)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    attn, carried = attend(q, k, v, w["sliding"])
    attn = dense(attn, w["o"], contract=2)
    x = x + (rms_norm(attn, w["post_attn_norm"], eps, gemma) if gemma else attn)
    h = rms_norm(x, w["mlp_norm"], eps, gemma)
    act = (lambda a: jax.nn.gelu(a, approximate=True)) if gemma else jax.nn.silu
    mlp = dense(act(dense(h, w["gate"])) * dense(h, w["up"]), w["down"])
    return x + (rms_norm(mlp, w["post_mlp_norm"], eps, gemma) if gemma else mlp), carried


class SharedPrefix(NamedTuple):
    """Keys and values [layers, prefix, kv_heads, head_dim] of a prefix every row of a batch shares,
    held once for all rows (`Llama.decode`)."""

    k: jax.Array
    v: jax.Array


class KVCache(NamedTuple):
    """Keys and values of every layer [layers, batch, max_len, kv_heads, head_dim], which slots hold a
    real token [batch, max_len], and the next slot to write."""

    k: jax.Array
    v: jax.Array
    valid: jax.Array
    index: jax.Array

    @classmethod
    def empty(cls, cfg: LlamaConfig, batch: int, max_len: int) -> KVCache:
        shape = (cfg.num_layers, batch, max_len, cfg.num_kv_heads, cfg.head_dim)
        return cls(jnp.zeros(shape, cfg.dtype), jnp.zeros(shape, cfg.dtype),
                   jnp.zeros((batch, max_len), bool), jnp.zeros((), jnp.int32))


def _param(rngs: nnx.Rngs, shape, axes, dtype, init: str = "normal") -> nnx.Param:
    """A parameter with its logical axis names; "normal" is transformers' N(0, 0.02) init."""
    if init in ("ones", "zeros"):
        value = (jnp.ones if init == "ones" else jnp.zeros)(shape, dtype)
    else:
        value = 0.02 * jax.random.normal(rngs.params(), shape, dtype)
    return nnx.Param(value, logical_axes=axes)


class DecoderLayers(nnx.Module):
    """The weights of all decoder layers, stacked along a leading `layers` axis."""

    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        n, d, f, h = cfg.num_layers, cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
        p = functools.partial(_param, rngs, dtype=jnp.dtype(cfg.param_dtype))
        scale = "zeros" if cfg.gemma else "ones"  # a Gemma norm multiplies by 1 + w
        self.attn_norm = p((n, d), ("layers", "embed"), init=scale)
        self.q = p((n, d, cfg.num_heads, h), ("layers", "embed", "heads", "head_dim"))
        self.k = p((n, d, cfg.num_kv_heads, h), ("layers", "embed", "kv_heads", "head_dim"))
        self.v = p((n, d, cfg.num_kv_heads, h), ("layers", "embed", "kv_heads", "head_dim"))
        self.o = p((n, cfg.num_heads, h, d), ("layers", "heads", "head_dim", "embed"))
        self.mlp_norm = p((n, d), ("layers", "embed"), init=scale)
        self.gate = p((n, d, f), ("layers", "embed", "mlp"))
        self.up = p((n, d, f), ("layers", "embed", "mlp"))
        self.down = p((n, f, d), ("layers", "mlp", "embed"))
        names = ["attn_norm", "q", "k", "v", "o", "mlp_norm", "gate", "up", "down"]
        if cfg.attention_bias:
            self.q_bias = p((n, cfg.num_heads, h), ("layers", "heads", "head_dim"), init="zeros")
            self.k_bias = p((n, cfg.num_kv_heads, h), ("layers", "kv_heads", "head_dim"), init="zeros")
            self.v_bias = p((n, cfg.num_kv_heads, h), ("layers", "kv_heads", "head_dim"), init="zeros")
            names += ["q_bias", "k_bias", "v_bias"]
        if cfg.qk_norm:
            self.q_norm = p((n, h), ("layers", "head_dim"), init=scale)
            self.k_norm = p((n, h), ("layers", "head_dim"), init=scale)
            names += ["q_norm", "k_norm"]
        if cfg.gemma:
            self.post_attn_norm = p((n, d), ("layers", "embed"), init=scale)
            self.post_mlp_norm = p((n, d), ("layers", "embed"), init=scale)
            names += ["post_attn_norm", "post_mlp_norm"]
        self.names = tuple(names)
        self.sliding = tuple(bool(b) for b in cfg.sliding_layers())  # not a parameter: a constant per layer

    def stacked(self) -> dict[str, jax.Array]:
        return {name: getattr(self, name)[...] for name in self.names} | {"sliding": jnp.asarray(self.sliding)}


class Llama(nnx.Module):
    """`model(tokens)` on int32 [batch, seq] returns float32 logits [batch, seq, vocab].

    `positions` (default 0..seq-1) and `segment_ids` (default: one document per row) describe
    packed rows: tokens attend only within their own segment, and positions restart per document.
    Under a mesh context (`jax.sharding.use_abstract_mesh`) the residual stream stays batch-sharded.
    """

    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        p = functools.partial(_param, rngs, dtype=jnp.dtype(cfg.param_dtype))
        self.embed = p((cfg.vocab_size, cfg.hidden_size), ("vocab", "embed"))
        self.layers = DecoderLayers(cfg, rngs=rngs)
        self.final_norm = p((cfg.hidden_size,), ("embed",), init="zeros" if cfg.gemma else "ones")
        if not cfg.tie_word_embeddings:
            self.lm_head = p((cfg.hidden_size, cfg.vocab_size), ("embed", "vocab"))

    def __call__(self, tokens, positions=None, segment_ids=None) -> jax.Array:
        cfg = self.config
        x = self.hidden(tokens, positions, segment_ids)
        return softcap(dense(x, self.head()).astype(jnp.float32), cfg.final_softcap)

    def hidden(self, tokens, positions=None, segment_ids=None) -> jax.Array:
        """The normalized last hidden states [batch, seq, embed] that `head()` turns into logits."""
        cfg = self.config
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        rope = rope_tables(positions, cfg)

        def attend(q, k, v, sliding):
            return causal_attention(q, k, v, segment_ids, sliding, cfg), None

        def layer(h, w):
            return decoder_layer(constrain_batch(h), w, cfg=cfg, rope=rope, attend=attend)[0]

        if REMAT_POLICIES[cfg.remat] is not None:
            layer = jax.checkpoint(layer, policy=REMAT_POLICIES[cfg.remat])
        x, _ = jax.lax.scan(lambda h, w: (layer(h, w), None), self._embed(tokens), self.layers.stacked())
        return self.final_hidden(constrain_batch(x))

    def decode(self, tokens, positions, valid, cache: KVCache, shared: SharedPrefix | None = None,
               last: bool = False) -> tuple[jax.Array, KVCache]:
        """Run `tokens` [batch, T] at cache slots index..index+T-1 (T = prompt length to prefill, 1 to
        decode); `valid` marks real tokens (False for left padding). Returns logits (`last`: of the last
        position only) and the cache. With `shared`, every row continues that prefix (held once for
        all rows, before the cache's own slots; not for sliding-window models).

        Layers read the cache without writing it: each attends over (cached keys, its new keys) with
        one softmax, and the new keys and values of all layers are written once at the end, so a
        step moves only what it adds rather than copying the cache."""
        cfg = self.config
        if shared is not None and cfg.sliding_window:
            raise ValueError("a shared prefix is not supported with sliding-window attention")
        rope = rope_tables(positions, cfg)
        length, new = cache.valid.shape[1], tokens.shape[1]
        old_mask = (jnp.arange(length)[None, :] < cache.index) & cache.valid  # [batch, cached slots]
        new_mask = (jnp.arange(new)[None, :] <= jnp.arange(new)[:, None])[None] & valid[:, None, :]
        old_mask = jnp.broadcast_to(old_mask[:, None, :], (old_mask.shape[0], new, length))  # [batch, new, cached]
        query_slots = cache.index + jnp.arange(new)

        def layer(h, xs):
            w, k_cache, v_cache, *prefix = xs

            def attend(q, k, v, sliding):
                old, own, window = old_mask, new_mask, cfg.sliding_window
                if window:
                    old = old & jnp.where(sliding, window_mask(query_slots, jnp.arange(length), window), True)
                    own = own & jnp.where(sliding, window_mask(query_slots, query_slots, window), True)
                return cached_attention(q, k, v, k_cache, v_cache, old, own, cfg, *prefix), (k, v)

            return decoder_layer(h, w, cfg=cfg, rope=rope, attend=attend)

        xs = (self.layers.stacked(), cache.k, cache.v, *(() if shared is None else (shared.k, shared.v)))
        x, (k, v) = jax.lax.scan(layer, self._embed(tokens), xs)
        return self._logits(x[:, -1:] if last else x), self._written(cache, k, v, valid)

    def prefill(self, tokens, positions, valid, cache: KVCache) -> tuple[jax.Array, KVCache]:
        """`decode` of a left-padded prompt into an empty cache, returning only the last position's
        logits [batch, vocab]: the prompt attends only to itself (training's causal attention, with the
        padding as a segment of its own), and the vocabulary projection is one position per row."""
        cfg = self.config
        rope = rope_tables(positions, cfg)
        segments = valid.astype(jnp.int32)

        def layer(h, w):
            def attend(q, k, v, sliding):
                return causal_attention(q, k, v, segments, sliding, cfg), (k, v)

            return decoder_layer(h, w, cfg=cfg, rope=rope, attend=attend)

        x, (k, v) = jax.lax.scan(layer, self._embed(tokens), self.layers.stacked())
        return self._logits(x[:, -1]), self._written(cache, k, v, valid)

    @staticmethod
    def _written(cache: KVCache, k, v, valid) -> KVCache:
        """The cache with every layer's new keys and values [layers, batch, T, ...] written from its index."""
        at = (0, 0, cache.index, 0, 0)
        k = jax.lax.dynamic_update_slice(cache.k, k.astype(cache.k.dtype), at)
        v = jax.lax.dynamic_update_slice(cache.v, v.astype(cache.v.dtype), at)
        valid_all = jax.lax.dynamic_update_slice(cache.valid, valid, (0, cache.index))
        return KVCache(k, v, valid_all, cache.index + valid.shape[1])

    def _embed(self, tokens):
        table = self.embed[...]
        x = jnp.take(table, tokens, axis=0)
        if self.config.gemma:
            x = x * jnp.asarray(self.config.hidden_size**0.5, table.dtype)
        return x.astype(self.config.dtype)

    def final_hidden(self, x):
        return rms_norm(x, self.final_norm[...], self.config.rms_norm_eps, self.config.gemma)

    def head(self) -> jax.Array:
        """The output projection [embed, vocab] (the embedding table, transposed, where tied)."""
        return self.embed[...].T if self.config.tie_word_embeddings else self.lm_head[...]

    def _logits(self, x):
        return softcap(dense(self.final_hidden(x), self.head()).astype(jnp.float32), self.config.final_softcap)
