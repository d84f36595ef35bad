"""Provider batch APIs behind one interface: submit many requests at once at the batch price, poll,
read the answers back. A batch carries our `key` (in its metadata or display name), so a client that
lost the answer to its create call, or was killed right after it, finds the batch again instead of
paying for it twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from .llm import Completion

# a batch's state, whatever the provider calls it
RUNNING, COMPLETED, EXPIRED, FAILED = "running", "completed", "expired", "failed"


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One request of a batch: `custom_id` comes back with its answer."""

    custom_id: str
    system: str
    prompt: str
    json_mode: bool
    max_output_tokens: int
    temperature: float
    schema: dict | None = None


@dataclasses.dataclass(frozen=True)
class BatchStatus:
    state: str  # RUNNING | COMPLETED | EXPIRED (ended with requests unanswered) | FAILED (none will be)
    message: str = ""  # why it failed


class BatchBackend:
    """`submit` a list of items (within `max_requests` and `max_bytes`), `find` a batch by our key,
    `status`, then `results`: (custom_id, Completion or the exception that request got: `Retryable`
    for one to send again, `Rejected` for one that cannot succeed). Requests of an ended batch that
    `results` does not name were never answered (expired, cancelled). `cancel` stops a running batch."""

    name: str
    max_requests: int
    max_bytes: int

    def size(self, item: BatchItem) -> int:
        """The bytes `item` adds to a batch's input."""
        raise NotImplementedError

    async def submit(self, items: list[BatchItem], key: str) -> str:
        raise NotImplementedError

    async def find(self, key: str) -> str | None:
        raise NotImplementedError

    async def status(self, batch_id: str) -> BatchStatus:
        raise NotImplementedError

    def results(self, batch_id: str) -> AsyncIterator[tuple[str, Completion | Exception]]:
        raise NotImplementedError

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop a running batch; it ends (cancelled) with what it had answered."""
        raise NotImplementedError

    async def aclose(self) -> None:
        pass
