"""A Cohere-compatible `/rerank` client: Cohere's API (the paper's `rerank-english-v3.0`), and the
cross-encoders that vLLM, Text Embeddings Inference and Jina serve behind the same request shape.

POST `{base_url}/rerank` with `{"model", "query", "documents"}`; the answer lists
`{"index", "relevance_score"}`, higher is more relevant. The key comes from COHERE_API_KEY /
CO_API_KEY or a key file, and is optional for a local server.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from entigraph_jax.errors import UserError

from .keys import api_key
from .settings import RerankerSettings


class RerankError(UserError):
    pass


class HTTPReranker:
    def __init__(self, settings: RerankerSettings, timeout_s: float = 60.0):
        base_url, model = settings.base_url, settings.model
        if not base_url or not model:
            raise RerankError("a /rerank reranker needs a base_url and a model")
        key = api_key(("COHERE_API_KEY", "CO_API_KEY"), settings.api_key_file, required="api.cohere" in base_url)
        self.name, self.model, self.url = f"rerank:{model}", model, base_url.rstrip("/") + "/rerank"
        self.client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {key}"} if key else {})

    def scores(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """One relevance score per document, in the documents' order."""
        try:
            response = self.client.post(self.url, json={"model": self.model, "query": query,
                                                        "documents": list(documents)})
            response.raise_for_status()
            results = response.json()["results"]
            out = np.full(len(documents), np.nan)
            for r in results:
                out[int(r["index"])] = float(r["relevance_score"])
        except (httpx.HTTPError, KeyError, ValueError, TypeError, IndexError) as e:
            raise RerankError(f"{self.url}: rerank request failed ({type(e).__name__}: {e})") from e
        if np.isnan(out).any():
            scored = int((~np.isnan(out)).sum())
            raise RerankError(f"{self.url}: the answer scored {scored} of {len(documents)} documents")
        return out
