"""SBP step 1: related document pairs by nearest neighbours of their embeddings.

A pair (d1, d2) is kept when min_similarity <= cos(d1, d2) < max_similarity: related, but not a copy.
The neighbours come from `mine.index`: exact blocked search on one device, the same search sharded
over every device (a ring of key shards, `ring_search.py`), or faiss's HNSW index (`neighbours.py`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from entigraph_jax.data import Document
from entigraph_jax.settings import SettingError, Settings, at_least, between, positive, setting

from .neighbours import MiningError, exact_neighbours, faiss_neighbours
from .ring_search import ring_neighbours


@dataclasses.dataclass(frozen=True)
class MineSettings(Settings):
    k: int = setting(8, "neighbours looked at per document", check=positive)
    min_similarity: float = setting(0.5, "pairs at least this similar are related ...", check=between(0, 1))
    max_similarity: float = setting(0.95, "... and below this they are not near-duplicates", check=between(0, 1))
    index: str = setting("exact", "exact (blocked matmuls on one accelerator) | sharded (the same exact search, "
                         "the embeddings sharded over every device: a ring of key shards) | faiss (HNSW, the ann "
                         "extra)", choices=("exact", "sharded", "faiss"))
    block: int = setting(1024, "documents per query and key block of the exact and sharded searches", check=positive)
    dtype: str = setting("float32", "the embeddings in the sharded search (bfloat16 halves a shard; the scores "
                         "accumulate in float32)", choices=("float32", "bfloat16"))
    plan_documents: int = setting(0, "`sbp plan`: the corpus's documents, for the sharded search's memory per chip "
                                  "and hours (0: the mining is not planned)", check=at_least(0))
    plan_dimension: int = setting(1024, "`sbp plan`: the embeddings' dimensions (Qwen3-Embedding-0.6B: 1024)",
                                  check=positive)

    def validate(self):
        if self.min_similarity >= self.max_similarity:
            raise SettingError("min_similarity", f"the band [{self.min_similarity}, {self.max_similarity}) is empty")


def mine_pairs(docs: list[Document], embedder, embedder_name: str, settings: MineSettings,
               separator: str) -> list[dict]:
    """Pair records (d1 -> d2) for every document's neighbours inside the similarity band. A record
    trains the synthesizer as `prompt` (d1 and the separator, no loss) followed by `text` (d2)."""
    if len(docs) < 2:
        raise MiningError(f"pair mining needs at least 2 documents, got {len(docs)}")
    embeddings = np.asarray(embedder.embed([d.text for d in docs]), np.float32)
    k, low, high = settings.k, settings.min_similarity, settings.max_similarity
    search = {"exact": lambda: exact_neighbours(embeddings, k, settings.block),
              "sharded": lambda: ring_neighbours(embeddings, k, settings.block, dtype=settings.dtype),
              "faiss": lambda: faiss_neighbours(embeddings, k)}[settings.index]
    scores, ids = search()
    pairs = []
    for i, doc in enumerate(docs):
        for score, j in zip(scores[i], ids[i], strict=True):
            if low <= score < high:
                pairs.append({"kind": "sbp_pair", "doc_id": doc.doc_id, "pair_doc_id": docs[j].doc_id,
                              "similarity": float(score), "embedder": embedder_name,
                              "min_similarity": low, "max_similarity": high,
                              "prompt": doc.text + separator, "text": docs[j].text})
    return pairs
