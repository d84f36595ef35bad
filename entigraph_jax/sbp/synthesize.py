"""SBP step 3: new documents from the synthesizer p(d2 | d1), seeded by corpus documents.

Seeds are drawn with a seeded generator; each is read as the synthesizer was trained (d1, then the
separator) and continued at temperature 1 by default up to a length cap. A sample that is empty, the
seed itself, or a near copy of it (word 3-gram Jaccard similarity at or above a threshold) is dropped.
"""

from __future__ import annotations

import re

import numpy as np
from tqdm import tqdm

from entigraph_jax.data import Document
from entigraph_jax.models.sampling import Sampler, SamplingParams


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))} if words else set()


def is_copy(sample: str, seed: str, threshold: float) -> bool:
    """Empty, the seed verbatim (whitespace aside), or a near copy of it."""
    if not sample.strip() or " ".join(sample.split()) == " ".join(seed.split()):
        return True
    a, b = shingles(sample), shingles(seed)
    return bool(a | b) and len(a & b) / len(a | b) >= threshold


def synthesize(docs: list[Document], sampler: Sampler, *, num_docs: int, separator: str, seed: int,
               temperature: float = 1.0, max_new_tokens: int = 512, max_seed_chars: int = 4000,
               batch_size: int = 16, near_copy_threshold: float = 0.8, synthesizer: str = "") -> dict:
    """{"records": [...], "dropped": n} for `num_docs` seeds (records carry the seed's doc_id)."""
    rng = np.random.default_rng(seed)
    seeds = [docs[i] for i in rng.integers(0, len(docs), size=num_docs)]
    records, dropped = [], 0
    for start in tqdm(range(0, num_docs, batch_size), desc=f"synthesize {num_docs} documents", unit="batch",
                      dynamic_ncols=True):
        batch = seeds[start : start + batch_size]
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + start)
        prompts = [d.text[:max_seed_chars] + separator for d in batch]
        for offset, (doc, [sample]) in enumerate(zip(batch, sampler.generate(prompts, params), strict=True)):
            if is_copy(sample.text, doc.text, near_copy_threshold):
                dropped += 1
                continue
            records.append({"kind": "sbp", "doc_id": doc.doc_id, "sample_index": start + offset,
                            "text": sample.text.strip(), "finish_reason": sample.finish_reason,
                            "synthesizer": synthesizer, "temperature": temperature, "seed": seed})
    return {"records": records, "dropped": dropped}
