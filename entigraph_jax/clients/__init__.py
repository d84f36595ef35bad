"""clients: what the project asks of other services — LLM chat clients (any OpenAI-compatible server,
Gemini through google-genai) behind one interface, and their batch APIs behind another; the price
table; text embedders (offline hashing, OpenAI-compatible, Gemini) with a disk cache; and API keys,
read from the environment or a key file and never logged.

Its settings (`llm`, `embedder`, `reranker` sections) are its own (`settings.py`); the commands
that use a client embed them. The lowest stage: imports nothing of the project beyond the base layer.
"""

from __future__ import annotations

from pathlib import Path

from .batch import BatchBackend
from .keys import ApiKeyError, api_key
from .llm import Backend, Completion, Fatal, Rejected, Retryable, Unreachable
from .settings import CLIENTS, EmbedderSettings, LLMSettings, RerankerSettings


def make_client(llm: LLMSettings, log_dir: str = ".") -> Backend:
    """The HTTP client the `llm` settings name (`backend`, `model`, `base_url`, key settings), with
    the provider's batch API too in batch mode; a missing key is `Fatal`. A vLLM server the client
    starts writes its log into `log_dir`."""
    batch = llm.mode == "batch"
    try:
        if llm.backend == "vllm":
            from .vllm import VLLMBackend

            return VLLMBackend(llm, Path(log_dir) / "vllm.log")
        if llm.backend == "openai":
            from .openai import OpenAIBackend, OpenAIBatchBackend

            hosted = "api.openai.com" in llm.base_url
            key = api_key(("OPENAI_API_KEY",), llm.api_key_file, required=hosted)
            return (OpenAIBatchBackend if batch else OpenAIBackend)(
                llm.base_url, llm.model, key, llm.timeout_s, llm.max_concurrency, llm.json_mode, llm.json_schema)
        if llm.backend == "gemini":
            from .gemini import GeminiBackend, GeminiBatchBackend

            key = api_key(("GEMINI_API_KEY", "GOOGLE_API_KEY"), llm.api_key_file, required=True)
            return (GeminiBatchBackend if batch else GeminiBackend)(llm.model, key, llm.base_url, llm.timeout_s,
                                                                    llm.json_schema)
    except ApiKeyError as e:
        raise Fatal(f"llm: {e}") from e
    raise Fatal(f"unknown llm.backend={llm.backend!r}; expected one of {', '.join(CLIENTS)}")


__all__ = ["CLIENTS", "ApiKeyError", "Backend", "BatchBackend", "Completion", "EmbedderSettings", "Fatal",
           "LLMSettings", "Rejected", "RerankerSettings", "Retryable", "Unreachable", "api_key", "make_client"]
