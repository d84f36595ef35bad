"""SBP step 1: related document pairs by nearest neighbours of their embeddings.

A pair (d1, d2) is kept when min_similarity <= cos(d1, d2) < max_similarity: related, but not a copy.
The neighbours come from `mine.index`: exact blocked search on one device, the same search sharded
over every device (a ring of key shards, `ring_search.py`), or faiss's HNSW index (`neighbours.py`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

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
    embed_chunk: int = setting(65536, "documents embedded at a time, each chunk kept under workdir/embeddings: a "
                               "rerun continues after the chunks made", check=positive)
    dtype: str = setting("float32", "the embeddings in the sharded search (bfloat16 halves a shard; the scores "
                         "accumulate in float32)", choices=("float32", "bfloat16"))
    plan_documents: int = setting(0, "`sbp plan`: the corpus's documents, for the sharded search's memory per chip "
                                  "and hours (0: the mining is not planned)", check=at_least(0))
    plan_dimension: int = setting(1024, "`sbp plan`: the embeddings' dimensions (Qwen3-Embedding-0.6B: 1024)",
                                  check=positive)

    def validate(self):
        if self.min_similarity >= self.max_similarity:
            raise SettingError("min_similarity", f"the band [{self.min_similarity}, {self.max_similarity}) is empty")


def embed_corpus(docs: Sequence[Document], embedder, folder: Path | None = None, chunk: int = 65536,
                 start: int = 0, stop: int | None = None) -> np.ndarray:
    """The embeddings [stop - start, dim] float32 of documents [start, stop) (default: all), computed `chunk`
    documents at a time; with `folder`, each chunk is kept there as `embeddings-NNNNN.npy` (numbered over the
    whole corpus, written whole, then renamed) and a rerun, or another process, reads the chunks already there
    instead of embedding them again."""
    stop = len(docs) if stop is None else stop
    parts = []
    for number in range(start // chunk, -(-stop // chunk)):
        first, last = number * chunk, min((number + 1) * chunk, len(docs))
        file = folder / f"embeddings-{number:05d}.npy" if folder else None
        if file is not None and file.is_file():
            vectors = np.load(file)
        else:
            vectors = np.asarray(embedder.embed([docs[i].text for i in range(first, last)]), np.float32)
            if file is not None:
                folder.mkdir(parents=True, exist_ok=True)
                tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as f:
                    np.save(f, vectors)
                os.replace(tmp, file)
        parts.append(vectors[max(start - first, 0) : stop - first])
    return np.concatenate(parts)


def neighbours(embeddings: np.ndarray, settings: MineSettings) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices) [n, k] of every document's nearest others, by `settings.index`."""
    search = {"exact": lambda: exact_neighbours(embeddings, settings.k, settings.block),
              "sharded": lambda: ring_neighbours(embeddings, settings.k, settings.block, dtype=settings.dtype),
              "faiss": lambda: faiss_neighbours(embeddings, settings.k)}[settings.index]
    return search()


def pair_records(docs: Sequence[Document], scores: np.ndarray, ids: np.ndarray, embedder_name: str,
                 settings: MineSettings, separator: str, start: int = 0) -> Iterator[dict]:
    """Pair records (d1 -> d2) for the neighbours inside the similarity band of documents start, start + 1,
    ... (a row of `scores` and `ids` each), a document at a time. A record trains the synthesizer as `prompt`
    (d1 and the separator, no loss) followed by `text` (d2); `doc_index` and `pair_doc_index` are the two
    documents' positions in the corpus."""
    low, high = settings.min_similarity, settings.max_similarity
    for i, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True), start):
        doc = docs[i]
        for score, j in zip(row_scores, row_ids, strict=True):
            if low <= score < high:
                other = docs[int(j)]
                yield {"kind": "sbp_pair", "doc_id": doc.doc_id, "pair_doc_id": other.doc_id, "doc_index": i,
                       "pair_doc_index": int(j), "similarity": float(score), "embedder": embedder_name,
                       "min_similarity": low, "max_similarity": high, "prompt": doc.text + separator,
                       "text": other.text}


def mine_pairs(docs: Sequence[Document], embedder, embedder_name: str, settings: MineSettings,
               separator: str) -> list[dict]:
    """Every pair record of a corpus held here (`SBP` streams the same steps over its record shards)."""
    if len(docs) < 2:
        raise MiningError(f"pair mining needs at least 2 documents, got {len(docs)}")
    scores, ids = neighbours(embed_corpus(docs, embedder), settings)
    return list(pair_records(docs, scores, ids, embedder_name, settings, separator))
