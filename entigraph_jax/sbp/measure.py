"""Measures of what every arm trains on, beside its scores (the SBP paper's Table of synthetic-data quality,
measured our way: `data.corpus_stats` for repetition, duplicates and copying; the embedder for relevance).

    baseline   the real documents; copying and relevance of the mined pairs (d2 against d1): the reference
    sbp        the synthetic documents; copying and relevance against each one's seed
    oracle     the oracle's real documents (its first `measure_documents`: the corpus may be huge)
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from entigraph_jax.data.corpus_stats import copy_stats, corpus_stats
from entigraph_jax.data.sources import stream_source

from .neighbours import normalize


def sample(items: Sequence, count: int, seed: int = 0) -> list:
    """At most `count` of `items` (0: all), drawn without replacement by a seeded generator, in order."""
    if not count or len(items) <= count:
        return list(items)
    return [items[i] for i in sorted(np.random.default_rng(seed).choice(len(items), count, replace=False))]


def first_texts(spec: str, count: int) -> list[str]:
    """The texts of a source's first `count` documents (0: all), read as a stream where the source is one
    (`records:`, `jsonl:`, `hf:`): an oracle corpus may hold hundreds of billions of tokens."""
    return [d.text for d in itertools.islice(stream_source(spec), count or None)]


def relevance(embedder, pairs: Sequence[tuple[str, str]], threshold: float) -> dict:
    """Cosine similarity of each (document, source) pair's embeddings; below `threshold` (the mining band's
    lower edge: the synthesizer learned from pairs at least that similar) it counts as irrelevant."""
    texts = [t for pair in pairs for t in pair]
    vectors = normalize(np.asarray(embedder.embed(texts), np.float32))
    similarity = np.sum(vectors[0::2] * vectors[1::2], axis=1)
    return {"pairs": len(pairs), "mean_similarity": float(similarity.mean()),
            "irrelevant": float((similarity < threshold).mean()), "threshold": threshold}


def measure(texts: Sequence[str], pairs: Sequence[tuple[str, str]], embedder, threshold: float) -> dict:
    """The corpus measures of `texts` and, with `pairs` (document, source), their copying and relevance."""
    out = {"corpus": dataclasses.asdict(corpus_stats(texts))}
    if pairs:
        out["copying"] = dataclasses.asdict(copy_stats(pairs))
        out["relevance"] = relevance(embedder, pairs, threshold)
    return out
