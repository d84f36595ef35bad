"""The clients' settings, which the commands that use a client embed as a section: `embedder` (evaluate's
RAG, SBP's pair mining), `reranker` (evaluate's RAG) and `vllm` (a vLLM server started for a run, inside
`llm.LLMSettings`). API keys are never settings: they come from the environment or `api_key_file`."""

from __future__ import annotations

import dataclasses

from entigraph_jax.settings import Settings, positive, setting

EMBEDDERS = ("hashing", "openai", "gemini", "model")
API_KEY_FILE = "a file whose first line is the API key, if it is not in the environment"


@dataclasses.dataclass(frozen=True)
class VLLMSettings(Settings):
    command: str = setting("vllm", "the vllm executable (a path, or e.g. \"python -m vllm.entrypoints.cli.main\")")
    args: tuple = setting((), "more `vllm serve` arguments: (\"--tensor-parallel-size\", \"8\", "
                          "\"--max-model-len\", \"8192\")")
    startup_s: float = setting(1200.0, "seconds to wait for /health (weights download and compile)", check=positive)


@dataclasses.dataclass(frozen=True)
class EmbedderSettings(Settings):
    backend: str = setting("hashing", "hashing (offline: hashed words and word pairs) | openai (an /embeddings "
                           "endpoint) | gemini | model (a Hugging Face embedding checkpoint of a family we load, "
                           "run by our own forward pass over every local device: models/embedding.py)",
                           choices=EMBEDDERS)
    model: str = setting("", "the embedding model's name (openai, gemini), or the checkpoint's folder or Hub name "
                         "(model: Qwen/Qwen3-Embedding-0.6B, the SBP paper's)")
    batch: int = setting(32, "texts per forward pass (model)", check=positive)
    max_tokens: int = setting(8192, "a longer text keeps its first tokens (model; Qwen3-Embedding: 32k)",
                              check=positive)
    dtype: str = setting("float32", "the checkpoint's weights and compute (model)",
                         choices=("float32", "bfloat16"))
    base_url: str = setting("", "the /embeddings server (openai) or the Gemini endpoint (\"\": the provider's own)")
    api_key_file: str = setting("", API_KEY_FILE)
    cache_dir: str = setting("", "a folder caching embeddings by text (\"\": none; open-book evaluation: "
                             "<checkpoint>.embeddings)")


@dataclasses.dataclass(frozen=True)
class RerankerSettings(Settings):
    model: str = setting("rerank-english-v3.0", "the reranking model (the paper: Cohere rerank-english-v3.0)")
    base_url: str = setting("https://api.cohere.com/v2", "the server holding /rerank (Cohere's, or vLLM, TEI, "
                            "Jina serving a cross-encoder)")
    api_key_file: str = setting("", API_KEY_FILE + " (COHERE_API_KEY)")
