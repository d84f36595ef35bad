"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, llama.cpp, Ollama, OpenAI; and the
OpenAI Batch API (upload a JSONL of requests, create a batch, poll it, download its output and error
files), which vLLM's and other servers' batch front ends speak too.

aiohttp rather than httpx: at 300 requests/s it spends about a quarter of the CPU per request,
which is what keeps 64 requests in flight at the server's pace (benchmarks/generate_throughput.py).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile

import aiohttp

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
    rate_limit_wait,
)

BATCH_STATES = {"validating": RUNNING, "in_progress": RUNNING, "finalizing": RUNNING, "cancelling": RUNNING,
                "completed": COMPLETED, "expired": EXPIRED, "cancelled": EXPIRED, "failed": FAILED}


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, base_url: str, model: str, key: str | None, timeout_s: float, max_connections: int,
                 json_mode: bool = True, json_schema: bool = True):
        self.model, self.base_url, self.use_json_mode = model, check_url(base_url).rstrip("/"), json_mode
        self.use_schema = json_mode and json_schema  # dropped for the run if the server refuses schemas
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

    def body(self, system, prompt, *, json_mode, max_output_tokens, temperature, schema=None) -> dict:
        """The chat-completions request: a JSON schema for the answer where asked and not refused,
        else a JSON object (`json_mode`)."""
        body = {"model": self.model, "temperature": temperature, "max_tokens": max_output_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}
        if json_mode and self.use_schema and schema:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": portable_schema(schema), "strict": False}}
        elif json_mode and self.use_json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    async def _send(self, method: str, url: str, **kwargs) -> tuple[int, bytes, float]:
        """(status, body, seconds its rate-limit headers say to hold back) of one HTTP call; the errors
        every call shares, raised."""
        try:
            async with self._client().request(method, url, **kwargs) as response:
                status, raw = response.status, await response.read()
                retry_after, wait = response.headers.get("Retry-After"), rate_limit_wait(response.headers)
        except TimeoutError as e:
            raise Retryable("timeout") from e
        except aiohttp.ClientConnectorError as e:  # refused, DNS: maybe transient, fatal if it lasts
            raise Unreachable(f"cannot reach {self.base_url} ({type(e).__name__}: {e})") from e
        except aiohttp.ClientError as e:  # a dropped or broken connection mid-request
            raise Retryable(f"{self.base_url}: {type(e).__name__}: {e}") from e
        if status == 429:
            raise Retryable("HTTP 429", parse_retry_after(retry_after) or wait or None, rate_limited=True)
        if status >= 500:
            raise Retryable(f"HTTP {status} ({_message(raw)})", parse_retry_after(retry_after))
        if status in (401, 403, 404):
            raise Fatal(f"{self.base_url}: HTTP {status} ({_message(raw)}); check the key, the model "
                        f"({self.model!r}) and the base_url")
        return status, raw, wait

    async def complete(self, system, prompt, *, json_mode, max_output_tokens, temperature, schema=None):
        body = self.body(system, prompt, json_mode=json_mode, max_output_tokens=max_output_tokens,
                         temperature=temperature, schema=schema)
        with_schema = (body.get("response_format") or {}).get("type") == "json_schema"
        try:
            status, raw, wait = await self._send("POST", self.url, json=body)
        except Retryable as e:  # some servers answer an unsupported response format with a 500
            if with_schema and _about_schema(str(e)):
                self._drop_schema(str(e))
            raise
        if status == 400 and with_schema and _about_schema(_message(raw)):
            self._drop_schema(_message(raw))
        if status >= 400:
            raise Rejected(f"HTTP {status} ({_message(raw)})")
        try:
            payload = json.loads(raw)
        except ValueError as e:
            raise Retryable(f"malformed response body ({redact(repr(e), 200)})") from e
        return dataclasses.replace(completion(payload), wait_s=wait)

    async def complete_text(self, prompt, body: dict) -> Completion:
        """POST `/completions`, the text (not chat) endpoint, with `prompt`, `body` and this client's model.
        `Retryable` as every call, `Rejected` for another refusal."""
        status, raw, wait = await self._send("POST", f"{self.base_url}/completions",
                                             json={"model": self.model, "prompt": prompt, **body})
        if status >= 400:
            raise Rejected(f"{self.base_url}/completions: HTTP {status} ({_message(raw)})")
        try:
            payload = json.loads(raw)
            choices = sorted(payload.get("choices") or [], key=lambda c: c.get("index", 0))
            usage = payload.get("usage") or {}
        except (ValueError, AttributeError, TypeError) as e:
            raise Retryable(f"malformed response body ({redact(repr(e), 200)})") from e
        if not choices:
            raise Retryable(f"{self.base_url}/completions answered no choices")
        return Completion("", int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                          wait_s=wait, choices=tuple(choices))

    def _drop_schema(self, why: str):
        """A server without structured outputs: JSON mode (and re-asks) from now on."""
        self.use_schema = False
        raise Retryable(f"the server refused a JSON schema ({why[:200]}); asking for JSON mode instead",
                        retry_after=0.0)

    async def aclose(self):
        if self._session is not None:
            await self._session.close()


