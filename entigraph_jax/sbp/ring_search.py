"""Exact nearest neighbours with the embeddings sharded over every device: a ring of key shards.

Each device holds one shard of the rows as its queries and, in turn, every shard as keys: at each of
the mesh's P steps it scores its queries against the key shard it holds, one query block x key block
of scores at a time, folds them into its running top-k, and passes the key shard on to its neighbour
(`ppermute`). A device never holds more than three shards (its own, the visiting one and the next
arriving), its top-k lists and one block of scores, whatever the corpus; the P steps together are the
exact all-pairs search.

Ties are broken by the lower key id, as `mine.exact_neighbours` does (its `merge_top_k` is the fold
both use), so the sharded lists equal the unsharded ones whatever order the shards visit in.
`plan` lowers the search for a TPU slice on abstract embeddings (nothing allocated): `sbp plan`'s
memory per chip at the paper's scale, and its hours at an assumed utilization.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from entigraph_jax.train.hardware import TPU_EXTRA, has_tpu_compiler, lookup, tpu_devices
from entigraph_jax.train.memory import GiB
from entigraph_jax.train.plan import ASSUMED_MFU

from .neighbours import merge_top_k, normalize

AXIS = "rows"


def ring_mesh(devices=None) -> Mesh:
    """A one-axis mesh over `devices` (default: all of JAX's, each process's together)."""
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id)) if devices is None else devices
    return Mesh(np.asarray(devices), (AXIS,))


def shard_shape(rows: int, devices: int, block: int) -> tuple[int, int]:
    """(the block, each device's shard of the rows in whole blocks): a block no larger than a device's share."""
    block = min(block, math.ceil(rows / devices))
    return block, math.ceil(rows / (devices * block)) * block


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the rows of a search over `mesh` live: every device a shard of `per_device` rows (whole blocks);
    this process's devices, consecutive in the mesh, hold the corpus's rows [start, stop)."""

    rows: int
    block: int
    per_device: int
    start: int
    stop: int

    @classmethod
    def of(cls, rows: int, block: int, mesh: Mesh) -> Layout:
        block, per_device = shard_shape(rows, mesh.devices.size, block)
        own = [i for i, d in enumerate(mesh.devices.flat) if d.process_index == jax.process_index()]
        if own != list(range(own[0], own[-1] + 1)):
            raise ValueError("the ring's mesh must hold each process's devices together")
        return cls(rows, block, per_device, min(own[0] * per_device, rows), min((own[-1] + 1) * per_device, rows))


@functools.lru_cache(maxsize=8)
def _search(mesh: Mesh, per_device: int, k: int, block: int, num_rows: int):
    """The jitted, sharded search over [devices x per_device, dim] vectors, rows over the ring."""
    devices = mesh.devices.size
    blocks = per_device // block
    spec = PartitionSpec(AXIS)

    def local(vectors):  # [per_device, dim]: this device's shard
        me = jax.lax.axis_index(AXIS)
        best_scores = jnp.full((per_device, k), -jnp.inf, jnp.float32)
        best_ids = jnp.full((per_device, k), -1, jnp.int32)

        def visit(step, carry):
            keys, best_scores, best_ids = carry
            owner = (me + step) % devices  # the shard held at this step: each device passes its keys down

            def query_block(q, best):
                best_scores, best_ids = best
                start = q * block
                queries = jax.lax.dynamic_slice_in_dim(vectors, start, block)
                scores = jax.lax.dynamic_slice_in_dim(best_scores, start, block)
                ids = jax.lax.dynamic_slice_in_dim(best_ids, start, block)

                def key_block(c, best):
                    return merge_top_k(*best, queries, jax.lax.dynamic_slice_in_dim(keys, c * block, block),
                                       me * per_device + start, owner * per_device + c * block, num_rows, k)

                scores, ids = jax.lax.fori_loop(0, blocks, key_block, (scores, ids))
                return (jax.lax.dynamic_update_slice_in_dim(best_scores, scores, start, 0),
                        jax.lax.dynamic_update_slice_in_dim(best_ids, ids, start, 0))

            best_scores, best_ids = jax.lax.fori_loop(0, blocks, query_block, (best_scores, best_ids))
            keys = jax.lax.ppermute(keys, AXIS, [(j, (j - 1) % devices) for j in range(devices)])
            return keys, best_scores, best_ids

        _, best_scores, best_ids = jax.lax.fori_loop(0, devices, visit, (vectors, best_scores, best_ids))
        return best_scores, best_ids

    sharded = jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=(spec, spec), check_vma=False)
    return jax.jit(sharded, in_shardings=NamedSharding(mesh, spec))


