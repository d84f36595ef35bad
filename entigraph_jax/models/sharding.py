"""Logical axis names -> mesh axes.

Parameters name their axes logically (`embed`, `heads`, `kv_heads`, `head_dim`, `mlp`, `vocab`,
`layers`); a `ShardingRules` table maps each onto axes of a (data, fsdp, tensor) mesh. The trainer
and the loaders shard through these rules and never look inside the model.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MeshAxes = str | tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class ShardingRules:
    """FSDP over `fsdp`, Megatron-style tensor parallelism over `tensor`, batch over both data axes."""

    batch: MeshAxes = ("data", "fsdp")
    embed: MeshAxes = "fsdp"
    vocab: MeshAxes = "tensor"
    heads: MeshAxes = "tensor"
    kv_heads: MeshAxes = "tensor"
    head_dim: MeshAxes = None
    mlp: MeshAxes = "tensor"
    layers: MeshAxes = None

    def spec(self, logical_axes: tuple[str, ...], shape: tuple[int, ...], mesh: Mesh) -> PartitionSpec:
        """The PartitionSpec for an array; a dimension a mesh axis does not divide stays whole."""
        entries = []
        for name, dim in zip(logical_axes, shape, strict=True):
            axes = getattr(self, name)
            axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
            axes = tuple(a for a in axes if a in mesh.shape)
            size = math.prod(mesh.shape[a] for a in axes)
            entries.append(axes if axes and dim % size == 0 else None)
        return PartitionSpec(*entries)


def constrain_batch(x: jax.Array, axes: MeshAxes = ShardingRules.batch) -> jax.Array:
    """Pin dim 0 of an activation to the batch axes of the mesh in context (a no-op without one).

    Without this XLA's partitioner is free to all-gather a batch-sharded activation rather than a
    weight when the weight is the larger of the two (small models, or FSDP-sharded embeddings), and
    then every device holds every row's activations."""
    mesh = jax.sharding.get_abstract_mesh()
    axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
    axes = tuple(a for a in axes if a in mesh.axis_names)
    if mesh.empty or not axes:
        return x
    return jax.lax.with_sharding_constraint(x, PartitionSpec(axes))


def make_mesh(data: int = 1, fsdp: int = -1, tensor: int = 1, devices=None) -> Mesh:
    """A (data, fsdp, tensor) mesh over `devices` (default: all); one size may be -1 to fill."""
    devices = np.asarray(jax.devices() if devices is None else devices)
    sizes = [data, fsdp, tensor]
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"mesh (data, fsdp, tensor) = {tuple(sizes)}: sizes must be positive, "
                         f"with at most one -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        sizes[sizes.index(-1)] = devices.size // known if devices.size % known == 0 else 0
    if math.prod(sizes) != devices.size:
        raise ValueError(
            f"mesh (data, fsdp, tensor) = ({data}, {fsdp}, {tensor}) is impossible on {devices.size} devices"
        )
    return Mesh(devices.reshape(sizes), ("data", "fsdp", "tensor"), axis_types=(AxisType.Auto,) * 3)


def param_sharding(var: nnx.Variable, mesh: Mesh, rules: ShardingRules) -> NamedSharding:
    """Where a (possibly abstract) parameter lives on `mesh`, from its logical axis names."""
    spec = rules.spec(var.get_metadata()["logical_axes"], var.get_value().shape, mesh)
    return NamedSharding(mesh, spec)


def param_shardings(state: nnx.State, mesh: Mesh, rules: ShardingRules):
    """A NamedSharding for every parameter of a model's state, in the state's tree structure."""
    return jax.tree.map(
        lambda var: param_sharding(var, mesh, rules),
        state,
        is_leaf=lambda x: isinstance(x, nnx.Variable),
    )
