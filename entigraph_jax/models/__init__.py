"""models: the Llama-family causal LM, its sharding rules, and Hugging Face / Orbax weight I/O.

Owns parameters and the forward pass. May import: jax, flax, numpy, safetensors, orbax.
Never imports the data, synth, train or evaluate stages.
"""

from .hf import CheckpointError, config_from_hf, from_pretrained_hf, save_pretrained_hf
from .llama import Llama, LlamaConfig, RopeScaling
from .sharding import ShardingRules, make_mesh, param_sharding, param_shardings

__all__ = [
    "CheckpointError",
    "Llama",
    "LlamaConfig",
    "RopeScaling",
    "ShardingRules",
    "config_from_hf",
    "from_pretrained_hf",
    "make_mesh",
    "param_sharding",
    "param_shardings",
    "save_pretrained_hf",
]