def ring_search(local: np.ndarray, layout: Layout, k: int, mesh: Mesh, dtype=jnp.float32):
    """(cosine similarities, indices), each [stop - start, k], of this process's rows' k nearest other rows in
    the whole corpus, best first: `local` is this process's rows [start, stop) of the embeddings, and every
    process calls this with its own."""
    k = min(k, layout.rows - 1)
    held = sum(d.process_index == jax.process_index() for d in mesh.devices.flat) * layout.per_device
    padded = np.zeros((held, local.shape[1]), np.float32)
    padded[: len(local)] = normalize(local)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    vectors = jax.make_array_from_process_local_data(sharding, padded.astype(jnp.dtype(dtype)),
                                                     (mesh.devices.size * layout.per_device, local.shape[1]))
    scores, ids = _search(mesh, layout.per_device, k, layout.block, layout.rows)(vectors)

    def own(array):
        shards = sorted(array.addressable_shards, key=lambda shard: shard.index[0].start)
        return np.concatenate([np.asarray(shard.data) for shard in shards])[: layout.stop - layout.start]

    return own(scores), own(ids).astype(np.int64)


def ring_neighbours(embeddings: np.ndarray, k: int, block: int = 1024, mesh: Mesh | None = None,
                    dtype=jnp.float32) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarities, indices), each [n, k], of every row's k nearest other rows, best first;
    the rows sharded over `mesh` (default: every device of this one process), searched exactly by the ring."""
    mesh = mesh or ring_mesh()
    return ring_search(embeddings, Layout.of(len(embeddings), block, mesh), k, mesh, dtype)


def plan(settings, hardware: str, compile_search: bool = True) -> str:
    """`sbp plan`'s mining lines: the sharded search over `settings.plan_documents` embeddings on the named
    machine, its memory per device compiled on abstract embeddings (nothing allocated; the TPU
    compiler's own figure for a TPU slice when libtpu is installed) and its hours at the train planner's
    assumed utilization of the devices' bf16 peak."""
    machine = lookup(hardware)
    n, dim, devices = settings.plan_documents, settings.plan_dimension, machine.devices
    block, per_device = shard_shape(n, devices, settings.block)
    shard = per_device * dim * jnp.dtype(settings.dtype).itemsize
    flops = 2.0 * n * devices * per_device * dim  # every query row against every (padded) key row
    hours = flops / (devices * machine.peak_flops * ASSUMED_MFU) / 3600
    lines = [f"mining (mine.index=sharded): {n:,} documents x {dim} dimensions in {settings.dtype}, k={settings.k}, "
             f"blocks of {block}: {per_device:,} rows per device ({shard / GiB:.2f} GiB a shard; a device holds "
             "three: its own, the visiting one and the next arriving)",
             f"time: {flops:.3g} FLOPs (2 x documents^2 x dimensions; the top-k merges not counted): {hours:.1f} "
             f"hours at an assumed {ASSUMED_MFU:.0%} of {devices} x {machine.peak_flops / 1e12:.0f} TFLOP/s "
             f"({machine.kind} bf16 spec; not measured)"]
    if compile_search and not (machine.is_tpu and has_tpu_compiler()):
        lines.append(f"not compiled: the figure is the TPU compiler's, for a TPU slice ({TPU_EXTRA})")
    elif compile_search:
        mesh = ring_mesh(tpu_devices(machine))
        vectors = jax.ShapeDtypeStruct((devices * per_device, dim), jnp.dtype(settings.dtype),
                                       sharding=NamedSharding(mesh, PartitionSpec(AXIS)))
        got = _search(mesh, per_device, min(settings.k, n - 1), block, n).lower(vectors).compile().memory_analysis()
        outputs = max(0, got.output_size_in_bytes - got.alias_size_in_bytes)
        need = got.argument_size_in_bytes + got.temp_size_in_bytes + outputs
        lines.append(f"compiled search (the TPU compiler for {hardware}): arguments "
                     f"{got.argument_size_in_bytes / GiB:.2f} + temporaries {got.temp_size_in_bytes / GiB:.2f} + "
                     f"outputs {outputs / GiB:.2f} = {need / GiB:.2f} GiB per chip: "
                     f"{'fits' if need <= machine.memory else 'does NOT fit'} in {machine.memory / GiB:.0f} GiB")
    return "\n".join(lines)
