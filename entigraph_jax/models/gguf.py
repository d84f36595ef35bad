"""GGUF files (llama.cpp's format, as Ollama and LM Studio users have their models) to a Hugging Face
folder, so a user with only a GGUF can start: transformers' GGUF reader dequantizes the tensors and
rebuilds the tokenizer (with its chat template); we write them as a plain float checkpoint.

transformers loads a GGUF as a model that still carries a `quantization_config` and cannot be saved
as it is, so the weights are moved into a model built from the same config without it. Needs the
`gguf` extra (transformers, torch, gguf, accelerate); nothing else in the project imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from entigraph_jax.outputs import staged

from .hf import CheckpointError, refuse_non_empty


def gguf_to_hf(file: str | os.PathLike, out: str | os.PathLike, dtype: str = "") -> Path:
    """Write `file` (a .gguf) as config.json, safetensors and tokenizer files under `out` (which must
    not exist or be empty), in `dtype` (default float32)."""
    file, out = Path(file), Path(out)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such GGUF file")
    try:
        import torch
        import transformers
    except ImportError as e:
        raise CheckpointError(f"{file}: reading GGUF needs the gguf extra (pip install -e \".[gguf]\"): {e}") from e
    refuse_non_empty(out)
    torch_dtype = getattr(torch, dtype or "float32")
    try:
        quantized = transformers.AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name,
                                                                      dtype=torch.float32)
        tokenizer = transformers.AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
    except (ValueError, OSError, KeyError, ImportError) as e:
        raise CheckpointError(f"{file}: transformers cannot read it as a GGUF model ({e})") from e
    settings = quantized.config.to_dict()
    settings.pop("quantization_config", None)
    settings.pop("_name_or_path", None)
    config = type(quantized.config).from_dict(settings)
    plain = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain = plain.to(torch_dtype)
    with staged(out) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out
