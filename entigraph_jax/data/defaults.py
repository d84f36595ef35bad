"""The config schema of `python -m entigraph_jax.data inspect`."""

import ml_collections


def inspect_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.path = ""  # an .array_record file, a folder of them, or a glob
    c.tokenizer = ""  # a .model or tokenizer.json to count tokens with ("": count words)
    c.samples = 3  # sample records printed
    c.seed = 0  # seeds which records are sampled
    return c
