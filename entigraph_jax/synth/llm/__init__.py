"""LLM backends behind one interface (`base.Backend`): `openai` (any OpenAI-compatible server),
`gemini` (google-genai) and `local` (the project's own JAX model and sampler)."""

from __future__ import annotations

from entigraph_jax.keys import ApiKeyError, api_key

from .base import Backend, Completion, Fatal, Rejected, Retryable

BACKENDS = ("openai", "gemini", "local")


def make_backend(llm) -> Backend:
    """The backend an `llm` config section names; a missing key is `Fatal`."""
    try:
        return _make_backend(llm)
    except ApiKeyError as e:
        raise Fatal(f"llm: {e}") from e


def _make_backend(llm) -> Backend:
    if llm.backend == "openai":
        from .openai import OpenAIBackend

        hosted = "api.openai.com" in llm.base_url
        key = api_key(("OPENAI_API_KEY",), llm.api_key_file, required=hosted)
        return OpenAIBackend(llm.base_url, llm.model, key, llm.timeout_s, llm.max_concurrency, llm.json_mode)
    if llm.backend == "gemini":
        from .gemini import GeminiBackend

        key = api_key(("GEMINI_API_KEY", "GOOGLE_API_KEY"), llm.api_key_file, required=True)
        return GeminiBackend(llm.model, key, llm.base_url, llm.timeout_s)
    if llm.backend == "local":
        from .local import LocalBackend

        if not llm.tokenizer:
            raise Fatal("llm.backend='local' needs llm.tokenizer (and llm.model: a Hugging Face checkpoint folder)")
        return LocalBackend(llm.model, llm.tokenizer, llm.max_concurrency, llm.local_dtype)
    raise Fatal(f"unknown llm.backend={llm.backend!r}; expected one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "Completion", "Fatal", "Rejected", "Retryable", "make_backend"]
