"""The config schemas of `python -m entigraph_jax.models convert` and `... chat`."""

import ml_collections


def convert_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.src = ""  # the checkpoint to read: a Hugging Face folder, an Orbax parameter folder or a .gguf file
    c.dst = ""  # the folder to write; it must not exist or be empty
    c.to = ""  # hf | orbax; "": the other format than src's
    c.dtype = ""  # dtype of the written parameters; "": float32 to Orbax, the checkpoint's own to Hugging Face
    return c


def chat_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.checkpoint = ""  # a Hugging Face folder or an Orbax parameter folder
    c.tokenizer = ""  # its tokenizer: a .model, a tokenizer.json or a folder holding one ("": the checkpoint's own)
    c.system = ""  # a system message opening the conversation
    c.temperature = 0.7  # sampling temperature
    c.top_p = 0.9  # nucleus sampling mass
    c.max_new_tokens = 256  # per answer
    c.seed = 0  # sampling seed of the first turn (turn i uses seed + i)
    c.dtype = "float32"  # dtype of the weights while chatting
    return c
