"""The one settings type of asking an LLM (`LLMSettings`): generation's `llm.*`, served evaluation's
`served.*` and the summary judge's `tasks.summary.judge.*` are each an `LLMSettings` section, with
defaults of their own. API keys are never settings: they come from the environment or `api_key_file`."""

from __future__ import annotations

import dataclasses

from entigraph_jax.clients.settings import API_KEY_FILE, VLLMSettings
from entigraph_jax.data import TokenizerSettings
from entigraph_jax.settings import SettingError, Settings, at_least, between, positive, section, setting

from .backends import BACKENDS

MODES = ("online", "batch")


def _known_backend(name: str) -> str | None:
    return None if name in ("", *BACKENDS) else f"expected one of {', '.join(BACKENDS)}"


@dataclasses.dataclass(frozen=True)
class LocalSettings(Settings):
    tokenizer: TokenizerSettings = section(TokenizerSettings, "the served model's tokenizer")
    param_dtype: str = setting("", "dtype of the served weights (\"\": float32 on CPU, else bfloat16)",
                               choices=("", "float32", "bfloat16", "float16"))


@dataclasses.dataclass(frozen=True)
class LLMSettings(Settings):
    backend: str = setting("openai", " | ".join(f"{name} ({b.about})" for name, b in BACKENDS.items()) +
                           " | \"\": none (served.*: our own sampler samples)", check=_known_backend)
    mode: str = setting("online", "online: one call per request | batch: the provider's batch API at its batch "
                        "price", choices=MODES)
    batch_size: int = setting(0, "batch mode: requests per batch (0: the provider's limit; bytes are kept within "
                              "it too)", check=at_least(0))
    poll_s: float = setting(30.0, "batch mode: seconds between status checks of the open batches", check=positive)
    model: str = setting("", "the model name the server knows (local: a checkpoint folder)")
    base_url: str = setting("http://localhost:8000/v1", "the server (openai, vllm); \"\" for Gemini's own endpoint")
    api_key_file: str = setting("", API_KEY_FILE)
    json_mode: bool = setting(True, "ask for a JSON object where a request wants one and the server supports it")
    json_schema: bool = setting(True, "... shaped by the request's schema (structured outputs; JSON mode where "
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
    temperature: float = setting(1.0, "sampling temperature of every chat request", check=at_least(0))
    max_output_tokens: int = setting(2048, "per chat request", check=positive)
    price_per_million_input: float = setting(-1.0, "USD; < 0: the price table's for the model (clients/prices.py)")
    price_per_million_output: float = setting(-1.0, "USD; < 0: the price table's")
    price_per_million_cached_input: float = setting(-1.0, "USD per million input tokens the provider served from "
                                                    "its prompt cache; < 0: the price source's cached rate (the "
                                                    "full input price where price_per_million_input is set)")
    batch_discount: float = setting(0.5, "the share of the price a batch request pays", check=between(0, 1))
    vllm: VLLMSettings = section(VLLMSettings, "backend=vllm: starting a server if none answers at base_url")
    local: LocalSettings = section(LocalSettings, "backend=local: our own model behind the KV-cache sampler")

    def validate(self):
        if self.mode == "batch" and self.backend and not BACKENDS[self.backend].batch:
            batched = ", ".join(n for n, b in BACKENDS.items() if b.batch)
            raise SettingError("mode", f"batch needs a provider's batch API (backend {batched}), not "
                               f"backend={self.backend!r}")
