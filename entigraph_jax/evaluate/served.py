"""Sampling through a served model: the evaluation's prompts sent to any OpenAI-compatible text
`/completions` server (vLLM, SGLang) with `n` samples, temperature, top-p, stop strings and a seed,
instead of our own sampler. `ServedSampler.generate` answers as `Sampler.generate` does, so
closed-book, open-book and summary sampling, parsing, voting and the report are the same code either
way. `served.backend=vllm` serves the checkpoint with vLLM as generation does (`clients/vllm.py`: a
server already answering at `served.base_url` is used, else `vllm serve` is started with prefix
caching on, which keeps the few-shot block's cache for every question, and stopped at the end).

Which stop string ended a sample is what closed-book scoring reads (the answer line is cut off the
text): vLLM says it in each choice's `stop_reason`, SGLang in `matched_stop`; a server that says
neither cannot score stop-string answers and is refused in one line. A server may answer fewer
choices than `n` (llama.cpp answers one); the rest are asked for again with other seeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import tenacity

from entigraph_jax.clients import Fatal, LLMSettings, Rejected, Retryable, Unreachable, make_client
from entigraph_jax.clients.settings import API_KEY_FILE, VLLMSettings
from entigraph_jax.errors import redact
from entigraph_jax.models.sampling import Sample, SamplingParams
from entigraph_jax.settings import Settings, at_least, positive, section, setting

BACKENDS = ("", "openai", "vllm")


@dataclasses.dataclass(frozen=True)
class ServedSettings(Settings):
    backend: str = setting("", "\"\": our own sampler on this machine's devices (TPU, GPU, CPU) | openai: any "
                           "OpenAI-compatible /completions server that reports its stop strings (vLLM, SGLang) | "
                           "vllm: vLLM serving model.path, started here unless one answers at base_url",
                           choices=BACKENDS)
    model: str = setting("", "the model name the server knows (\"\": model.path)")
    base_url: str = setting("http://localhost:8000/v1", "the server")
    api_key_file: str = setting("", API_KEY_FILE + " (else OPENAI_API_KEY; a local server needs none)")
    max_concurrency: int = setting(64, "prompts in flight, each asking for all its samples", check=positive)
    timeout_s: float = setting(600.0, "per request", check=positive)
    max_retries: int = setting(6, "per request, on 429, 5xx, timeouts and dropped connections", check=at_least(0))
    vllm: VLLMSettings = section(VLLMSettings, "backend=vllm: starting a server if none answers at base_url")


def request_body(prompt: str | list[int], params: SamplingParams, n: int, seed: int) -> dict:
    """The `/completions` request for `n` samples of `prompt` (text, or token ids as vLLM takes them);
    top-k and stop tokens are vLLM's extensions, sent only when set."""
    body = {"prompt": prompt, "n": n, "max_tokens": params.max_new_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "seed": seed, "stop": list(params.stop)}
    if params.top_k:
        body["top_k"] = params.top_k
    if params.stop_tokens:
        body["stop_token_ids"] = list(params.stop_tokens)
    return body


def served_sample(choice: dict, params: SamplingParams, server: str) -> Sample:
    """One answered choice as our sampler's `Sample` (no token ids: the server keeps them)."""
    text, reason = choice.get("text") or "", choice.get("finish_reason")
    if reason == "length":
        return Sample(text, [], "length")
    matched = choice.get("stop_reason", choice.get("matched_stop"))
    if isinstance(matched, str) and matched in params.stop:
        return Sample(text, [], "stop", matched)
    if params.stop and reason == "stop" and "stop_reason" not in choice and "matched_stop" not in choice:
        raise Fatal(f"{server} does not say which stop string ended a sample (vLLM's stop_reason, SGLang's "
                    "matched_stop), which scoring needs; serve the model with vLLM or SGLang")
    return Sample(text, [], "eos")


class ServedSampler:
    """`ServedSampler(settings, model_path, tokenizer, log_dir).generate(prompts, SamplingParams(...))` ->
    n `Sample`s per prompt, as `Sampler.generate`; `close()` (or `with`) stops a server it started."""

    def __init__(self, settings: ServedSettings, model_path: str, tokenizer, log_dir: Path):
        model = settings.model or model_path
        if not model:
            raise Fatal("served: served.model is empty and there is no model.path to serve")
        self.settings, self.tokenizer = settings, tokenizer
        self.client = make_client(LLMSettings(
            backend=settings.backend, model=model, base_url=settings.base_url, api_key_file=settings.api_key_file,
            max_concurrency=settings.max_concurrency, timeout_s=settings.timeout_s, vllm=settings.vllm), str(log_dir))
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.client.start())

    def __enter__(self) -> ServedSampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()

    def generate(self, prompts: list, params: SamplingParams) -> list[list[Sample]]:
        if params.json:
            raise Fatal("served: JSON-constrained sampling runs on our own sampler only")
        return self.loop.run_until_complete(self._all(prompts, params))

    async def _all(self, prompts: list, params: SamplingParams) -> list[list[Sample]]:
        slots = asyncio.Semaphore(self.settings.max_concurrency)

        async def one(i: int, prompt) -> list[Sample]:
            async with slots:
                return await self._samples(i, prompt, params)

        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))

    async def _samples(self, i: int, prompt, params: SamplingParams) -> list[Sample]:
        """The n samples of prompt `i`, in as many requests as the server needs; each request's seed
        comes from the call's seed, the prompt's place and the samples already had."""
        samples: list[Sample] = []
        while len(samples) < params.n:
            seed = int(np.random.SeedSequence([params.seed, i, len(samples)]).generate_state(1)[0] >> 1)
            payload = await self._ask(request_body(prompt, params, params.n - len(samples), seed))
            choices = sorted(payload.get("choices") or [], key=lambda c: c.get("index", 0))
            if not choices:
                raise Fatal(f"served: {self.client.base_url}/completions answered no choices")
            samples += [served_sample(c, params, self.client.base_url) for c in choices[: params.n - len(samples)]]
        return samples

    async def _ask(self, body: dict) -> dict:
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, Retryable) and not isinstance(e, Unreachable)),
            wait=tenacity.wait_exponential_jitter(1.0, 60.0), stop=tenacity.stop_after_attempt(
                self.settings.max_retries + 1), reraise=True)
        try:
            return await retrying(self.client.text_completion, body)
        except (Retryable, Rejected) as e:
            raise Fatal(f"served: {redact(str(e), 300)}") from e
