"""The settings of `python -m entigraph_jax.data inspect`."""

import dataclasses

from entigraph_jax.settings import Settings, at_least, section, setting

from .tokenizers import TokenizerSettings


@dataclasses.dataclass(frozen=True)
class InspectSettings(Settings):
    path: str = setting("", "an .array_record file, a folder of them, or a glob")
    tokenizer: TokenizerSettings = section(TokenizerSettings, "what counts tokens (tokenizer.path \"\": count "
                                           "whitespace-separated words)")
    samples: int = setting(3, "sample records printed", check=at_least(0))
    seed: int = setting(0, "seeds which records are sampled")
    duplicates: bool = setting(True, "exact and near-duplicate rates (MinHash over word 5-grams, every text once)")
    output: str = setting("", "also write the figures as JSON to this file")
