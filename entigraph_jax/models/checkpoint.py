"""Parameter-only Orbax checkpoints, and `load`, which reads either kind of checkpoint folder.

Layout of an Orbax folder: `config.json` (the Hugging Face architecture config) and `params/` (an
Orbax checkpoint of the parameters as a nested dict, the same tree as `nnx.state(model, nnx.Param)`).
A Hugging Face folder holds `config.json` and `*.safetensors` (`hf.py`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import Mesh, SingleDeviceSharding

from .hf import config_from_hf, config_to_hf, from_pretrained_hf, refuse_non_empty
from .hub import CheckpointError, resolve
from .llama import Llama
from .sharding import ShardingRules, param_sharding


def save_params(model: Llama, path: str | os.PathLike) -> Path:
    """Write `model`'s parameters and config under `path`, which must not exist or be empty."""
    path = Path(path).absolute()
    refuse_non_empty(path)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path / "params", params)
        checkpointer.wait_until_finished()
    dtype = str(jax.tree.leaves(params)[0].dtype)
    # config.json last: a folder with it is a complete checkpoint.
    (path / "config.json").write_text(json.dumps(config_to_hf(model.config, dtype), indent=2))
    return path


def load_params(
    path: str | os.PathLike,
    dtype: str = "float32",
    *,
    mesh: Mesh | None = None,
    rules: ShardingRules = ShardingRules(),
    compute_dtype: str | None = None,
    remat: str = "none",
) -> Llama:
    """The model saved by `save_params`, cast to `dtype`, each array restored into its sharding."""
    path = Path(path).absolute()
    cfg = config_from_hf(path, param_dtype=dtype, dtype=compute_dtype or dtype, remat=remat)
    if not (path / "params").is_dir():
        raise CheckpointError(f"{path}: no params/ folder (not a checkpoint written by convert)")
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: Llama(cfg, rngs=nnx.Rngs(0))))
    single = SingleDeviceSharding(jax.devices()[0])

    def target(var):
        sharding = param_sharding(var, mesh, rules) if mesh else single
        return jax.ShapeDtypeStruct(var.get_value().shape, jnp.dtype(dtype), sharding=sharding)

    abstract_params = nnx.to_pure_dict(
        jax.tree.map(target, abstract, is_leaf=lambda x: isinstance(x, nnx.Variable))
    )
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            params = checkpointer.restore(path / "params", abstract_params)
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise CheckpointError(f"{path / 'params'}: cannot restore parameters ({e})") from e
    nnx.replace_by_pure_dict(abstract, params)
    return nnx.merge(graphdef, abstract)


def checkpoint_format(path: str | os.PathLike) -> str:
    """"orbax" for a folder with `params/`, "hf" for one with safetensors (or a Hub name), "gguf" for
    a .gguf file; else a `CheckpointError`."""
    path = resolve(path)
    if path.suffix == ".gguf" and path.is_file():
        return "gguf"
    if (path / "params").is_dir():
        return "orbax"
    if any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").is_file():
        return "hf"
    what = "no such folder" if not path.is_dir() else "neither *.safetensors (Hugging Face) nor params/ (Orbax)"
    raise CheckpointError(f"{path}: not a checkpoint ({what})")


def load(path: str | os.PathLike, dtype: str = "float32", **options) -> Llama:
    """The model in a Hugging Face folder or an Orbax parameter checkpoint, whichever `path` holds;
    `options` (mesh, rules, compute_dtype, remat) as both readers take them."""
    path = resolve(path)
    reader = load_params if checkpoint_format(path) == "orbax" else from_pretrained_hf
    return reader(path, dtype, **options)
