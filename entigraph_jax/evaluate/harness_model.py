"""Our JAX model and sampler as an lm-evaluation-harness model (imported only where `lm-eval` is installed).

`JaxLM` follows the harness's own Hugging Face backend (`HFLM`) wherever a choice changes a number:
texts are encoded as the tokenizer does (BOS where it adds one, not again where the text already starts
with it); an empty context is BOS (EOS where there is none); a context and continuation longer than the
model's positions lose tokens from the left; rolling log-likelihoods use the harness's own windows;
generation stops at the task's `until` strings and EOS, greedy unless the task samples.
"""

from __future__ import annotations

import numpy as np
from lm_eval import utils as harness_utils
from lm_eval.api.model import TemplateLM

from entigraph_jax.models.sampling import Sampler, SamplingParams

from .likelihood import continuation_logprobs

MAX_GEN_TOKS = 256  # the harness's default for generation tasks that name none (as HFLM)


class JaxLM(TemplateLM):
    """A model and its tokenizer as an lm-evaluation-harness model."""

    def __init__(self, model, tokenizer, batch: int = 16, max_length: int = 0):
        super().__init__()
        self.model, self.tokenizer_, self.batch = model, tokenizer, batch
        self.max_length = max_length or model.config.max_position_embeddings
        self._sampler: Sampler | None = None

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer_.eos_id

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer_.bos_id
        return bos if bos is not None else self.tokenizer_.eos_id

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        """As the tokenizer encodes `string` (BOS where it adds one); `add_special_tokens=False`: no BOS."""
        bos = self.tokenizer_.bos() if add_special_tokens is not False else []
        if add_special_tokens is None and bos and string.startswith(self.tokenizer_.decode(bos)):
            bos = []
        return bos + self.tokenizer_.encode(string)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        pairs = []
        for _, context, continuation in requests:
            whole = (context + continuation)[-(self.max_length + 1):]  # the model sees all but the last token
            pairs.append((whole[: len(whole) - len(continuation)], continuation))
        sums, greedy = continuation_logprobs(self.model, pairs, self.batch,
                                             "" if disable_tqdm else "harness loglikelihood")
        return [(float(s), bool(g)) for s, g in zip(sums, greedy, strict=True)]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows, owners = [], []
        for number, (string,) in enumerate(request.args for request in requests):
            for window in harness_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(string), prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length, context_len=1):
                context, continuation = harness_utils.make_disjoint_window(window)
                windows.append((None, context, continuation))
                owners.append(number)
        totals = np.zeros(len(requests))
        for owner, (logprob, _) in zip(owners, self._loglikelihood_tokens(windows, disable_tqdm), strict=True):
            totals[owner] += logprob
        return totals.tolist()

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        if self._sampler is None:
            self._sampler = Sampler(self.model, self.tokenizer_)
        answers: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for number, request in enumerate(requests):
            groups.setdefault(repr(sorted(request.args[1].items())), []).append(number)
        for numbers in groups.values():
            params = sampling_params(requests[numbers[0]].args[1], self.tokenizer_)
            longest = self.max_length - params.max_new_tokens
            for start in range(0, len(numbers), self.batch):
                part = numbers[start : start + self.batch]
                prompts = [self.tok_encode(requests[n].args[0])[-longest:] for n in part]
                for n, samples in zip(part, self._sampler.generate(prompts, params), strict=True):
                    answers[n] = samples[0].text
        return answers


def sampling_params(gen_kwargs: dict, tokenizer) -> SamplingParams:
    """A task's generation settings as our sampler's: `until` strings (the EOS text added, as the harness's
    backends do), `max_gen_toks` (or its aliases), greedy unless `do_sample` with a temperature."""
    until = gen_kwargs.get("until") or []
    until = [until] if isinstance(until, str) else list(until)
    if tokenizer.eos_id is not None and (eos := tokenizer.decode([tokenizer.eos_id])) and eos not in until:
        until.append(eos)
    new = next((gen_kwargs[k] for k in ("max_gen_toks", "max_new_tokens", "max_tokens") if k in gen_kwargs),
               MAX_GEN_TOKS)
    temperature = float(gen_kwargs.get("temperature", 0.0)) if gen_kwargs.get("do_sample") else 0.0
    return SamplingParams(max_new_tokens=int(new), temperature=temperature, stop=tuple(s for s in until if s),
                          top_p=float(gen_kwargs.get("top_p", 1.0)))
