"""Per-device memory of a train step: an estimate by parts, and the compiler's figure for the compiled step.

The estimate counts what the step holds on one device: parameters, optimizer state and the batch
exactly (from their shardings), gradients as a multiple of the parameters, and activations as
elements per token that each remat policy keeps live at the peak of the backward pass:

    kept for every layer:   L * (a * embed + b * mlp + c * heads x seq)
    plus the larger of      d * embed + e * mlp + f * heads x seq   (the layer being differentiated)
                    and     g * vocab * chunk / seq                 (logits and their gradient, in chunks)
                     or     g' * vocab                              (the same, the whole row at once)

plus h times one layer's parameter bytes over the tensor axis (FSDP gathers a layer's weights whole
for its matmuls, and its gradient before the reduce-scatter),

with mlp, heads and vocab divided by the tensor axis where the rules shard them, tokens divided by
the batch axes, bytes per element of the compute dtype, and chunk the tokens of a row whose logits
exist at once (`model.logits_chunk`; without it the loss is another computation, with its own g').
There is one set of coefficients per
remat policy and attention family: XLA attention materializes heads x seq x seq scores, a fused
kernel (splash, cuDNN) does not. They were fitted to the TPU compiler's buffer assignment
(`memory_analysis()` of the step compiled for a v5p chip by libtpu) over a grid of small bfloat16
models; `benchmarks/plan_calibration.py` refits them and reports the error on the paper's recipes.
"""

from __future__ import annotations

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding

from entigraph_jax.models.attention import choose

from .step import BATCH_KEYS, Trainer

# (remat, attention: xla | fused) -> (gradients per parameter byte, (a, b, c), (d, e, f), g, g', gathered
# layers); see the module docstring
ACTIVATION_COEFFICIENTS = {
    ("none", "xla"): (1.0, (14.83, 0.0, 4.13), (0.2, 4.98, 1.83), 6.53, 5.01, 5.78),
    ("none", "fused"): (1.91, (12.68, 0.0, 0.73), (0.02, 0.0, 4.71), 6.52, 4.04, 4.07),
    ("full", "xla"): (1.59, (2.7, 0.0, 0.0), (4.35, 0.18, 4.05), 4.68, 3.18, 1.2),
    ("full", "fused"): (1.0, (1.73, 0.13, 0.0), (0.84, 1.44, 2.44), 3.96, 2.8, 2.93),
    ("save_dots", "xla"): (1.0, (5.67, 1.75, 0.29), (33.08, 0.98, 1.69), 4.25, 2.81, 3.3),
    ("save_dots", "fused"): (1.0, (7.2, 0.0, 0.42), (0.01, 3.13, 2.13), 4.07, 2.8, 3.83),
}
GiB = 2**30
# how far below the TPU compiler's figure the estimate fell at worst on the paper's recipes at full depth
# (9.7%, benchmarks/plan_calibration.py), rounded up; a verdict from the estimate alone keeps this margin
# (above it, an over-estimate only costs headroom: at worst +12.7%, the 3B recipe with whole-row logits)
ESTIMATE_ERROR = 0.10


def fits_by_estimate(estimated: float, memory: float) -> bool:
    """Whether an estimated need fits `memory` even if the estimate is as low as it has been."""
    return estimated * (1 + ESTIMATE_ERROR) <= memory


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes on one device, by part."""

    parameters: int
    optimizer_state: int
    batch: int
    gradients: int  # and the optimizer update's temporaries
    gathered_layer: int  # a layer's weights (and their gradients) gathered whole for its turn
    activations: int

    @property
    def total(self) -> int:
        return (self.parameters + self.optimizer_state + self.batch + self.gradients + self.gathered_layer
                + self.activations)


@dataclasses.dataclass(frozen=True)
class CompiledMemory:
    """The compiler's buffer assignment for one device: inputs (state, batch), temporaries, and the
    outputs not written into donated inputs' buffers."""

    arguments: int
    temporaries: int
    outputs: int = 0  # beyond the donated (aliased) inputs
    out_of_memory: bool = False  # the compiler gave up: the temporaries alone exceed the device

    @property
    def total(self) -> int:
        return self.arguments + self.temporaries + self.outputs


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
    fused = choose(cfg, seq_len, trainer.mesh.devices.flat[0].platform) != "xla"
    family = "fused" if fused else "xla"
    grads, per_layer, working, chunked, whole, gathered = coefficients or ACTIVATION_COEFFICIENTS[cfg.remat, family]
    per_vocab = chunked * min(cfg.logits_chunk, seq_len) / seq_len if cfg.logits_chunk else whole
    rows = _per_device(trainer, "batch", global_batch // trainer.optim.microbatches)
    sizes = (cfg.hidden_size, _per_device(trainer, "mlp", cfg.intermediate_size),
             _per_device(trainer, "heads", cfg.num_heads) * seq_len)
    elements = (cfg.num_layers * sum(c * s for c, s in zip(per_layer, sizes, strict=True))
                + max(sum(c * s for c, s in zip(working, sizes, strict=True)),
                      per_vocab * _per_device(trainer, "vocab", cfg.vocab_size)))
    activations = rows * seq_len * elements * jnp.dtype(cfg.dtype).itemsize
    # one layer's weights whole over the FSDP axis (gathered for its matmuls and their gradients)
    layer = sum(math.prod(x.shape[1:]) for x in jax.tree.leaves(state["params"]["layers"]))
    layer_bytes = layer / trainer.mesh.shape.get("tensor", 1) * jnp.dtype(cfg.param_dtype).itemsize
    return MemoryEstimate(
        parameters=params, optimizer_state=per_device_bytes(state["opt_state"]),
        batch=per_device_bytes(abstract_batch(trainer, global_batch, seq_len)),
        gradients=round(grads * params), gathered_layer=round(gathered * layer_bytes),
        activations=round(activations))


def compiled(trainer: Trainer, global_batch: int, seq_len: int) -> CompiledMemory:
    """Lower and compile the step on abstract inputs (no arrays are allocated) and read XLA's
    per-device memory figures."""
    batch = abstract_batch(trainer, global_batch, seq_len)
    lowered = trainer.step.lower(trainer.abstract_state, batch)
    try:
        analysis = lowered.compile().memory_analysis()
    except jax.errors.JaxRuntimeError as e:
        # the TPU compiler refuses a step that cannot fit and says what its temporaries need
        found = re.search(r"RESOURCE_EXHAUSTED.*?required for HLO temporaries \(([\d.]+)([KMGT]?)\)", str(e))
        if not found:
            raise
        temporaries = float(found[1]) * 1024 ** " KMGT".index(found[2] or " ")
        return CompiledMemory(arguments=per_device_bytes(trainer.abstract_state) + per_device_bytes(batch),
                              temporaries=round(temporaries), out_of_memory=True)
    return CompiledMemory(arguments=analysis.argument_size_in_bytes, temporaries=analysis.temp_size_in_bytes,
                          outputs=max(0, analysis.output_size_in_bytes - analysis.alias_size_in_bytes))
