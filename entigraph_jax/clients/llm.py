"""The one interface every LLM backend implements, and its errors.

A backend turns (system, prompt) into a `Completion` or raises: `Retryable` (429, 5xx, timeouts,
malformed answers; the engine backs off and retries, honouring Retry-After; a 429 is `rate_limited`
and holds back every request, not only its own), `Unreachable` (a
`Retryable` for a server that cannot be connected to: retried like the others, then fatal, since
no other request would get through either), `Rejected` (this request cannot succeed: safety block,
empty answer, 400; recorded as a failure), or `Fatal` (no request can: bad key, unknown model; the
run stops with one message).
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

from entigraph_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool = False  # the answer stopped at the output-token cap
    wait_s: float = 0.0  # the server's rate-limit headers say no request should go out for this long
    cached_input_tokens: int = 0  # of input_tokens, those the provider served from its prompt cache
    choices: tuple[dict, ...] = ()  # a raw text completion's samples, each as the server answered it


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None, rate_limited: bool = False):
        super().__init__(message)
        self.retry_after, self.rate_limited = retry_after, rate_limited


class Unreachable(Retryable):
    """The server cannot be connected to (refused, reset, DNS)."""


class Rejected(Exception):
    pass


class Fatal(UserError):
    """No request can succeed with these settings (key, model, server)."""


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host; else `Fatal` (no request could reach it)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Fatal(f"base_url={url!r} is not an http(s) URL with a host")
    return url


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare from LLM APIs)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


SIZE_KEYWORDS = {"maxLength", "minLength", "maxItems", "minItems", "uniqueItems"}


def portable_schema(schema):
    """`schema` without size limits: grammar-based decoders unroll every allowed length (llama.cpp's
    server fails on a maxLength of 2000), and hosted structured outputs ignore or refuse them; the
    parser checks sizes after the answer instead."""
    if isinstance(schema, dict):
        return {k: portable_schema(v) for k, v in schema.items() if k not in SIZE_KEYWORDS}
    return [portable_schema(v) for v in schema] if isinstance(schema, list) else schema


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str) -> float:
    """Seconds of a rate-limit reset such as "1s", "6m0s", "20ms" or "1h2m3.5s" (0 if unreadable)."""
    scale = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[unit] for n, unit in DURATION.findall(value or ""))


def rate_limit_wait(headers) -> float:
    """How long to hold every request back, from OpenAI-style `x-ratelimit-*` headers: until the reset
    of whichever budget (requests or tokens) the server says is spent; 0 while both last."""
    wait = 0.0
    for budget in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{budget}")
        if remaining is not None and remaining.strip().isdigit() and int(remaining) == 0:
            wait = max(wait, parse_duration(headers.get(f"x-ratelimit-reset-{budget}", "")))
    return wait


class Backend:
    """`await complete(...)`; `await aclose()` at the end. With `json_mode` the answer is asked to be
    a JSON object; `schema` (a JSON Schema) is the shape wanted, enforced where the backend can
    (the local sampler); the HTTP backends ask for a JSON object."""

    name: str
    timed: bool = True  # timeout_s applies (not to a local model, whose requests queue for its batches)

    async def complete(self, system: str, prompt: str, *, json_mode: bool, max_output_tokens: int,
                       temperature: float, schema: dict | None = None) -> Completion:
        raise NotImplementedError

    async def complete_text(self, prompt: str | list[int], body: dict) -> Completion:
        """A raw text completion of `prompt` (text or token ids) with the rest of the `/completions` `body`
        (n samples, stop strings, seed): its choices as the server answered them."""
        raise Fatal(f"the {self.name} backend serves chats only, not raw text completions")

    async def start(self) -> None:
        """Get ready before the first request (start a server the backend runs itself)."""

    async def aclose(self) -> None:
        pass
