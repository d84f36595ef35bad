"""models: the Llama-family causal LM (Llama, Mistral, Qwen 2/3, Gemma 2/3), its sharding rules,
presets, Hugging Face / Orbax / GGUF weight I/O and the KV-cache sampler.

`python -m entigraph_jax.models {convert,chat}`. Owns parameters and the forward pass. May import
data (tokenizers and chat templates, for `chat`); never imports llm, generate, evaluate, train, sweep or sbp.
"""

from .checkpoint import checkpoint_format, load, load_params, save_params
from .hf import CheckpointError, config_from_hf, from_pretrained_hf, save_pretrained_hf
from .llama import Llama, LlamaConfig, RopeScaling
from .presets import PRESETS, preset
from .sharding import ShardingRules, make_mesh, param_sharding, param_shardings

__all__ = [
    "PRESETS",
    "CheckpointError",
    "Llama",
    "LlamaConfig",
    "RopeScaling",
    "ShardingRules",
    "checkpoint_format",
    "config_from_hf",
    "from_pretrained_hf",
    "load",
    "load_params",
    "make_mesh",
    "param_sharding",
    "param_shardings",
    "preset",
    "save_params",
    "save_pretrained_hf",
]
