"""Known architectures by name, as their Hugging Face config.json gives them (the fields that decide
shapes and memory; rope settings do not), so the planner can answer without a checkpoint."""

from __future__ import annotations

from .hf import CheckpointError
from .llama import LlamaConfig

PRESETS = {
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_layers=32,
                      num_heads=32, num_kv_heads=8, head_dim=128),
    "llama3-70b": dict(vocab_size=128256, hidden_size=8192, intermediate_size=28672, num_layers=80,
                       num_heads=64, num_kv_heads=8, head_dim=128),
    "llama3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_layers=16,
                        num_heads=32, num_kv_heads=8, head_dim=64, tie_word_embeddings=True),
    "llama3.2-3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_layers=28,
                        num_heads=24, num_kv_heads=8, head_dim=128, tie_word_embeddings=True),
}


def preset(name: str, **runtime) -> LlamaConfig:
    """The architecture called `name`, with `runtime` settings (dtypes, remat)."""
    if name not in PRESETS:
        raise CheckpointError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return LlamaConfig(**PRESETS[name], **runtime)
