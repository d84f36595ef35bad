"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, llama.cpp, Ollama, OpenAI.

aiohttp rather than httpx: at 300 requests/s it spends about a quarter of the CPU per request,
which is what keeps 64 requests in flight at the server's pace (benchmarks/generate_throughput.py).
"""

from __future__ import annotations

import json

import aiohttp

from .llm import Backend, Completion, Fatal, Rejected, Retryable, Unreachable, check_url, parse_retry_after


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, base_url: str, model: str, key: str | None, timeout_s: float, max_connections: int,
                 json_mode: bool = True):
        self.model, self.base_url, self.use_json_mode = model, check_url(base_url).rstrip("/"), json_mode
        self.url = f"{self.base_url}/chat/completions"
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout, self.max_connections = aiohttp.ClientTimeout(total=timeout_s), max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:  # created inside the running event loop
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers, timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=self.max_connections))
        return self._session

    async def complete(self, system, prompt, *, json_mode, max_output_tokens, temperature, schema=None):
        body = {"model": self.model, "temperature": temperature, "max_tokens": max_output_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}
        if json_mode and self.use_json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            async with self._client().post(self.url, json=body) as response:
                status, raw = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except TimeoutError as e:
            raise Retryable("timeout") from e
        except aiohttp.ClientConnectorError as e:  # refused, DNS: maybe transient, fatal if it lasts
            raise Unreachable(f"cannot reach {self.base_url} ({type(e).__name__}: {e})") from e
        except aiohttp.ClientError as e:  # a dropped or broken connection mid-request
            raise Retryable(f"{self.base_url}: {type(e).__name__}: {e}") from e
        if status == 429 or status >= 500:
            raise Retryable(f"HTTP {status}", parse_retry_after(retry_after))
        if status in (401, 403, 404):
            raise Fatal(f"{self.base_url}: HTTP {status} ({_message(raw)}); check the key, "
                        f"llm.model={self.model!r} and llm.base_url")
        if status >= 400:
            raise Rejected(f"HTTP {status} ({_message(raw)})")
        try:
            payload = json.loads(raw)
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise Retryable(f"malformed response body ({e!r})") from e
        if choice.get("finish_reason") == "content_filter":
            raise Rejected("blocked by the server's content filter")
        if not text.strip():
            raise Rejected(f"empty answer (finish_reason={choice.get('finish_reason')!r})")
        usage = payload.get("usage") or {}
        return Completion(text.strip(), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                          truncated=choice.get("finish_reason") == "length")

    async def aclose(self):
        if self._session is not None:
            await self._session.close()


def _message(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error")
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        return raw[:200].decode("utf-8", "replace")
