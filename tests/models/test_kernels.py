"""Fused attention and lean logits against the plain XLA step they replace.

The splash kernel runs in Pallas interpret mode on CPU (the TPU kernel's own code, interpreted);
lean logits (chunked cross-entropy with a custom VJP) against the whole logits' loss and gradients.
"""

import dataclasses

import jax
import numpy as np
import pytest

from entigraph_jax.config import ConfigError
from entigraph_jax.models import LlamaConfig, ShardingRules, make_mesh
from entigraph_jax.models.attention import choose
from entigraph_jax.train import OptimSettings
from entigraph_jax.train.step import Trainer, loss_sums

SMALL = dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
             head_dim=32, param_dtype="float32", dtype="float32", logits_chunk=0, attention="xla")
OPTIM = OptimSettings(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 1e-4, 1)


def packed_batch(rows: int, seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows of three documents each (segment ids 1, 2, 3; positions restart per document)."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, seq), size=(rows, 2), replace=False), axis=1)
    segments = 1 + (np.arange(seq)[None, :] >= cuts[:, :1]) + (np.arange(seq)[None, :] >= cuts[:, 1:])
    starts = np.where(segments == 1, 0, np.where(segments == 2, cuts[:, :1], cuts[:, 1:]))
    return {"inputs": rng.integers(0, vocab, (rows, seq), dtype=np.int32),
            "targets": rng.integers(0, vocab, (rows, seq), dtype=np.int32),
            "segment_ids": segments.astype(np.int32), "positions": (np.arange(seq) - starts).astype(np.int32),
            "loss_mask": (rng.random((rows, seq)) < 0.8).astype(np.float32)}


def loss_and_grads(cfg: LlamaConfig, batch, mesh_shape=(1, 1, 1)):
    devices = jax.devices()[: int(np.prod(mesh_shape))]
    trainer = Trainer(cfg, OPTIM, 10, make_mesh(*mesh_shape, devices=devices), ShardingRules())
    params = trainer.init_state(0)["params"]

    def objective(p):
        with jax.sharding.use_abstract_mesh(trainer.mesh.abstract_mesh):
            total, count = loss_sums(trainer.graphdef, p, batch, OPTIM.z_loss)
        return total / count

    loss, grads = jax.jit(jax.value_and_grad(objective))(params)
    return float(loss), jax.device_get(grads)


def assert_close(a, b, tol):
    (la, ga), (lb, gb) = a, b
    assert abs(la - lb) <= tol * abs(la)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(ga), jax.tree.leaves(gb), strict=True):
        scale = max(float(np.max(np.abs(x))), 1e-6)
        assert float(np.max(np.abs(x - y))) <= tol * scale, jax.tree_util.keystr(path)


@pytest.mark.parametrize("extra", [{}, dict(tie_word_embeddings=True, final_softcap=5.0)])
def test_lean_logits_equal_whole_logits(extra):
    cfg = LlamaConfig(**SMALL, **extra)
    batch = packed_batch(4, 64, cfg.vocab_size)
    whole = loss_and_grads(cfg, batch)
    lean = loss_and_grads(dataclasses.replace(cfg, logits_chunk=16), batch)
    assert_close(whole, lean, 1e-5)


def test_lean_logits_sharded_equal_unsharded():
    cfg = LlamaConfig(**dict(SMALL, logits_chunk=16))
    batch = packed_batch(4, 64, cfg.vocab_size)
    assert_close(loss_and_grads(cfg, batch), loss_and_grads(cfg, batch, (1, 2, 2)), 1e-5)


@pytest.mark.parametrize("extra", [
    {},  # GQA, packed documents, causal
    # Gemma 2: sliding and global layers, soft-capped scores, its own query scale
    dict(sliding_window=40, layer_types=("sliding_attention", "full_attention"), attn_softcap=20.0,
         query_pre_attn_scalar=24.0),
])
def test_splash_kernel_equals_xla_attention(extra):
    """The Pallas TPU kernel, interpreted on CPU, against XLA attention: loss and every gradient."""
    cfg = LlamaConfig(**dict(SMALL, num_layers=2), **extra)
    batch = packed_batch(2, 128, cfg.vocab_size, seed=1)
    assert_close(loss_and_grads(cfg, batch), loss_and_grads(dataclasses.replace(cfg, attention="splash"), batch), 1e-4)


def test_splash_kernel_sharded_over_batch_and_heads():
    """Under shard_map: rows over fsdp, heads over tensor, the same as the unsharded XLA step."""
    cfg = LlamaConfig(**SMALL)
    batch = packed_batch(4, 128, cfg.vocab_size, seed=2)
    reference = loss_and_grads(cfg, batch)
    assert_close(reference, loss_and_grads(dataclasses.replace(cfg, attention="splash"), batch, (1, 2, 2)), 1e-4)


def test_auto_picks_by_platform_and_refusals_name_the_key():
    cfg = LlamaConfig(**dict(SMALL, attention="auto", dtype="bfloat16"))
    assert choose(cfg, 2048, "cpu") == "xla"
    assert choose(cfg, 2048, "tpu") == "splash"
    assert choose(cfg, 100, "tpu") == "xla"  # the kernel's blocks need multiples of 128
    assert choose(cfg, 2048, "gpu") == "cudnn"
    assert choose(dataclasses.replace(cfg, dtype="float32"), 2048, "gpu") == "xla"  # cuDNN: half precision only
    assert choose(dataclasses.replace(cfg, attn_softcap=50.0), 2048, "gpu") == "xla"
    with pytest.raises(ConfigError, match="model.attention='cudnn': cuDNN attention needs an NVIDIA GPU"):
        choose(dataclasses.replace(cfg, attention="cudnn"), 2048, "cpu")
    with pytest.raises(ConfigError, match="model.attention='splash': the splash kernel needs a sequence length"):
        choose(dataclasses.replace(cfg, attention="splash"), 100, "cpu")
    with pytest.raises(ConfigError, match="model.attention='flash'; expected one of auto, xla, splash, cudnn"):
        LlamaConfig(**dict(SMALL, attention="flash"))
