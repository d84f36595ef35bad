"""SBP step 1: related document pairs by nearest neighbours of their embeddings.

Exact search multiplies blocks of queries by chunks of the (normalized) corpus on the accelerator
and merges top-k lists chunk by chunk, so memory is one query block x key chunk of scores whatever
the corpus size (comfortable up to ~1M documents). Beyond that, `index="faiss"` uses an HNSW
inner-product index from the optional `faiss-cpu` package. A pair (d1, d2) is kept when
min_similarity <= cos(d1, d2) < max_similarity: related, but not a copy.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from entigraph_jax.data import Document
from entigraph_jax.errors import UserError
from entigraph_jax.settings import SettingError, Settings, between, positive, setting


class MiningError(UserError):
    """Mining that cannot work (too few documents, faiss missing)."""


@dataclasses.dataclass(frozen=True)
class MineSettings(Settings):
    k: int = setting(8, "neighbours looked at per document", check=positive)
    min_similarity: float = setting(0.5, "pairs at least this similar are related ...", check=between(0, 1))
    max_similarity: float = setting(0.95, "... and below this they are not near-duplicates", check=between(0, 1))
    index: str = setting("exact", "exact (blocked matmuls on the accelerator) | faiss (HNSW, the ann extra)",
                         choices=("exact", "faiss"))
    block: int = setting(1024, "documents per block of the exact search", check=positive)

    def validate(self):
        if self.min_similarity >= self.max_similarity:
            raise SettingError("min_similarity", f"the band [{self.min_similarity}, {self.max_similarity}) is empty")


@functools.partial(jax.jit, static_argnames=("k",))
def _merge_top_k(best_scores, best_ids, queries, keys, query_offset, key_offset, num_rows, k: int):
    """Fold one chunk of keys into the running top-k of a block of queries; self matches and
    padding rows (ids >= num_rows) never enter it."""
    key_ids = key_offset + jnp.arange(keys.shape[0])
    query_ids = query_offset + jnp.arange(queries.shape[0])
    excluded = (key_ids[None, :] == query_ids[:, None]) | (key_ids[None, :] >= num_rows)
    scores = jnp.where(excluded, -jnp.inf, queries @ keys.T)
    scores = jnp.concatenate([best_scores, scores], axis=1)
    ids = jnp.concatenate([best_ids, jnp.broadcast_to(key_ids, scores.shape[:1] + key_ids.shape)], axis=1)
    top, where = jax.lax.top_k(scores, k)
    return top, jnp.take_along_axis(ids, where, axis=1)


def normalize(embeddings: np.ndarray) -> np.ndarray:
    norms = np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(embeddings / norms, np.float32)


def exact_neighbours(embeddings: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarities, indices), each [n, k], of every row's k nearest other rows, best first."""
    n = len(embeddings)
    k, block = min(k, n - 1), min(block, n)
    padded = np.zeros((-(-n // block) * block, embeddings.shape[1]), np.float32)
    padded[:n] = normalize(embeddings)  # whole blocks: one compiled shape
    vectors = jnp.asarray(padded)
    out_scores, out_ids = [], []
    for q in tqdm(range(0, n, block), desc=f"nearest neighbours of {n} documents", unit="block",
                  disable=n <= block, dynamic_ncols=True):
        scores, ids = jnp.full((block, k), -jnp.inf), jnp.full((block, k), -1, jnp.int32)
        for c in range(0, n, block):
            scores, ids = _merge_top_k(scores, ids, vectors[q : q + block], vectors[c : c + block], q, c, n, k)
        out_scores.append(np.asarray(scores))
        out_ids.append(np.asarray(ids))
    return np.concatenate(out_scores)[:n], np.concatenate(out_ids)[:n].astype(np.int64)


def faiss_neighbours(embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate neighbours from an HNSW inner-product index over the normalized vectors."""
    try:
        import faiss  # noqa: PLC0415 - optional dependency, only for corpora beyond exact search
    except ImportError as e:
        raise MiningError("mine.index=faiss needs the optional faiss-cpu package: "
                          "pip install 'entigraph-jax[ann]'") from e
    vectors = normalize(embeddings)
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    scores, ids = index.search(vectors, min(k + 1, len(vectors)))
    own = ids == np.arange(len(vectors))[:, None]
    keep = [row[~mine][:k] for row, mine in zip(ids, own, strict=True)]
    kept = [row[~mine][:k] for row, mine in zip(scores, own, strict=True)]
    return np.stack(kept), np.stack(keep)


def mine_pairs(docs: list[Document], embedder, embedder_name: str, settings: MineSettings,
               separator: str) -> list[dict]:
    """Pair records (d1 -> d2) for every document's neighbours inside the similarity band. A record
    trains the synthesizer as `prompt` (d1 and the separator, no loss) followed by `text` (d2)."""
    if len(docs) < 2:
        raise MiningError(f"pair mining needs at least 2 documents, got {len(docs)}")
    embeddings = np.asarray(embedder.embed([d.text for d in docs]), np.float32)
    k, low, high = settings.k, settings.min_similarity, settings.max_similarity
    scores, ids = (exact_neighbours(embeddings, k, settings.block) if settings.index == "exact"
                   else faiss_neighbours(embeddings, k))
    pairs = []
    for i, doc in enumerate(docs):
        for score, j in zip(scores[i], ids[i], strict=True):
            if low <= score < high:
                pairs.append({"kind": "sbp_pair", "doc_id": doc.doc_id, "pair_doc_id": docs[j].doc_id,
                              "similarity": float(score), "embedder": embedder_name,
                              "min_similarity": low, "max_similarity": high,
                              "prompt": doc.text + separator, "text": docs[j].text})
    return pairs
