"""Causal self-attention over packed rows, for training and scoring: `model.attention` picks how.

- `xla`: scores as an einsum, softmax, values; materializes heads x seq x seq scores per row.
- `splash`: the Pallas splash-attention kernel for TPU (`jax.experimental.pallas.ops.tpu`), blockwise
  with the causal (or sliding-window) mask and segment ids, nothing quadratic kept. It runs per
  device under `shard_map` (rows over the batch axes, heads over the tensor axis). On CPU it runs in
  Pallas interpret mode, which is slow and only for tests.
- `cudnn`: cuDNN's flash attention on NVIDIA GPUs (`jax.nn.dot_product_attention(...,
  implementation="cudnn")`), bfloat16 or float16 only, no soft-capping.
- `auto`: splash on TPU, cuDNN on GPU where it applies, XLA otherwise.

The platform is the mesh's in context (so a step compiled for a TPU topology on a CPU host gets the
TPU kernel), else JAX's default backend.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from entigraph_jax.config import ConfigError

from .sharding import ShardingRules

IMPLEMENTATIONS = ("auto", "xla", "splash", "cudnn")


def platform() -> str:
    mesh = jax.sharding.get_abstract_mesh()
    device = None if mesh.empty else mesh.abstract_device
    name = device.platform if device is not None else jax.default_backend()
    return "gpu" if name == "cuda" else name


def splash_block(seq_len: int) -> int:
    """The splash kernel's query and key block: 512 (MaxText's), or 256 or 128 where that divides the
    row and 512 does not (0: none does)."""
    return next((block for block in (512, 256, 128) if seq_len % block == 0), 0)


def why_not(name: str, cfg, seq_len: int, on: str) -> str | None:
    """Why implementation `name` cannot run this model on platform `on` (None: it can). `cfg` needs
    dtype, attn_softcap and head_dim; a field that is None is not checked."""
    if name == "splash":
        if on == "gpu":
            return "the splash kernel is for TPU (use cudnn or xla on GPU)"
        if not splash_block(seq_len):
            return f"the splash kernel needs a sequence length that is a multiple of 128 (got {seq_len})"
    if name == "cudnn":
        if on != "gpu":
            return f"cuDNN attention needs an NVIDIA GPU (the platform is {on})"
        if cfg.dtype not in ("bfloat16", "float16"):
            return f"cuDNN attention needs model.dtype bfloat16 or float16 (got {cfg.dtype})"
        if cfg.attn_softcap:
            return "cuDNN attention has no score soft-capping (Gemma 2)"
        if cfg.head_dim is not None and (cfg.head_dim % 8 or cfg.head_dim > 256):
            return f"cuDNN attention needs head_dim a multiple of 8 up to 256 (got {cfg.head_dim})"
    return None


def choose(cfg, seq_len: int, on: str | None = None) -> str:
    """The implementation `cfg.attention` (one of IMPLEMENTATIONS) means for rows of seq_len on this
    platform; an implementation the platform or model cannot run is a `ConfigError`."""
    on = on or platform()
    if cfg.attention == "auto":
        preferred = {"tpu": "splash", "gpu": "cudnn"}.get(on, "xla")
        return preferred if why_not(preferred, cfg, seq_len, on) is None else "xla"
    reason = why_not(cfg.attention, cfg, seq_len, on)
    if reason:
        raise ConfigError(f"config: model.attention={cfg.attention!r}: {reason}")
    return cfg.attention


def query_scale(cfg) -> float:
    return (cfg.query_pre_attn_scalar or cfg.head_dim) ** -0.5


def softcap(x: jax.Array, cap: float) -> jax.Array:
    return cap * jnp.tanh(x / cap) if cap else x


def segment_mask(segment_ids: jax.Array | None) -> jax.Array | None:
    """[batch, 1, seq, seq] mask keeping attention inside each packed document."""
    if segment_ids is None:
        return None
    return segment_ids[:, None, :, None] == segment_ids[:, None, None, :]


def window_mask(query_slots: jax.Array, key_slots: jax.Array, window: int) -> jax.Array:
    """[queries, keys]: the key is one of the `window` most recent tokens up to the query (slots are
    consecutive token indices, so their distance is the distance in positions)."""
    return (query_slots[:, None] - key_slots[None, :]) < window


def cached_attention(q, k, v, k_cache, v_cache, old_mask, new_mask, cfg, shared_k=None, shared_v=None):
    """Softmax attention of q [b, t, heads, d] over cached keys [b, s, kv_heads, d] (allowed where
    old_mask [b, t, s]) and the step's own keys [b, t, kv_heads, d] (allowed where new_mask [b, t, t]),
    with the config's query scale and score soft-cap. With an empty cache it is plain attention.

    `shared_k`, `shared_v` [p, kv_heads, d]: a prefix every row has (a few-shot block), attended by all
    and held once rather than per row, so a step reads it once for the whole batch."""
    b, t, heads, d = q.shape
    kv_heads = k.shape[2]
    q = q.reshape(b, t, kv_heads, heads // kv_heads, d) * query_scale(cfg)
    old = softcap(jnp.einsum("btkgd,bskd->bkgts", q, k_cache.astype(q.dtype)).astype(jnp.float32), cfg.attn_softcap)
    own = softcap(jnp.einsum("btkgd,bskd->bkgts", q, k).astype(jnp.float32), cfg.attn_softcap)
    # a finite floor, not -inf: a row with nothing to attend to (left padding) stays finite, so no
    # NaN reaches the cache, where 0 * NaN would poison the rows that do attend to it
    old = jnp.where(old_mask[:, None, None, :, :], old, -1e30)
    own = jnp.where(new_mask[:, None, None, :, :], own, -1e30)
    parts = [old, own]
    if shared_k is not None:
        parts.insert(0, softcap(jnp.einsum("btkgd,pkd->bkgtp", q, shared_k.astype(q.dtype)).astype(jnp.float32),
                                cfg.attn_softcap))
    probs = jax.nn.softmax(jnp.concatenate(parts, axis=-1), axis=-1).astype(q.dtype)
    p = 0 if shared_k is None else shared_k.shape[0]
    s = k_cache.shape[1]
    out = (jnp.einsum("bkgts,bskd->btkgd", probs[..., p:p + s], v_cache.astype(q.dtype))
           + jnp.einsum("bkgts,bskd->btkgd", probs[..., p + s:], v))
    if shared_k is not None:
        out = out + jnp.einsum("bkgtp,pkd->btkgd", probs[..., :p], shared_v.astype(q.dtype))
    return out.reshape(b, t, heads, d)


def causal_attention(q, k, v, segment_ids, sliding, cfg):
    """Attention of q [b, t, heads, d] over k, v [b, t, kv_heads, d] of the same rows: causal, within
    each segment (None: one document per row), and within the sliding window where `sliding` (a
    traced per-layer bool) says."""
    impl = choose(cfg, q.shape[1])
    if impl == "cudnn":
        return _cudnn(q, k, v, segment_ids, sliding, cfg)
    if impl == "splash":
        return _splash(q, k, v, segment_ids, sliding, cfg)
    slots = jnp.arange(q.shape[1])
    allowed = segment_mask(segment_ids)
    if cfg.sliding_window:
        window = jnp.where(sliding, window_mask(slots, slots, cfg.sliding_window), True)[None, None]
        allowed = window if allowed is None else allowed & window
    if cfg.attn_softcap:  # jax.nn's attention has no soft cap: attention over an empty cache
        causal = (slots[None, :] <= slots[:, None])[None]
        causal = causal if allowed is None else causal & allowed[:, 0]
        empty = jnp.zeros((k.shape[0], 0, *k.shape[2:]), k.dtype)
        none = jnp.zeros((q.shape[0], q.shape[1], 0), bool)
        return cached_attention(q, k, v, empty, empty, none, causal, cfg)
    return jax.nn.dot_product_attention(q, k, v, mask=allowed, is_causal=True, scale=query_scale(cfg))


def _by_window(sliding, cfg, attend):
    """attend(window) with the sliding window on sliding layers and none (0) elsewhere."""
    if not cfg.sliding_window:
        return attend(0)
    return jax.lax.cond(sliding, lambda: attend(cfg.sliding_window), lambda: attend(0))


def _cudnn(q, k, v, segment_ids, sliding, cfg):
    mask = segment_mask(segment_ids)

    def attend(window):
        return jax.nn.dot_product_attention(
            q, k, v, mask=mask, is_causal=True, scale=query_scale(cfg), implementation="cudnn",
            local_window_size=(window - 1, 0) if window else None)

    return _by_window(sliding, cfg, attend)


def _splash_kernel(heads: int, seq_len: int, window: int, softcap: float, interpret: bool):
    from jax.experimental.pallas.ops.tpu import splash_attention as splash

    if window:
        one = splash.LocalMask((seq_len, seq_len), window_size=(window - 1, 0), offset=0)
    else:
        one = splash.CausalMask((seq_len, seq_len))
    block = splash_block(seq_len)
    sizes = splash.BlockSizes(block_q=block, block_kv_compute=block, block_kv=block, block_q_dkv=block,
                              block_kv_dkv=block, block_kv_dkv_compute=block, block_q_dq=block, block_kv_dq=block)
    return splash.make_splash_mha(splash.MultiHeadMask([one] * heads), block_sizes=sizes, head_shards=1,
                                  q_seq_shards=1, attn_logits_soft_cap=softcap or None, interpret=interpret)


def _mesh_axes(names, size: int, mesh) -> tuple[str, ...] | None:
    names = (names,) if isinstance(names, str) else tuple(names or ())
    axes = tuple(a for a in names if a in mesh.axis_names)
    return axes if axes and size % int(np.prod([mesh.shape[a] for a in axes])) == 0 else None


def _splash(q, k, v, segment_ids, sliding, cfg):
    from jax.experimental.pallas.ops.tpu.splash_attention import SegmentIds

    b, t = q.shape[:2]
    interpret = platform() != "tpu"
    if segment_ids is None:
        segment_ids = jnp.zeros((b, t), jnp.int32)

    def local(q, k, v, segments, sliding):
        # the kernel takes one row as [heads, seq, head_dim] and does not scale the queries
        q = (q * query_scale(cfg)).astype(q.dtype)
        q, k, v = (x.transpose(0, 2, 1, 3) for x in (q, k, v))

        def attend(window):
            kernel = _splash_kernel(q.shape[1], t, window, cfg.attn_softcap, interpret)
            return jax.vmap(kernel)(q, k, v, segment_ids=SegmentIds(segments, segments))

        return _by_window(sliding, cfg, attend).transpose(0, 2, 1, 3)

    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return local(q, k, v, segment_ids, sliding)
    rules = ShardingRules()
    rows = _mesh_axes(rules.batch, b, mesh)
    heads = _mesh_axes(rules.heads, cfg.num_kv_heads, mesh) and _mesh_axes(rules.heads, cfg.num_heads, mesh)
    spec = PartitionSpec(rows, None, heads, None)
    return jax.shard_map(local, mesh=mesh, in_specs=(spec, spec, spec, PartitionSpec(rows, None), PartitionSpec()),
                         out_specs=spec, check_vma=False)(q, k, v, segment_ids, sliding)
