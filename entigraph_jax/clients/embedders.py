"""Text embedders behind one interface (`embed(texts) -> float32 [n, dim]`, unit rows), with an
on-disk cache: the offline default `hashing` (hashed word unigrams and bigrams, log-scaled counts:
a lexical embedder that needs no model), any OpenAI-compatible `/embeddings` endpoint, and Gemini
embeddings via google-genai. Used by open-book evaluation (RAG) and by SBP's pair mining."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from entigraph_jax.errors import UserError

from .keys import api_key
from .settings import EmbedderSettings

WORD = re.compile(r"\w+")
OPENAI_URL = "https://api.openai.com/v1"


class EmbedderError(UserError):
    pass


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class HashingEmbedder:
    """Words and word pairs hashed into `dim` buckets; deterministic, offline, fast."""

    def __init__(self, dim: int = 4096):
        self.dim, self.name = dim, f"hashing-{dim}"

    def _bucket(self, feature: str) -> int:
        return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little") % self.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            words = WORD.findall(text.lower())
            for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                out[row, self._bucket(feature)] += 1.0
        return _normalize(np.log1p(out))


class OpenAIEmbedder:
    def __init__(self, base_url: str, model: str, key: str | None, batch: int = 64, timeout_s: float = 60.0):
        import httpx

        self.name, self.batch = f"openai:{model}", batch
        self.model, self.url = model, base_url.rstrip("/") + "/embeddings"
        self.client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {key}"} if key else {})

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import httpx

        rows = []
        for start in range(0, len(texts), self.batch):
            try:
                part = list(texts[start : start + self.batch])
                response = self.client.post(self.url, json={"model": self.model, "input": part})
                response.raise_for_status()
                data = sorted(response.json()["data"], key=lambda d: d["index"])
            except (httpx.HTTPError, KeyError, ValueError) as e:
                raise EmbedderError(f"{self.url}: embedding request failed ({e})") from e
            rows.extend(self._vector(d["embedding"]) for d in data)
        if len({len(r) for r in rows}) > 1:
            raise EmbedderError(f"{self.url}: the server returned vectors of different sizes "
                                f"({sorted({len(r) for r in rows})})")
        return _normalize(np.asarray(rows, np.float32))

    def _vector(self, embedding) -> list[float]:
        """One text's vector; a server without pooling (llama.cpp's default) sends one per token."""
        if isinstance(embedding, list) and embedding and isinstance(embedding[0], list):
            raise EmbedderError(
                f"{self.url}: the server returned one vector per token ({len(embedding)} x {len(embedding[0])}), "
                "not one per text; start it with pooling (llama.cpp: --pooling mean)")
        if not isinstance(embedding, list) or not all(isinstance(x, int | float) for x in embedding):
            raise EmbedderError(f"{self.url}: an embedding is not a list of numbers")
        return embedding


class GeminiEmbedder:
    def __init__(self, model: str, key: str, base_url: str = "", batch: int = 100):
        from google import genai
        from google.genai import types

        self.name, self.model, self.batch = f"gemini:{model}", model, batch
        options = types.HttpOptions(base_url=base_url or None, retry_options=types.HttpRetryOptions(attempts=3))
        self.client = genai.Client(api_key=key, http_options=options)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from google.genai import errors

        rows = []
        for start in range(0, len(texts), self.batch):
            try:
                part = list(texts[start : start + self.batch])
                result = self.client.models.embed_content(model=self.model, contents=part)
            except errors.APIError as e:
                raise EmbedderError(f"Gemini embeddings ({self.model}): {e.code} {e.message}") from e
            rows.extend(e.values for e in result.embeddings)
        return _normalize(np.asarray(rows, np.float32))


class CachedEmbedder:
    """Wraps an embedder with an SQLite cache keyed by (embedder name, text hash)."""

    def __init__(self, embedder, cache_dir: str | os.PathLike):
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        self.inner, self.name = embedder, embedder.name
        self.db = sqlite3.connect(Path(cache_dir) / "embeddings.sqlite")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT, digest TEXT, vector BLOB, "
                        "PRIMARY KEY (embedder, digest))")
        self.computed = 0  # texts embedded by the inner embedder (not found in the cache)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        digests = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = {}
        for start in range(0, len(digests), 500):
            part = digests[start : start + 500]
            query = f"SELECT digest, vector FROM vectors WHERE embedder=? AND digest IN ({','.join('?' * len(part))})"
            found.update((d, np.frombuffer(v, np.float32)) for d, v in self.db.execute(query, (self.name, *part)))
        missing = sorted({d: i for i, d in enumerate(digests) if d not in found}.items(), key=lambda x: x[1])
        if missing:
            vectors = self.inner.embed([texts[i] for _, i in missing])
            self.computed += len(missing)
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                    [(self.name, d, v.tobytes()) for (d, _), v in zip(missing, vectors, strict=True)])
            found.update((d, v) for (d, _), v in zip(missing, vectors, strict=True))
        return np.stack([found[d] for d in digests])


def make_embedder(settings: EmbedderSettings, cache_dir: str = ""):
    """`hashing` (offline), `openai` (OPENAI_API_KEY or key file; optional for local servers) or
    `gemini` (GEMINI_API_KEY / GOOGLE_API_KEY or key file); cached on disk in `settings.cache_dir`
    (else `cache_dir`) when one is given."""
    if settings.backend == "model":
        raise EmbedderError("embedder.backend=model runs a checkpoint: build it with "
                            "entigraph_jax.models.embedding.make_embedder")
    if settings.backend == "hashing":
        embedder = HashingEmbedder()
    elif settings.backend == "openai":
        key = api_key(("OPENAI_API_KEY",), settings.api_key_file, required=False)
        embedder = OpenAIEmbedder(settings.base_url or OPENAI_URL, settings.model, key)
    else:
        key = api_key(("GEMINI_API_KEY", "GOOGLE_API_KEY"), settings.api_key_file, required=True)
        embedder = GeminiEmbedder(settings.model, key, settings.base_url)
    cache = settings.cache_dir or cache_dir
    return CachedEmbedder(embedder, cache) if cache else embedder
