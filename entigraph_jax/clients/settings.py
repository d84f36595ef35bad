"""The clients' settings, which the commands that use a client embed as a section: `llm` (generate),
`embedder` (evaluate's RAG, SBP's pair mining) and `reranker` (evaluate's RAG). API keys are never
settings: they come from the environment or `api_key_file`."""

from __future__ import annotations

import dataclasses

from entigraph_jax.settings import Settings, at_least, between, positive, section, setting

CLIENTS = ("openai", "gemini", "vllm")
MODES = ("online", "batch")
EMBEDDERS = ("hashing", "openai", "gemini")
API_KEY_FILE = "a file whose first line is the API key, if it is not in the environment"


@dataclasses.dataclass(frozen=True)
class VLLMSettings(Settings):
    command: str = setting("vllm", "the vllm executable (a path, or e.g. \"python -m vllm.entrypoints.cli.main\")")
    args: tuple = setting((), "more `vllm serve` arguments: (\"--tensor-parallel-size\", \"8\", "
                          "\"--max-model-len\", \"8192\")")
    startup_s: float = setting(1200.0, "seconds to wait for /health (weights download and compile)", check=positive)


@dataclasses.dataclass(frozen=True)
class LLMSettings(Settings):
    backend: str = setting("openai", "openai (vLLM, SGLang, llama.cpp, Ollama, OpenAI) | gemini | vllm (served "
                           "here)", choices=CLIENTS)
    mode: str = setting("online", "online: one call per request | batch: the provider's batch API at its batch "
                        "price", choices=MODES)
    batch_size: int = setting(0, "batch mode: requests per batch (0: the provider's limit; bytes are kept within "
                              "it too)", check=at_least(0))
    poll_s: float = setting(30.0, "batch mode: seconds between status checks of the open batches", check=positive)
    model: str = setting("", "the model name the server knows")
    base_url: str = setting("http://localhost:8000/v1", "the server (openai, vllm); \"\" for Gemini's own endpoint")
    api_key_file: str = setting("", API_KEY_FILE)
    json_mode: bool = setting(True, "ask for a JSON object in the entity stage where the server supports it")
    json_schema: bool = setting(True, "... shaped by the entity schema (structured outputs; JSON mode where "
                                "refused)")
    max_concurrency: int = setting(32, "requests in flight", check=positive)
    requests_per_minute: float = setting(0.0, "client-side rate limit (0: none)", check=at_least(0))
    tokens_per_minute: float = setting(0.0, "client-side token rate limit, input + output (0: none)",
                                       check=at_least(0))
    timeout_s: float = setting(120.0, "per request (HTTP backends; a local model decodes in batches, untimed)",
                               check=positive)
    max_retries: int = setting(6, "per request, on 429, 5xx, timeouts and dropped connections", check=at_least(0))
    max_failures_in_a_row: int = setting(50, "failed attempts with no answer between them that stop the run",
                                         check=positive)
    max_failure_fraction: float = setting(0.1, "a run ending with more failed requests than this share fails "
                                          "(exit 1)", check=between(0, 1))
    backoff_initial_s: float = setting(1.0, "first wait between retries (exponential with jitter, or Retry-After)",
                                       check=at_least(0))
    backoff_max_s: float = setting(60.0, "longest wait between retries", check=at_least(0))
    temperature: float = setting(1.0, "sampling temperature of every request", check=at_least(0))
    max_output_tokens: int = setting(2048, "per request", check=positive)
    price_per_million_input: float = setting(-1.0, "USD; < 0: the price table's for llm.model (clients/prices.py)")
    price_per_million_output: float = setting(-1.0, "USD; < 0: the price table's")
    price_per_million_cached_input: float = setting(-1.0, "USD per million input tokens the provider served from "
                                                    "its prompt cache; < 0: the price source's cached rate (the "
                                                    "full input price where llm.price_per_million_input is set)")
    batch_discount: float = setting(0.5, "the share of the price a batch request pays", check=between(0, 1))
    vllm: VLLMSettings = section(VLLMSettings, "backend=vllm: starting a server if none answers at base_url")


@dataclasses.dataclass(frozen=True)
class EmbedderSettings(Settings):
    backend: str = setting("hashing", "hashing (offline: hashed words and word pairs) | openai (an /embeddings "
                           "endpoint) | gemini", choices=EMBEDDERS)
    model: str = setting("", "the embedding model's name (openai, gemini)")
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
