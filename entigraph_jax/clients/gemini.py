"""Gemini through google-genai's async client: JSON mode for the entity stage, safety blocks and
empty candidates as failures of that request, token usage from `usage_metadata`. The SDK's own
retries are off: the engine retries, so every backend behaves alike."""

from __future__ import annotations

import aiohttp
import httpx
from google import genai
from google.genai import errors, types

from .llm import Backend, Completion, Fatal, Rejected, Retryable, Unreachable, check_url, parse_retry_after


class GeminiBackend(Backend):
    name = "gemini"

    def __init__(self, model: str, key: str, base_url: str, timeout_s: float):
        options = types.HttpOptions(timeout=int(timeout_s * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1),
                                    base_url=check_url(base_url) if base_url else None)
        self.model = model
        self.client = genai.Client(api_key=key, http_options=options)

    async def complete(self, system, prompt, *, json_mode, max_output_tokens, temperature, schema=None):
        config = types.GenerateContentConfig(
            system_instruction=system, temperature=temperature, max_output_tokens=max_output_tokens,
            response_mime_type="application/json" if json_mode else None)
        try:
            response = await self.client.aio.models.generate_content(model=self.model, contents=prompt,
                                                                    config=config)
        except errors.APIError as e:
            headers = getattr(e.response, "headers", None) or {}
            if e.code == 429 or e.code >= 500:
                raise Retryable(f"HTTP {e.code} {e.status}", parse_retry_after(headers.get("retry-after"))) from e
            if e.code in (401, 403, 404):
                raise Fatal(f"Gemini: HTTP {e.code} {e.status} ({e.message}); check the key and "
                            f"llm.model={self.model!r}") from e
            raise Rejected(f"HTTP {e.code} {e.status} ({e.message})") from e
        except (TimeoutError, httpx.TimeoutException) as e:
            raise Retryable(f"timeout ({type(e).__name__})") from e
        except (httpx.ConnectError, aiohttp.ClientConnectorError) as e:  # the SDK uses aiohttp when installed
            raise Unreachable(f"cannot reach the Gemini API ({type(e).__name__}: {e})") from e
        except (httpx.TransportError, aiohttp.ClientError) as e:
            raise Retryable(f"Gemini API: {type(e).__name__}: {e}") from e
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
                          truncated=candidate.finish_reason == types.FinishReason.MAX_TOKENS)

    async def aclose(self):
        await self.client.aio.aclose()
