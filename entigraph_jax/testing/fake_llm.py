"""A local fake LLM server speaking both wire formats (OpenAI chat completions and Gemini
generateContent), for tests, the throughput benchmark and the CPU notebook run.

Its answers are deterministic functions of the prompt: the entity stage gets a JSON object with
the document's capitalised names; other stages get a short text naming the entities; the summary
judge's prompts get claims and verdicts by a fixed rule (`judge_answer`), the questions method's prompts
questions and answers by another (`questions_answer`), and a test may script its own (`answer=`); embeddings
(`/embeddings`, `:batchEmbedContents`) and `/rerank` scores are a 64-bucket hashing embedder's.
Faults are queued with `inject(...)` and served one per request: "429" (with Retry-After), "500", "timeout"
(answers after `hang_s`), "malformed" (entity JSON that does not parse), "empty", "blocked",
"length" (an answer cut at the output-token cap), "html" (an HTML page with status 200), "hello" (JSON
that is no answer), "no_choices", "no_schema" (a 400 refusing a JSON-schema response format, as a
server without structured outputs answers), "echo401" / "echo400" / "echo500" (an error whose body
repeats the request's headers, key included, as some proxies do), "garbage200" / "garbage400" /
"garbage500" (1 MB of invalid UTF-8 with that status); `fail_always(fault)` serves one to every request
("per_token": embeddings come one vector per token, as llama.cpp's server sends them without pooling).
`rate_limit(n, window_s)` makes it an OpenAI-style rate-limited server: `x-ratelimit-*-requests`
headers on every chat answer, and a 429 for a request beyond n in the window. `prompt_cache(minimum,
step)` reports cached input tokens in the usage of online answers as a provider's prompt cache would
(a prefix seen before). The batch APIs are
`fake_batch.FakeBatches`, at `server.batches`. `GET /fake/stats` counts the requests served by
method and path (ids folded), for a benchmark whose server runs in another process.

    python -m entigraph_jax.testing --port 8123 [--latency 0.2]
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import threading
import time
import urllib.parse

from entigraph_jax.clients.embedders import HashingEmbedder

from .fake_batch import FakeBatches

IDS = re.compile(r"(batch|file)[-_]\d+")
ENTITY_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")
CONCEPT = "Consumerism"  # a theme the entity answer names that no sample document spells (the paper's prompt asks)


def _between(text: str, tag: str) -> str:
    return text.split(f"<{tag}>\n", 1)[1].split(f"\n</{tag}>", 1)[0]


def judge_answer(prompt: str) -> str | None:
    """The summary judge's prompts (evaluate/prompts/judge), answered by rule: a summary's claims are
    its sentences; a claim is TRUE when the article contains it (its final stop dropped, any case),
    and a TRUE claim of six words or more is SALIENT. The faithfulness prompt's claims (against a `<source>`): a
    claim the source contains is SUPPORTED; one whose words but the last begin a sentence of the source (the same
    statement, another ending) is CONTRADICTED; any other is NOT STATED. The knowledge method's check (numbered
    `<statements>`): a statement the document contains is SUPPORTED, any other UNSUPPORTED. None for any other
    prompt."""
    if "<statements>\n" in prompt:  # the knowledge method's check: a statement the document contains is supported
        document = " ".join(_between(prompt, "document").split()).lower()
        statements = re.findall(r"^(\d+)\. (.+)$", _between(prompt, "statements"), flags=re.M)
        return "\n".join(f"{n}. {'' if ' '.join(s.rstrip('.!?').split()).lower() in document else 'UN'}SUPPORTED"
                         for n, s in statements)
    if "<source>\n" in prompt and "<claims>\n" in prompt:
        source = " ".join(_between(prompt, "source").split()).lower()
        openings = {" ".join(s.split()[: n]) for s in re.split(r"(?<=[.!?])\s+", source) for n in range(1, 40)}
        lines = []
        for number, claim in re.findall(r"^(\d+)\. (.+)$", _between(prompt, "claims"), flags=re.M):
            said = " ".join(claim.rstrip(".!?").split()).lower()
            verdict = ("SUPPORTED" if said in source else
                       "CONTRADICTED" if len(said.split()) > 2 and " ".join(said.split()[:-1]) in openings else
                       "NOT STATED")
            lines.append(f"{number}. {verdict}")
        return "\n".join(lines)
    if "<claims>\n" in prompt:
        article = " ".join(_between(prompt, "article").split()).lower()
        lines = []
        for number, claim in re.findall(r"^(\d+)\. (.+)$", _between(prompt, "claims"), flags=re.M):
            if " ".join(claim.rstrip(".!?").split()).lower() not in article:
                lines.append(f"{number}. FALSE")
            else:
                lines.append(f"{number}. TRUE {'SALIENT' if len(claim.split()) >= 6 else 'COSMETIC'}")
        return "\n".join(lines)
    if "<summary>\n" in prompt:
        sentences = re.split(r"(?<=[.!?])\s+", " ".join(_between(prompt, "summary").split()))
        return "\n".join(f"- {s}" for s in sentences if s)
    return None


def _sentences(text: str) -> list[str]:
    """The sentences of `text`, each on one line (a line break ends a sentence too)."""
    return [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


BLANK = "___"


def questions_answer(prompt: str) -> str | None:
    """The questions method's prompts (generate/prompts/v3), answered by rule; None for any other prompt.
    Questions: one per sentence of eight words or more naming someone or something (a capitalised word of
    four letters or more after its first word), asking which name fills the blank left in that sentence;
    the options are that name and the next names of the document (padded with "Nobody"), the right one at
    A, B, C, D in turn;
    the quote is the sentence. With the document the answer is the option whose name fills the blank to
    make a sentence of the document; without it, always A."""
    if "multiple-choice questions that test" in prompt:
        count = int(re.search(r"Write (\d+) multiple-choice", prompt).group(1))
        document = _between(prompt, "document")
        names = list(dict.fromkeys(m for m in ENTITY_NAME.findall(document) if len(m) > 3))
        questions = []
        for sentence in _sentences(document):
            found = [m for m in ENTITY_NAME.finditer(sentence) if len(m.group()) > 3 and m.start() > 0]
            if not found or len(sentence.split()) < 8 or len(questions) == count:
                continue
            name = found[-1].group()
            others = [n for n in names if n != name][:3] + ["Nobody", "No one", "Nothing"]
            right = len(questions) % 4
            options = others[:3]
            options.insert(right, name)
            blanked = sentence[: found[-1].start()] + BLANK + sentence[found[-1].end():]
            questions.append({"question": f'Which name fills the blank in "{blanked}"?', "options": options,
                              "answer": "ABCD"[right], "quote": sentence})
        return json.dumps({"questions": questions})
    if "Answer the multiple-choice question below" in prompt:
        if "<document>\n" not in prompt:
            return "A"
        document = " ".join(_between(prompt, "document").split())
        blanked = re.search(r'fills the blank in "(.*)"\?', prompt)
        options = re.findall(r"^([ABCD])\. (.+)$", prompt, flags=re.M)
        for letter, option in options:
            if blanked and blanked.group(1).replace(BLANK, option) in document:
                return letter
        return "A"
    return None


def prompt_document(prompt: str) -> str:
    """The document a generation prompt carries: v3's `<document>` tags, the paper's heading, or earlier
    versions' `Document:` line."""
    if "<document>\n" in prompt:  # prompt versions from v3 on
        return prompt.split("<document>\n", 1)[1].split("\n</document>", 1)[0]
    if "### Document Content:\n" in prompt:  # the paper's shape (version `paper`)
        return prompt.split("### Document Content:\n", 1)[1].split("\n### Entities:", 1)[0]
    return prompt.split("Document:\n", 1)[-1].split("\n\nEntities:", 1)[0]


