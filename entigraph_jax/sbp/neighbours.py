"""Nearest neighbours of embeddings by cosine similarity, for SBP's pair mining.

`exact_neighbours` multiplies blocks of queries by blocks of the (normalized) corpus on one device and
merges top-k lists block by block, so memory is one query block x key block of scores whatever the
corpus size; the embeddings themselves are held whole (comfortable up to a few million documents).
`ring_search.ring_neighbours` is the same search with the embeddings sharded over every device of a
mesh. `faiss_neighbours` is an approximate HNSW inner-product index from the optional `faiss-cpu`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from entigraph_jax.errors import UserError


class MiningError(UserError):
    """Mining that cannot work (too few documents, faiss missing)."""


def merge_top_k(best_scores, best_ids, queries, keys, query_offset, key_offset, num_rows: int, k: int):
    """Fold one block of keys into the running top-k of a block of queries, best first and, between
    equal scores, the lower key id first (whatever order the blocks come in); self matches and padding
    rows (ids >= num_rows) never enter it."""
    key_ids = key_offset + jnp.arange(keys.shape[0], dtype=jnp.int32)
    query_ids = query_offset + jnp.arange(queries.shape[0], dtype=jnp.int32)
    excluded = (key_ids[None, :] == query_ids[:, None]) | (key_ids[None, :] >= num_rows)
    scores = jnp.where(excluded, -jnp.inf, jnp.dot(queries, keys.T, preferred_element_type=jnp.float32))
    top, where = jax.lax.top_k(scores, min(k, keys.shape[0]))  # equal scores: the earlier (lower) id first
    negated, ids = jax.lax.sort((-jnp.concatenate([best_scores, top], axis=1),
                                 jnp.concatenate([best_ids, key_ids[where]], axis=1)), dimension=1, num_keys=2)
    return -negated[:, :k], ids[:, :k]


_merge_top_k = jax.jit(merge_top_k, static_argnames=("num_rows", "k"))


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
