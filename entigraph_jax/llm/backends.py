"""The one registry of LLM backends: what each is, whether it has a provider's batch API, whether it serves
raw text completions (what served evaluation samples through), and how it is built from `LLMSettings`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from entigraph_jax.clients import ApiKeyError, Backend, Fatal, api_key


def _openai(llm, log_dir: Path) -> Backend:
    from entigraph_jax.clients.openai import OpenAIBackend, OpenAIBatchBackend

    key = api_key(("OPENAI_API_KEY",), llm.api_key_file, required="api.openai.com" in llm.base_url)
    return (OpenAIBatchBackend if llm.mode == "batch" else OpenAIBackend)(
        llm.base_url, llm.model, key, llm.timeout_s, llm.max_concurrency, llm.json_mode, llm.json_schema)


def _gemini(llm, log_dir: Path) -> Backend:
    from entigraph_jax.clients.gemini import GeminiBackend, GeminiBatchBackend

    key = api_key(("GEMINI_API_KEY", "GOOGLE_API_KEY"), llm.api_key_file, required=True)
    return (GeminiBatchBackend if llm.mode == "batch" else GeminiBackend)(llm.model, key, llm.base_url,
                                                                          llm.timeout_s, llm.json_schema)


def _vllm(llm, log_dir: Path) -> Backend:
    from entigraph_jax.clients.vllm import VLLMBackend

    return VLLMBackend(llm, log_dir / "vllm.log")


def _local(llm, log_dir: Path) -> Backend:
    from .local import LocalBackend

    return LocalBackend(llm.model, llm.local, llm.max_concurrency)


@dataclasses.dataclass(frozen=True)
class BackendKind:
    about: str
    make: Callable[[object, Path], Backend]  # (LLMSettings, the folder a server's log goes to) -> the backend
    batch: bool = False  # a provider's batch API (mode=batch)
    completions: bool = False  # raw text completions with n samples and stop strings (served evaluation)


BACKENDS = {
    "openai": BackendKind("any OpenAI-compatible server: vLLM, SGLang, llama.cpp, Ollama, OpenAI", _openai,
                          batch=True, completions=True),
    "gemini": BackendKind("Gemini through google-genai", _gemini, batch=True),
    "vllm": BackendKind("vLLM serving the model, started here unless one answers at base_url", _vllm,
                        completions=True),
    "local": BackendKind("our own sampler; model is a checkpoint folder", _local),
}


def make_backend(llm, log_dir: str | Path, section: str) -> Backend:
    """The backend `llm` (an `LLMSettings`) names; a missing key or backend is `Fatal`, naming `section`."""
    if llm.backend not in BACKENDS:
        raise Fatal(f"{section}.backend={llm.backend!r}: expected one of {', '.join(BACKENDS)}")
    try:
        return BACKENDS[llm.backend].make(llm, Path(log_dir))
    except ApiKeyError as e:
        raise Fatal(f"{section}: {e}") from e
