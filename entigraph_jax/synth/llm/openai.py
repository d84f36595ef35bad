"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, llama.cpp, Ollama, OpenAI."""

from __future__ import annotations

import httpx

from .base import Backend, Completion, Fatal, Rejected, Retryable, parse_retry_after


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, base_url: str, model: str, key: str | None, timeout_s: float, max_connections: int,
                 json_mode: bool = True):
        self.model, self.base_url, self.use_json_mode = model, base_url.rstrip("/"), json_mode
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout_s, limits=limits)

    async def complete(self, system, prompt, *, json_mode, max_output_tokens, temperature):
        body = {"model": self.model, "temperature": temperature, "max_tokens": max_output_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}
        if json_mode and self.use_json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            response = await self.client.post("/chat/completions", json=body)
        except httpx.TimeoutException as e:
            raise Retryable(f"timeout ({type(e).__name__})") from e
        except httpx.TransportError as e:  # refused, reset, DNS: maybe transient
            raise Retryable(f"cannot reach {self.base_url} ({type(e).__name__}: {e})") from e
        status = response.status_code
        if status == 429 or status >= 500:
            raise Retryable(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
        if status in (401, 403, 404):
            raise Fatal(f"{self.base_url}: HTTP {status} ({_message(response)}); check the key, "
                        f"llm.model={self.model!r} and llm.base_url")
        if status >= 400:
            raise Rejected(f"HTTP {status} ({_message(response)})")
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise Retryable(f"malformed response body ({e!r})") from e
        if choice.get("finish_reason") == "content_filter":
            raise Rejected("blocked by the server's content filter")
        if not text.strip():
            raise Rejected(f"empty answer (finish_reason={choice.get('finish_reason')!r})")
        usage = payload.get("usage") or {}
        return Completion(text.strip(), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))

    async def aclose(self):
        await self.client.aclose()


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except ValueError:
        return response.text[:200]
