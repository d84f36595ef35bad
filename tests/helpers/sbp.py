"""A corpus with planted related pairs, for SBP's mining and synthesis."""

import numpy as np

from entigraph_jax.data import Document

SEPARATOR = "\n\n### Related document:\n\n"


def planted_corpus(topics: int = 6) -> list[Document]:
    """Two documents per topic (same invented vocabulary, different sentences), plus an exact copy
    of t0a and a copy of t1a with one word changed."""
    rng = np.random.default_rng(0)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da", "gu", "ze", "fa", "bi"]
    filler = ["the", "of", "and", "a", "in", "was", "it", "to", "for", "with"]

    def text(vocab):
        return " ".join(f"{rng.choice(vocab)} {rng.choice(filler)} {rng.choice(vocab)} {rng.choice(filler)}"
                        for _ in range(60)) + "."

    docs = []
    for t in range(topics):
        vocab = ["".join(rng.choice(syllables, 3)) for _ in range(25)]
        docs += [Document(f"t{t}a", text(vocab)), Document(f"t{t}b", text(vocab))]
    words = docs[2].text.split()
    words[5] = "zzz"
    return docs + [Document("dup", docs[0].text), Document("near", " ".join(words))]
