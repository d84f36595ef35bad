"""SBP step 3: new documents from the synthesizer p(d2 | d1), seeded by corpus documents.

Seeds are drawn with a seeded generator; each is read as the synthesizer was trained (d1, then the
separator) and continued at temperature 1 by default up to a length cap. A sample that is empty, the
seed itself, or a near copy of it (word 3-gram Jaccard similarity at or above a threshold) is dropped.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from tqdm import tqdm

from entigraph_jax.data import Document
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.settings import Settings, at_least, between, positive, setting


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))} if words else set()


def is_copy(sample: str, seed: str, threshold: float) -> bool:
    """Empty, the seed verbatim (whitespace aside), or a near copy of it."""
    if not sample.strip() or " ".join(sample.split()) == " ".join(seed.split()):
        return True
    a, b = shingles(sample), shingles(seed)
    return bool(a | b) and len(a & b) / len(a | b) >= threshold


@dataclasses.dataclass(frozen=True)
class SynthesizeSettings(Settings):
    num_docs: int = setting(1024, "documents to synthesize (seeds drawn from the corpus)", check=positive)
    temperature: float = setting(1.0, "sampling temperature", check=at_least(0))
    max_new_tokens: int = setting(1024, "length cap of a synthesized document", check=positive)
    max_seed_chars: int = setting(8000, "the seed document is cut to this many characters", check=positive)
    batch_size: int = setting(16, "seeds decoded together", check=positive)
    near_copy_threshold: float = setting(0.8, "word 3-gram Jaccard with the seed at or above this: dropped as a copy",
                                         check=between(0, 1))
    seed: int = setting(0, "seeds the choice of seeds and the sampling")
    param_dtype: str = setting("float32", "the synthesizer's weights when sampling",
                               choices=("float32", "bfloat16", "float16"))


@dataclasses.dataclass(frozen=True)
class Synthesized:
    records: list[dict]  # kept documents (kind sbp, with the seed's doc_id)
    dropped: int  # samples dropped as empty or as copies of their seed


def synthesize(docs: list[Document], sampler: Sampler, settings: SynthesizeSettings, separator: str,
               synthesizer: str = "") -> Synthesized:
    """`settings.num_docs` seeds drawn from `docs`, each continued by the synthesizer."""
    s = settings
    rng = np.random.default_rng(s.seed)
    seeds = [docs[i] for i in rng.integers(0, len(docs), size=s.num_docs)]
    records, dropped = [], 0
    for start in tqdm(range(0, s.num_docs, s.batch_size), desc=f"synthesize {s.num_docs} documents", unit="batch",
                      dynamic_ncols=True):
        batch = seeds[start : start + s.batch_size]
        params = SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=s.seed + start)
        prompts = [d.text[: s.max_seed_chars] + separator for d in batch]
        for offset, (doc, [sample]) in enumerate(zip(batch, sampler.generate(prompts, params), strict=True)):
            if is_copy(sample.text, doc.text, s.near_copy_threshold):
                dropped += 1
                continue
            records.append({"kind": "sbp", "doc_id": doc.doc_id, "sample_index": start + offset,
                            "text": sample.text.strip(), "finish_reason": sample.finish_reason,
                            "synthesizer": synthesizer, "temperature": s.temperature, "seed": s.seed})
    return Synthesized(records, dropped)
