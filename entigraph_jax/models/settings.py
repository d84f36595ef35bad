"""The settings of `python -m entigraph_jax.models convert` and `... chat`."""

import dataclasses

from entigraph_jax.data import TokenizerSettings
from entigraph_jax.settings import Settings, positive, section, setting

DTYPES = ("float32", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class ConvertSettings(Settings):
    src: str = setting("", "the checkpoint to read: a Hugging Face folder, an Orbax parameter folder or a .gguf file")
    dst: str = setting("", "the folder to write; it must not exist or be empty")
    to: str = setting("", "hf | orbax; \"\": the other format than src's", choices=("", "hf", "orbax"))
    dtype: str = setting("", "dtype of the written parameters; \"\": float32 to Orbax, the checkpoint's own to "
                         "Hugging Face", choices=("", *DTYPES))


@dataclasses.dataclass(frozen=True)
class ChatSettings(Settings):
    checkpoint: str = setting("", "a Hugging Face folder or an Orbax parameter folder")
    tokenizer: TokenizerSettings = section(TokenizerSettings, "its tokenizer (tokenizer.path \"\": the "
                                           "checkpoint's own)")
    system: str = setting("", "a system message opening the conversation")
    temperature: float = setting(-1.0, "sampling temperature (0: greedy; < 0: the checkpoint's generation_config.json "
                                 "says: its temperature where it samples, else greedy; 0.7 without one)")
    top_p: float = setting(-1.0, "nucleus sampling mass (< 0: the checkpoint's generation_config.json's, else 0.9)",
                           check=lambda v: None if v <= 1 else "must be <= 1")
    max_new_tokens: int = setting(256, "per answer", check=positive)
    seed: int = setting(0, "sampling seed of the first turn (turn i uses seed + i)")
    param_dtype: str = setting("float32", "dtype of the weights while chatting", choices=DTYPES)
