"""The one interface every LLM backend implements, its errors, and API keys.

A backend turns (system, prompt) into a `Completion` or raises: `Retryable` (429, 5xx, timeouts,
dropped connections; the engine backs off and retries, honouring Retry-After), `Rejected` (this
request cannot succeed: safety block, empty answer, 400; recorded as a failure), or `Fatal` (no
request can: bad key, unknown model, unreachable server; the run stops with one message).
Keys come from the environment or a key file and are never logged or written anywhere.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(Exception):
    pass


class Fatal(Exception):
    pass


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare from LLM APIs)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def api_key(env_names: tuple[str, ...], key_file: str, required: bool) -> str | None:
    """The first of `env_names` set in the environment, else the key file's first line."""
    for name in env_names:
        if os.environ.get(name):
            return os.environ[name].strip()
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise Fatal(f"llm.api_key_file={key_file}: no such file")
        key = path.read_text().strip().splitlines()[0].strip() if path.read_text().strip() else ""
        if key:
            return key
        raise Fatal(f"llm.api_key_file={key_file}: the file is empty")
    if required:
        raise Fatal(f"no API key: set {' or '.join(env_names)} or llm.api_key_file")
    return None


class Backend:
    """`await complete(...)`; `await aclose()` at the end."""

    name: str

    async def complete(self, system: str, prompt: str, *, json_mode: bool, max_output_tokens: int,
                       temperature: float) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass
