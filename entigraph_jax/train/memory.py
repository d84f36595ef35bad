"""Per-device memory of a train step: an estimate by parts, and XLA's figure for the compiled step.

The estimate counts what the step holds on one device: parameters, optimizer state and the batch
exactly (from their shardings), gradients as a multiple of the parameters, and activations as
elements per token that each remat policy keeps live at the peak of the backward pass:

    kept for every layer:   L * (a * embed + b * mlp + c * heads x seq)
    plus the larger of      d * embed + e * mlp + f * heads x seq   (the layer being differentiated)
                    and     g * vocab                               (logits and their gradient)

with mlp, heads and vocab divided by the tensor axis where the rules shard them, tokens divided by
the batch axes, and bytes per element of the compute dtype. The coefficients were fitted to XLA's
buffer assignment (`memory_analysis()`) of this step over a grid of small models;
`benchmarks/plan_calibration.py` refits them and reports the error on configs outside the grid.
Attention is the XLA implementation, which materializes heads x seq x seq scores; a fused (cuDNN
or Pallas) kernel keeps less.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding

from .step import BATCH_KEYS, Trainer

# remat -> (gradients per parameter byte, (a, b, c), (d, e, f), g); see the module docstring
ACTIVATION_COEFFICIENTS = {
    "none": (0.92, (15.54, 5.22, 2.08), (16.40, 6.22, 1.35), 1.90),
    "full": (0.91, (0.0, 0.30, 0.0), (25.66, 4.82, 2.88), 1.88),
    "save_dots": (0.98, (4.80, 1.69, 0.03), (10.45, 2.29, 3.53), 1.87),
}
GiB = 2**30


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes on one device, by part."""

    parameters: int
    optimizer_state: int
    batch: int
    gradients: int
    activations: int

    @property
    def total(self) -> int:
        return self.parameters + self.optimizer_state + self.batch + self.gradients + self.activations


@dataclasses.dataclass(frozen=True)
class CompiledMemory:
    """XLA's buffer assignment for one device: inputs (state, batch) and temporaries; the outputs
    reuse the donated inputs' buffers."""

    arguments: int
    temporaries: int

    @property
    def total(self) -> int:
        return self.arguments + self.temporaries


def abstract_batch(trainer: Trainer, global_batch: int, seq_len: int) -> dict[str, jax.ShapeDtypeStruct]:
    """The batch the step takes, as shapes with the trainer's batch sharding; nothing allocated."""
    dtypes = {"loss_mask": jnp.float32}
    return {k: jax.ShapeDtypeStruct((global_batch, seq_len), dtypes.get(k, jnp.int32),
                                    sharding=trainer.batch_sharding) for k in BATCH_KEYS}


def per_device_bytes(tree) -> int:
    """Bytes one device holds of a pytree of sharded abstract arrays (the largest shard of each)."""
    def shard_bytes(x):
        shape = x.sharding.shard_shape(x.shape) if isinstance(x.sharding, NamedSharding) else x.shape
        return math.prod(shape) * jnp.dtype(x.dtype).itemsize

    return sum(shard_bytes(x) for x in jax.tree.leaves(tree))


def _per_device(trainer: Trainer, logical: str, size: int) -> float:
    """`size` over the mesh axes the rules shard the logical axis on (whole where they do not divide)."""
    axes = trainer.rules.spec((logical,), (size,), trainer.mesh)[0] or ()
    return size / math.prod(trainer.mesh.shape[a] for a in ((axes,) if isinstance(axes, str) else axes))


def estimate(trainer: Trainer, global_batch: int, seq_len: int, coefficients=None) -> MemoryEstimate:
    """The per-device estimate for one step of `trainer` on batches of global_batch x seq_len, with
    the remat policy's ACTIVATION_COEFFICIENTS unless others are given (calibration)."""
    cfg = trainer.model_config
    state = trainer.abstract_state
    params = per_device_bytes(state["params"])
    grads, per_layer, working, per_vocab = coefficients or ACTIVATION_COEFFICIENTS[cfg.remat]
    rows = _per_device(trainer, "batch", global_batch // trainer.optim.microbatches)
    sizes = (cfg.hidden_size, _per_device(trainer, "mlp", cfg.intermediate_size),
             _per_device(trainer, "heads", cfg.num_heads) * seq_len)
    elements = (cfg.num_layers * sum(c * s for c, s in zip(per_layer, sizes, strict=True))
                + max(sum(c * s for c, s in zip(working, sizes, strict=True)),
                      per_vocab * _per_device(trainer, "vocab", cfg.vocab_size)))
    activations = rows * seq_len * elements * jnp.dtype(cfg.dtype).itemsize
    return MemoryEstimate(
        parameters=params, optimizer_state=per_device_bytes(state["opt_state"]),
        batch=per_device_bytes(abstract_batch(trainer, global_batch, seq_len)),
        gradients=round(grads * params), activations=round(activations))


def compiled(trainer: Trainer, global_batch: int, seq_len: int) -> CompiledMemory:
    """Lower and compile the step on abstract inputs (no arrays are allocated) and read XLA's
    per-device memory figures."""
    lowered = trainer.step.lower(trainer.abstract_state, abstract_batch(trainer, global_batch, seq_len))
    analysis = lowered.compile().memory_analysis()
    return CompiledMemory(arguments=analysis.argument_size_in_bytes, temporaries=analysis.temp_size_in_bytes)
