"""Measures of a corpus's text, computed on words (lower-cased `\\w+` runs): repetition inside a document,
exact and near duplicates across documents (MinHash LSH over word 5-grams), and how much of a generated
document copies the document it was written from.

These are n-gram measures, ours: the SBP paper judges repetition, duplicates, copying and irrelevance
with an LLM and does not print its prompts (docs/protocol.md).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

REPETITIVE = 0.2  # a document with at least this share of repeated word 3-grams counts as repetitive
COPIED = 0.5  # a document with at least this share of its word 8-grams in its seed counts as a copy


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def repeated_share(text: str, n: int = 3) -> float:
    """Share of a text's word n-grams that repeat an earlier n-gram of the same text (0: none repeats)."""
    grams = ngrams(words(text), n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def containment(text: str, source: str, n: int = 8) -> float:
    """Share of `text`'s word n-grams that occur in `source`."""
    grams, known = ngrams(words(text), n), set(ngrams(words(source), n))
    return sum(g in known for g in grams) / len(grams) if grams else 0.0


def longest_common_run(text: str, source: str) -> int:
    """The longest run of words `text` shares with `source`."""
    a, b = words(text), words(source)
    return difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams over all n-grams of the corpus (distinct-n: 1.0 when none repeats anywhere)."""
    seen, total = set(), 0
    for text in texts:
        grams = ngrams(words(text), n)
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0


class Deduplicator:
    """Texts one at a time: whether each equals an earlier one (case and whitespace aside), and whether an
    earlier one's word n-gram Jaccard similarity with it is at least `threshold` (MinHash estimate, exact
    duplicates included); `near=False` skips the MinHash work."""

    def __init__(self, threshold: float = 0.8, n: int = 5, num_perm: int = 128, seed: int = 1, near: bool = True):
        self.threshold, self.n, self.num_perm, self.seed, self.near = threshold, n, num_perm, seed, near
        self.keys, self.sketches = set(), []
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm) if near else None

    def check(self, text: str) -> tuple[bool, bool]:
        tokens = words(text)
        key = " ".join(tokens)
        exact = key in self.keys
        self.keys.add(key)
        if not self.near:
            return exact, exact
        sketch = MinHash(num_perm=self.num_perm, seed=self.seed)
        sketch.update_batch([" ".join(g).encode() for g in (ngrams(tokens, self.n) or [tuple(tokens)])])
        near = exact or any(self.sketches[j].jaccard(sketch) >= self.threshold for j in self.lsh.query(sketch))
        self.lsh.insert(len(self.sketches), sketch)
        self.sketches.append(sketch)
        return exact, near


def duplicate_flags(texts: Sequence[str], threshold: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(exact, near) per text, as `Deduplicator` says."""
    dedup = Deduplicator(threshold)
    flags = np.array([dedup.check(t) for t in texts], bool).reshape(-1, 2)
    return flags[:, 0], flags[:, 1]


@dataclasses.dataclass(frozen=True)
class CorpusStats:
    documents: int
    mean_words: float
    repeated_ngrams: float  # mean share of repeated word 3-grams inside a document
    repetitive: float  # share of documents with at least REPETITIVE repeated 3-grams
    exact_duplicates: float  # share of documents equal to an earlier one
    near_duplicates: float  # share with an earlier document at word 5-gram Jaccard >= 0.8 (exact included)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0


def corpus_stats(texts: Sequence[str]) -> CorpusStats:
    repeated = np.array([repeated_share(t) for t in texts])
    exact, near = duplicate_flags(texts)
    return CorpusStats(len(texts), _mean(np.array([len(words(t)) for t in texts])), _mean(repeated),
                       _mean(repeated >= REPETITIVE), _mean(exact), _mean(near))


@dataclasses.dataclass(frozen=True)
class CopyStats:
    pairs: int
    containment: float  # mean share of a document's word 8-grams found in its source
    copies: float  # share of documents with at least COPIED of their 8-grams in their source
    longest_run: float  # mean longest run of words shared with the source


def copy_stats(pairs: Sequence[tuple[str, str]]) -> CopyStats:
    """Over (document, the document it was written from) pairs."""
    if not pairs:
        return CopyStats(0, 0.0, 0.0, 0.0)
    shares = np.array([containment(text, source) for text, source in pairs])
    runs = [longest_common_run(text, source) for text, source in pairs]
    return CopyStats(len(pairs), float(shares.mean()), float((shares >= COPIED).mean()), float(np.mean(runs)))