def completion(payload) -> Completion:
    """A chat-completion body as a `Completion`; `Retryable` if it is not one, `Rejected` if empty or filtered."""
    try:
        choice = payload["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        raise Retryable(f"malformed response body ({redact(repr(e), 200)})") from e
    if choice.get("finish_reason") == "content_filter":
        raise Rejected("blocked by the server's content filter")
    if not text.strip():
        raise Rejected(f"empty answer (finish_reason={choice.get('finish_reason')!r})")
    usage = payload.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Completion(text.strip(), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                      truncated=choice.get("finish_reason") == "length", cached_input_tokens=int(cached))


class OpenAIBatchBackend(OpenAIBackend, BatchBackend):
    """The OpenAI Batch API: at most 50,000 requests and 200 MB of input per batch, answers within 24 h."""

    max_requests, max_bytes = 50_000, 190 * 2**20

    def _line(self, item: BatchItem) -> bytes:
        body = self.body(item.system, item.prompt, json_mode=item.json_mode, max_output_tokens=item.max_output_tokens,
                         temperature=item.temperature, schema=item.schema)
        line = {"custom_id": item.custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
        return json.dumps(line, ensure_ascii=False).encode() + b"\n"

    def size(self, item: BatchItem) -> int:
        return len(self._line(item))

    async def _json(self, method: str, path: str, **kwargs) -> dict:
        status, raw, _ = await self._send(method, f"{self.base_url}{path}", **kwargs)
        if status >= 400:
            raise Fatal(f"{self.base_url}{path}: HTTP {status} ({_message(raw)})")
        try:
            return json.loads(raw)
        except ValueError as e:
            raise Retryable(f"{path}: malformed response body ({redact(repr(e), 200)})") from e

    async def submit(self, items: list[BatchItem], key: str) -> str:
        """Upload the items as a JSONL file (written to disk first, streamed up), then create the batch."""
        with tempfile.TemporaryFile() as spool:
            for item in items:
                spool.write(self._line(item))
            spool.seek(0)
            form = aiohttp.FormData()
            form.add_field("purpose", "batch")
            form.add_field("file", spool, filename=f"{key}.jsonl", content_type="application/jsonl")
            uploaded = await self._json("POST", "/files", data=form)
        batch = await self._json("POST", "/batches", json={
            "input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h",
            "metadata": {"entigraph_key": key}})
        return batch["id"]

    async def find(self, key: str) -> str | None:
        """The batch created with our `key`, among the server's batches (newest first)."""
        after = None
        while True:
            page = await self._json("GET", "/batches", params={"limit": "100", **({"after": after} if after else {})})
            for batch in page.get("data", []):
                if (batch.get("metadata") or {}).get("entigraph_key") == key:
                    return batch["id"]
            if not page.get("has_more") or not page.get("data"):
                return None
            after = page["data"][-1]["id"]

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self._json("GET", f"/batches/{batch_id}")
        state = BATCH_STATES.get(batch.get("status"), RUNNING)
        errors = (batch.get("errors") or {}).get("data") or []
        return BatchStatus(state, "; ".join(e.get("message", str(e)) for e in errors[:3]) or batch.get("status"))

    async def cancel(self, batch_id: str) -> None:
        await self._json("POST", f"/batches/{batch_id}/cancel")

    async def results(self, batch_id: str):
        batch = await self._json("GET", f"/batches/{batch_id}")
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if not file_id:
                continue
            try:
                async with self._client().get(f"{self.base_url}/files/{file_id}/content",
                                              timeout=aiohttp.ClientTimeout(total=None, sock_read=300)) as response:
                    if response.status >= 400:
                        raise Retryable(f"downloading {file_id}: HTTP {response.status}")
                    async for raw in response.content:  # line by line: a large file is never held whole
                        if raw.strip():
                            yield _batch_answer(json.loads(raw))
            except aiohttp.ClientError as e:
                raise Retryable(f"downloading {file_id}: {type(e).__name__}: {e}") from e


def _batch_answer(line: dict) -> tuple[str, Completion | Exception]:
    """(custom_id, its Completion or the error it got) from a line of a batch's output or error file."""
    custom_id, response = line.get("custom_id"), line.get("response") or {}
    if line.get("error"):
        error = line["error"]
        return custom_id, Retryable(f"batch: {error.get('code')}: {error.get('message')}")
    status = int(response.get("status_code", 0))
    body = response.get("body") or {}
    if status == 429 or status >= 500:
        return custom_id, Retryable(f"batch: HTTP {status} ({_message(json.dumps(body).encode())})")
    if status >= 400:
        return custom_id, Rejected(f"batch: HTTP {status} ({_message(json.dumps(body).encode())})")
    try:
        return custom_id, completion(body)
    except (Retryable, Rejected) as e:
        return custom_id, e


def _about_schema(message: str) -> bool:
    return any(word in message.lower() for word in ("json_schema", "response_format", "schema", "grammar"))


def _message(raw: bytes) -> str:
    """The server's error message in a body, redacted and at most 300 characters."""
    try:
        error = json.loads(raw).get("error")
        text = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        text = raw[:300].decode("utf-8", "replace")
    return redact(text, 300)
