"""clients: what the project asks of other services — LLM clients (any OpenAI-compatible server, Gemini
through google-genai, a vLLM server started here) behind one interface, and their batch APIs behind
another; the price table; text embedders (offline hashing, OpenAI-compatible, Gemini) with a disk cache and
a reranker; and API keys, read from the environment or a key file and never logged.

The settings of the embedder, the reranker and a vLLM server are its own (`settings.py`); asking an LLM
(journal, retries, budgets, the backend registry and its settings) is the service above it, `llm/`. The
lowest stage: imports nothing of the project beyond the base layer.
"""

from __future__ import annotations

from .batch import BatchBackend
from .keys import ApiKeyError, api_key
from .llm import Backend, Completion, Fatal, Rejected, Retryable, Unreachable
from .settings import EmbedderSettings, RerankerSettings

__all__ = ["ApiKeyError", "Backend", "BatchBackend", "Completion", "EmbedderSettings", "Fatal", "Rejected",
           "RerankerSettings", "Retryable", "Unreachable", "api_key"]
