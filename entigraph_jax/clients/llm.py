"""The one interface every LLM backend implements, and its errors.

A backend turns (system, prompt) into a `Completion` or raises: `Retryable` (429, 5xx, timeouts,
malformed answers; the engine backs off and retries, honouring Retry-After), `Unreachable` (a
`Retryable` for a server that cannot be connected to: retried like the others, then fatal, since
no other request would get through either), `Rejected` (this request cannot succeed: safety block,
empty answer, 400; recorded as a failure), or `Fatal` (no request can: bad key, unknown model; the
run stops with one message).
"""

from __future__ import annotations

import dataclasses
import urllib.parse

from entigraph_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool = False  # the answer stopped at the output-token cap


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


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
        raise Fatal(f"llm.base_url={url!r} is not an http(s) URL with a host")
    return url


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare from LLM APIs)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Backend:
    """`await complete(...)`; `await aclose()` at the end. With `json_mode` the answer is asked to be
    a JSON object; `schema` (a JSON Schema) is the shape wanted, enforced where the backend can
    (the local sampler); the HTTP backends ask for a JSON object."""

    name: str
    timed: bool = True  # llm.timeout_s applies (not to a local model, whose requests queue for its batches)

    async def complete(self, system: str, prompt: str, *, json_mode: bool, max_output_tokens: int,
                       temperature: float, schema: dict | None = None) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass
