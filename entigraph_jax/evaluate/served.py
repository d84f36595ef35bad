"""Sampling through a served model: the evaluation's prompts sent to any OpenAI-compatible text
`/completions` server (vLLM, SGLang) with `n` samples, temperature, top-p, stop strings and a seed,
instead of our own sampler. `ServedSampler.generate` answers as `Sampler.generate` does, so
closed-book, open-book and summary sampling, parsing, voting and the result are the same code either
way. The requests go through the LLM service (`llm.Session`, configured by `served.*`, an `LLMSettings`):
journaled beside the result, so an evaluation rerun after a failure asks nothing twice; retries, rate
limits and timeouts as generation's. `served.backend=vllm` serves the checkpoint with vLLM (a server
already answering at `served.base_url` is used, else `vllm serve` is started with prefix caching on,
which keeps the few-shot block's cache for every question, and stopped at the end).

Which stop string ended a sample is what closed-book scoring reads (the answer line is cut off the
text): vLLM says it in each choice's `stop_reason`, SGLang in `matched_stop`; a server that says
neither cannot score stop-string answers and is refused in one line. A server may answer fewer
choices than `n` (llama.cpp answers one); the rest are asked for again, in requests of their own, with
other seeds: a prompt's seeds come from the call's seed, the prompt's place and the samples already had.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from entigraph_jax.clients import Fatal
from entigraph_jax.config import ConfigError
from entigraph_jax.llm import BACKENDS, LLMSettings, Prompt, Request, Session, prompt_id
from entigraph_jax.models.sampling import Sample, SamplingParams

SECTION = "served"  # the settings' section, as the user sets it (every error names it)


def served_settings() -> LLMSettings:
    """`served.*`'s defaults: no server (our own sampler); a served model's requests each ask for every
    sample of a prompt, so fewer at a time and a longer timeout than generation's chats."""
    return LLMSettings(backend="", max_concurrency=64, timeout_s=600.0, json_mode=False)


def request_body(params: SamplingParams, n: int, seed: int) -> dict:
    """The rest of the `/completions` request for `n` samples (the prompt aside); top-k and stop tokens are
    vLLM's extensions, sent only when set."""
    body = {"n": n, "max_tokens": params.max_new_tokens, "temperature": params.temperature, "top_p": params.top_p,
            "seed": seed, "stop": list(params.stop)}
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
        raise Fatal(f"{SECTION}: {server} does not say which stop string ended a sample (vLLM's stop_reason, "
                    "SGLang's matched_stop), which scoring needs; serve the model with vLLM or SGLang")
    return Sample(text, [], "eos")


class ServedSampler:
    """`ServedSampler(settings, model_path, journal).generate(prompts, SamplingParams(...))` -> n `Sample`s per
    prompt, as `Sampler.generate`; `close()` (or `with`) stops a server it started."""

    def __init__(self, settings: LLMSettings, model_path: str, journal: Path):
        if not BACKENDS[settings.backend].completions:
            serving = ", ".join(n for n, b in BACKENDS.items() if b.completions)
            raise ConfigError(f"config: {SECTION}.backend={settings.backend} serves no text completions ({serving} "
                              "do)")
        if settings.mode == "batch":
            raise ConfigError(f"config: {SECTION}.mode=batch: a provider's batch API takes chats; text completions "
                              "go online")
        if not (settings.model or model_path):
            raise ConfigError(f"config: {SECTION}.model is empty and there is no model.path to serve")
        self.settings = dataclasses.replace(settings, model=settings.model or model_path)
        self.session = Session(self.settings, journal, SECTION, label="served")

    def __enter__(self) -> ServedSampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def request(self, prompt, params: SamplingParams, place: int, had: int) -> Request:
        """The request for the samples prompt `place` still lacks, having `had`."""
        seed = int(np.random.SeedSequence([params.seed, place, had]).generate_state(1)[0] >> 1)
        asked = Prompt("", prompt, completion=request_body(params, params.n - had, seed))
        return Request(prompt_id(asked, self.settings.model), SECTION, "completion",
                       prompt=dataclasses.asdict(asked))

    def generate(self, prompts: list, params: SamplingParams) -> list[list[Sample]]:
        if params.json:
            raise Fatal(f"{SECTION}: JSON-constrained sampling runs on our own sampler only")
        samples: list[list[Sample]] = [[] for _ in prompts]
        while todo := [i for i, had in enumerate(samples) if len(had) < params.n]:
            records = self.session.ask([self.request(prompts[i], params, i, len(samples[i])) for i in todo])
            if any(r is None for r in records):
                errors = "; ".join(f"{n} x {e}" for e, n in self.session.journal.errors(3))
                raise Fatal(f"{SECTION}: {sum(r is None for r in records)} of {len(records)} completions failed "
                            f"({errors}); rerun to ask them again")
            for i, record in zip(todo, records, strict=True):
                samples[i] += [served_sample(c, params, self.settings.base_url)
                               for c in record["choices"][: params.n - len(samples[i])]]
        return samples
