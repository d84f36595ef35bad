"""Gemini through google-genai's async client: JSON mode for the entity stage (with the entity schema
as `response_json_schema` where asked), safety blocks and empty candidates as failures of that
request, token usage from `usage_metadata`; and Gemini batch mode (inline requests). The SDK's own
retries are off: the engine retries, so every backend behaves alike."""

from __future__ import annotations

import json

import aiohttp
import httpx
from google import genai
from google.genai import errors, types

from entigraph_jax.errors import redact

from .batch import COMPLETED, EXPIRED, FAILED, RUNNING, BatchBackend, BatchItem, BatchStatus
from .llm import (
    Backend,
    Completion,
    Fatal,
    Rejected,
    Retryable,
    Unreachable,
    check_url,
    parse_retry_after,
    portable_schema,
)


class GeminiBackend(Backend):
    name = "gemini"

    def __init__(self, model: str, key: str, base_url: str, timeout_s: float, json_schema: bool = True):
        options = types.HttpOptions(timeout=int(timeout_s * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1),
                                    base_url=check_url(base_url) if base_url else None)
        self.model, self.use_schema = model, json_schema
        self.client = genai.Client(api_key=key, http_options=options)

    def config(self, system, *, json_mode, max_output_tokens, temperature, schema=None):
        return types.GenerateContentConfig(
            system_instruction=system, temperature=temperature, max_output_tokens=max_output_tokens,
            response_mime_type="application/json" if json_mode else None,
            response_json_schema=portable_schema(schema) if json_mode and self.use_schema and schema else None)

    async def _call(self, call):
        """Await an SDK call, its errors as ours."""
        try:
            return await call
        except errors.APIError as e:
            headers = getattr(e.response, "headers", None) or {}
            if e.code == 429 or e.code >= 500:
                raise Retryable(f"HTTP {e.code} {e.status}", parse_retry_after(headers.get("retry-after")),
                                rate_limited=e.code == 429) from e
            if e.code in (401, 403, 404):
                raise Fatal(f"Gemini: HTTP {e.code} {e.status} ({redact(str(e.message), 300)}); check the key and "
                            f"the model ({self.model!r})") from e
            raise Rejected(f"HTTP {e.code} {e.status} ({redact(str(e.message), 300)})") from e
        except (TimeoutError, httpx.TimeoutException) as e:
            raise Retryable(f"timeout ({type(e).__name__})") from e
        except (httpx.ConnectError, aiohttp.ClientConnectorError) as e:  # the SDK uses aiohttp when installed
            raise Unreachable(f"cannot reach the Gemini API ({type(e).__name__}: {e})") from e
        except (httpx.TransportError, aiohttp.ClientError) as e:
            raise Retryable(f"Gemini API: {type(e).__name__}: {e}") from e
        except UnicodeDecodeError as e:  # the SDK decodes any body, an error's too, as UTF-8 text
            raise Retryable(f"Gemini API: a body that is not UTF-8 text ({e.reason} at byte {e.start})") from e

    async def complete(self, system, prompt, *, json_mode, max_output_tokens, temperature, schema=None):
        config = self.config(system, json_mode=json_mode, max_output_tokens=max_output_tokens,
                             temperature=temperature, schema=schema)
        return completion(await self._call(self.client.aio.models.generate_content(
            model=self.model, contents=prompt, config=config)))

    async def aclose(self):
        await self.client.aio.aclose()


def completion(response: types.GenerateContentResponse) -> Completion:
    """An answer as a `Completion`; `Rejected` if blocked or empty."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise Rejected(f"prompt blocked ({feedback.block_reason})")
    if not response.candidates:
        raise Rejected("no candidates in the answer")
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text)
    if not text.strip():
        raise Rejected(f"empty answer (finish_reason={candidate.finish_reason})")
    usage = response.usage_metadata
    return Completion(text.strip(), int(usage.prompt_token_count or 0) if usage else 0,
                      int(usage.candidates_token_count or 0) if usage else 0,
                      truncated=candidate.finish_reason == types.FinishReason.MAX_TOKENS,
                      cached_input_tokens=int(usage.cached_content_token_count or 0) if usage else 0)

class GeminiBatchBackend(GeminiBackend, BatchBackend):
    """Gemini batch mode with inline requests (up to 20 MB a batch; our key is its display name)."""

    max_requests, max_bytes = 50_000, 19 * 2**20

    def _request(self, item: BatchItem) -> types.InlinedRequest:
        return types.InlinedRequest(contents=item.prompt, metadata={"key": item.custom_id}, config=self.config(
            item.system, json_mode=item.json_mode, max_output_tokens=item.max_output_tokens,
            temperature=item.temperature, schema=item.schema))

    def size(self, item: BatchItem) -> int:
        return len(item.system.encode()) + len(item.prompt.encode()) + 512 + len(json.dumps(item.schema or {}))

    async def submit(self, items, key):
        job = await self._call(self.client.aio.batches.create(
            model=self.model, src=[self._request(item) for item in items], config={"display_name": key}))
        return job.name

    async def find(self, key):
        pager = await self._call(self.client.aio.batches.list(config={"page_size": 100}))
        async for job in pager:
            if job.display_name == key:
                return job.name
        return None

    async def status(self, batch_id):
        job = await self._call(self.client.aio.batches.get(name=batch_id))
        state = GEMINI_STATES.get(job.state.name if job.state else "", RUNNING)
        return BatchStatus(state, str(job.error.message) if job.error else job.state.name)

    async def cancel(self, batch_id):
        await self._call(self.client.aio.batches.cancel(name=batch_id))

    async def results(self, batch_id):
        job = await self._call(self.client.aio.batches.get(name=batch_id))
        for answer in (job.dest.inlined_responses if job.dest else None) or []:
            key = (answer.metadata or {}).get("key")
            if answer.error is not None:
                code = answer.error.code or 0
                kind = Retryable if code == 429 or code >= 500 else Rejected
                yield key, kind(f"batch: {code} {answer.error.message}")
                continue
            try:
                yield key, completion(answer.response)
            except (Retryable, Rejected) as e:
                yield key, e


GEMINI_STATES = {"JOB_STATE_SUCCEEDED": COMPLETED, "JOB_STATE_PARTIALLY_SUCCEEDED": COMPLETED,
                 "JOB_STATE_EXPIRED": EXPIRED, "JOB_STATE_CANCELLED": EXPIRED,
                 "JOB_STATE_FAILED": FAILED}
