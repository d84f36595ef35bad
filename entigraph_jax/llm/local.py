"""The project's own JAX model as an LLM backend: a checkpoint (an instruct model on a TPU, say)
served by the KV-cache sampler. Requests arriving together are batched: the engine's concurrent
requests queue up and are decoded as one batch, off the event loop's thread. Prompts go through the
tokenizer's own chat template; `json_mode` requests are decoded under the JSON constraint, as a
server's json_object mode would answer them."""

from __future__ import annotations

import asyncio
import json

import jax

from entigraph_jax.clients import Backend, Completion, Rejected
from entigraph_jax.data.chat import ChatError, chat_template
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler, SamplingParams


class LocalBackend(Backend):
    name = "local"
    timed = False  # a request waits for the batches before it: its time says nothing about a fault

    def __init__(self, checkpoint: str, settings, max_batch: int, seed: int = 0):
        """`settings`: `LLMSettings.local`."""
        self.tokenizer = settings.tokenizer.load(checkpoint)
        self.template = chat_template(self.tokenizer)
        # bfloat16 matmuls are emulated on CPU (1.5x slower than float32 there)
        dtype = settings.param_dtype or ("float32" if jax.default_backend() == "cpu" else "bfloat16")
        self.sampler = Sampler(load(checkpoint, dtype), self.tokenizer)
        self.max_batch, self.seed, self.batches = max_batch, seed, 0
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    async def complete(self, system, prompt, *, json_mode, max_output_tokens, temperature, schema=None):
        if self._queue is None:  # created inside the running loop
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._serve())
        ids = self.prompt(system, prompt)
        answer = asyncio.get_running_loop().create_future()
        shape = json.dumps(schema or {}) if json_mode else ""
        await self._queue.put(((max_output_tokens, temperature, shape), ids, answer))
        sample = await answer
        if not sample.text.strip():
            raise Rejected("empty answer")
        return Completion(sample.text.strip(), len(ids), len(sample.tokens), truncated=sample.finish_reason == "length")

    def prompt(self, system: str, prompt: str) -> list[int]:
        """The request through the chat template; a template without a system role (Gemma's) gets
        the system text at the head of the user turn instead."""
        user = [{"role": "user", "content": prompt}]
        if not system:
            return self.template.prompt(user)
        try:
            return self.template.prompt([{"role": "system", "content": system}, *user])
        except ChatError:
            return self.template.prompt([{"role": "user", "content": f"{system}\n\n{prompt}"}])

    async def _serve(self):
        stop_tokens, stop_strings = self.template.stop()
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let the other workers' requests arrive
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            for key in dict.fromkeys(k for k, _, _ in batch):  # one decode per sampling setting
                group = [(ids, answer) for k, ids, answer in batch if k == key]
                params = SamplingParams(max_new_tokens=key[0], temperature=key[1], stop=stop_strings,
                                        stop_tokens=stop_tokens, seed=self.seed + self.batches,
                                        json=bool(key[2]), json_schema=key[2])
                self.batches += 1
                try:
                    samples = await asyncio.to_thread(self.sampler.generate, [ids for ids, _ in group], params)
                except Exception as e:  # a failed decode fails its requests, not the server
                    for _, answer in group:
                        answer.set_exception(Rejected(f"local decoding failed: {e}"))
                    continue
                for (_, answer), (sample,) in zip(group, samples, strict=True):
                    answer.set_result(sample)

    async def start(self):
        self.sampler.stop.clear()

    async def aclose(self):
        self.sampler.stop.set()  # a decode in its thread ends at its next chunk: a SIGTERM waits seconds, not a batch
        if self._worker is not None:
            self._worker.cancel()