def fake_answer(prompt: str, json_mode: bool) -> str:
    if (judged := judge_answer(prompt)) is not None:
        return judged
    if (answered := questions_answer(prompt)) is not None:
        return answered
    document = prompt_document(prompt)
    if json_mode and (asked := re.search(r"Propose (\d+) different study strategies", prompt)):
        names = ("paraphrase", "timeline", "self-quiz", "analogy", "linking", "mnemonics")
        return json.dumps({"strategies": [{"name": names[i % len(names)] + ("" if i < len(names) else f" {i}"),
                                           "plan": f"apply {names[i % len(names)]} to the document"}
                                          for i in range(int(asked.group(1)))]})
    if json_mode:
        names = list(dict.fromkeys(m for m in ENTITY_NAME.findall(document) if len(m) > 3))[:6]
        names.append(CONCEPT)
        summary = document.split(".")[0].strip()[:200] + "."
        return json.dumps({"summary": summary, "entities": names})
    entities = re.findall(r"^- (.+)$", prompt.split("Entities:", 1)[-1], flags=re.M) if "Entities:" in prompt else []
    about = " and ".join(entities) if entities else "the document"
    return f"  A passage about {about}. {document[:160].strip()}  "


class FakeLLMServer:
    """Start with `start()` (a background thread) or `serve()` (in a running event loop)."""

    def __init__(self, latency_s: float = 0.0, hang_s: float = 5.0, retry_after_s: float = 0.05, batch_polls: int = 1,
                 answer=fake_answer, completions=None):
        self.latency_s, self.hang_s, self.retry_after_s = latency_s, hang_s, retry_after_s
        self.answer = answer  # (prompt, json_mode) -> the answer's text: a test may script its own
        self.completions = completions  # (request body) -> the text /completions choices (None: HTTP 404)
        self.faults: collections.deque[str] = collections.deque()
        self.always: str | None = None  # a fault served to every request while set (`fail_always`)
        self.requests: list[dict] = []  # (path, json body) of every request, for assertions
        self.port = 0
        self._lock = threading.Lock()
        self.batches = FakeBatches(answer, batch_polls)
        self.limit: tuple[int, float] | None = None  # (requests, per seconds) with rate-limit headers
        self.window: tuple[float, int] = (0.0, 0)  # (start, requests) of the current rate-limit window
        self.rate_limited = 0  # 429s served for the rate limit
        self.cache: tuple[int, int] | None = None  # (minimum, step) in tokens of a provider's prompt cache
        self.cached_reported = 0  # cached input tokens reported in the answers' usage, all together
        self._prefixes: set[str] = set()

    def prompt_cache(self, minimum: int = 1024, step: int = 128) -> None:
        """Report cached input tokens as a provider's prompt cache would: a prompt's longest prefix, in
        whole steps of `step` tokens (4 characters each) and at least `minimum`, seen in an earlier prompt."""
        self.cache = (minimum, step)

    def _cached(self, prompt: str) -> int:
        if self.cache is None:
            return 0
        minimum, step = self.cache
        steps = range(len(prompt) // (4 * step), 0, -1)
        with self._lock:
            hit = next((n * step for n in steps if n * step >= minimum and prompt[: 4 * n * step] in self._prefixes), 0)
            self._prefixes.update(prompt[: 4 * n * step] for n in steps)
            self.cached_reported += hit
        return hit

    def rate_limit(self, requests: int, window_s: float) -> None:
        self.limit = (requests, window_s)

    def _rate_headers(self) -> tuple[list[str], bool]:
        """The x-ratelimit headers of this request, and whether it is over the limit."""
        requests, window_s = self.limit
        with self._lock:
            now = time.monotonic()
            start, used = self.window if now - self.window[0] < window_s else (now, 0)
            self.window = (start, used + 1)
        reset = max(0.0, start + window_s - now)
        return [f"x-ratelimit-limit-requests: {requests}",
                f"x-ratelimit-remaining-requests: {max(0, requests - used - 1)}",
                f"x-ratelimit-reset-requests: {reset * 1000:.0f}ms"], used >= requests

    def inject(self, *faults: str) -> None:
        with self._lock:
            self.faults.extend(faults)

    def fail_always(self, fault: str | None) -> None:
        """Serve `fault` to every completion request from now on (None: stop)."""
        self.always = fault

    def _next_fault(self) -> str | None:
        with self._lock:
            return self.faults.popleft() if self.faults else self.always

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                headers = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                method, target = request_line.decode().split()[:2]
                path, _, query = target.partition("?")
                body = await _read_body(reader, headers)
                status, extra, payload = await self._respond(method, path, urllib.parse.parse_qs(query), body,
                                                             headers)
                kind = {str: "text/html", bytes: "application/jsonl"}.get(type(payload), "application/json")
                data = payload if isinstance(payload, bytes) else payload.encode() if isinstance(payload, str) \
                    else json.dumps(payload).encode()
                head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}", f"Content-Type: {kind}",
                        f"Content-Length: {len(data)}", *extra]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, query: dict, body,
                       headers: dict) -> tuple[int, list[str], dict | str | bytes]:
        gemini = ":generateContent" in path
        with self._lock:
            self.requests.append({"method": method, "path": path, "time": time.monotonic(),
                                  "body": None if path.endswith("/files") else body})  # not a batch's input file
        if path == "/fake/stats":
            return 200, [], self.stats()
        if path == "/health":  # vLLM's
            return 200, [], {}
        batch = self.batches.respond(method, path, {k: v[0] for k, v in query.items()}, body)
        if batch is not None:
            return batch[0], [], batch[1]
        if path.endswith("/embeddings"):  # OpenAI-compatible embeddings
            vectors = HashingEmbedder(64).embed(body["input"]).tolist()
            if self.always == "per_token":  # llama.cpp's server without pooling: a vector per token
                vectors = [[v] * len(text.split()) for v, text in zip(vectors, body["input"], strict=True)]
            return 200, [], {"data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)]}
        if path.endswith("/rerank"):  # Cohere-compatible reranking: the hashing embedder's cosine
            vectors = HashingEmbedder(64).embed([body["query"], *body["documents"]])
            scores = (vectors[1:] @ vectors[0]).tolist()
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            return 200, [], {"results": [{"index": i, "relevance_score": scores[i]} for i in order]}
        if ":batchEmbedContents" in path:  # Gemini embeddings
            texts = [r["content"]["parts"][0]["text"] for r in body["requests"]]
            return 200, [], {"embeddings": [{"values": v} for v in HashingEmbedder(64).embed(texts).tolist()]}
        limit_headers, over = self._rate_headers() if self.limit and not gemini else ([], False)
        if over:
            self.rate_limited += 1
            return 429, limit_headers, _error(429, "RESOURCE_EXHAUSTED", "rate limit reached")
        fault = self._next_fault()
        await asyncio.sleep(self.hang_s if fault == "timeout" else self.latency_s)
        if fault == "429":
            return 429, [f"Retry-After: {self.retry_after_s}"], _error(429, "RESOURCE_EXHAUSTED", "slow down")
        if fault == "500":
            return 500, [], _error(500, "INTERNAL", "server error")
        if fault in ("echo401", "echo400", "echo500"):
            code = int(fault[4:])
            return code, [], _error(code, "ERROR", f"request refused; it had the headers {json.dumps(headers)}")
        if path.endswith("/completions") and not path.endswith("/chat/completions"):
            if self.completions is None:
                return 404, [], _error(404, "NOT_FOUND", "this server has no text completions")
            choices = self.completions(body)
            usage = {"prompt_tokens": len(str(body.get("prompt"))) // 4,
                     "completion_tokens": sum(len(c.get("text") or "") for c in choices) // 4}
            return 200, [], {"id": "fake", "object": "text_completion", "model": body.get("model"),
                             "choices": choices, "usage": usage}
        if fault in ("garbage200", "garbage400", "garbage500"):
            return int(fault[7:]), [], b"\xff\xfe" * 2**19
        if fault == "html":  # a proxy's error page with status 200
            return 200, [], "<html><body><h1>Gateway</h1>Please try again later.</body></html>"
        if fault == "hello":  # JSON that is not an answer
            return 200, [], {"hello": "world"}
        if fault == "no_choices":
            return 200, [], {"id": "fake", "choices": [], "candidates": []}
        if fault == "no_schema" and (body.get("response_format") or {}).get("type") == "json_schema":
            return 400, [], _error(400, "INVALID_ARGUMENT", "response_format json_schema is not supported")
        if gemini:
            prompt = body["contents"][0]["parts"][0]["text"]
            json_mode = body.get("generationConfig", {}).get("responseMimeType") == "application/json"
            system = [p["text"] for p in (body.get("systemInstruction") or {}).get("parts", [])]
        else:
            prompt = body["messages"][-1]["content"]
            json_mode = body.get("response_format", {}).get("type") in ("json_object", "json_schema")
            system = [m["content"] for m in body["messages"][:-1]]
        whole = "\n".join([*system, prompt])  # what a provider counts and caches: the system message too
        text = self.answer(prompt, json_mode)
        if fault == "malformed":
            text = text[: len(text) // 2]
        if fault == "empty":
            text = ""
        usage, cached = (len(whole) // 4, len(text) // 4), self._cached(whole)
        if gemini:
            if fault == "blocked":
                return 200, [], {"promptFeedback": {"blockReason": "SAFETY"},
                                 "usageMetadata": {"promptTokenCount": usage[0]}}
            reason = "MAX_TOKENS" if fault == "length" else "STOP"
            return 200, [], {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                                             "finishReason": reason, "index": 0}],
                             "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                                               "totalTokenCount": sum(usage), "cachedContentTokenCount": cached}}
        finish = {"blocked": "content_filter", "length": "length"}.get(fault, "stop")
        return 200, limit_headers, {"id": "fake", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "finish_reason": finish,
                                      "message": {"role": "assistant", "content": "" if fault == "blocked" else text}}],
                         "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                   "total_tokens": sum(usage), "prompt_tokens_details": {"cached_tokens": cached}}}

    def stats(self) -> dict[str, int]:
        """{"METHOD path": requests served}, batch and file ids folded into one path each."""
        with self._lock:
            paths = [r["method"] + " " + IDS.sub(r"\1-ID", r["path"]) for r in self.requests]
        return dict(collections.Counter(paths))

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        server = await asyncio.start_server(self._handle, host, port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def start(self) -> FakeLLMServer:
        """Serve from a daemon thread; returns once the port is known."""
        ready = threading.Event()

        def run():
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self.serve())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _read_body(reader: asyncio.StreamReader, headers: dict):
    """The request body: JSON, a multipart form ({field: value}, a file's value its bytes), or None."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = b""
        while size := int((await reader.readline()).strip() or b"0", 16):
            raw += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    else:
        raw = await reader.readexactly(int(headers.get("content-length", 0)))
    kind = headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        boundary = kind.split("boundary=")[1].strip('"').encode()
        form = {}
        for part in raw.split(b"--" + boundary)[1:-1]:
            head, _, value = part[2:-2].partition(b"\r\n\r\n")  # between its CRLFs
            name = re.search(rb'name="([^"]+)"', head)[1].decode()
            form[name] = value if b"filename=" in head else value.decode()
        return form
    return json.loads(raw or b"{}")


def _error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "status": status, "message": message}}
