"""Batch mode (`llm.mode = "batch"`): the same requests, journal and records as the online engine,
sent through the provider's batch API at its batch price.

Pending requests are cut into batches within the provider's limits (requests and bytes). Before a
batch is created its requests are marked in the journal as submitted under a fresh key, which the
batch carries; then the provider's batch id is recorded. A rerun after a kill therefore polls the
batches already created instead of sending their requests again, and a batch whose create call got
no answer is looked up by its key before it is created again: each request is paid for once. An
ended batch's answers become records; requests it did not answer (expired, cancelled) or answered
with a retryable error go back to pending and into the next round (at most `max_retries` rounds); an
answer its asker finds invalid (an entity answer that is not the JSON asked for) is asked again up to the
asker's attempts for its kind. Batches carry chat requests only. Budgets are checked as requests are put
into batches; the output-token budget therefore counts only batches that have ended.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

from entigraph_jax.clients import Fatal, Rejected, Retryable
from entigraph_jax.clients.batch import COMPLETED, FAILED, RUNNING, BatchBackend, BatchItem

from .engine import Engine, invalid_answer
from .request import InvalidAnswer, Request

INGEST_CHUNK = 1000  # answers written to the journal per transaction


class BatchEngine(Engine):
    backend: BatchBackend
    batch = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.poll_s = self.llm.poll_s
        self.batch_size = min(self.llm.batch_size or self.backend.max_requests, self.backend.max_requests)

    async def run(self, requests: Iterator[Request]):
        """Finish the batches a previous run left open, then send `requests` in batches, round after
        round while some come back to be sent again."""
        await self._wait(await self._reopen())
        kinds: set[str] = set()
        for _ in range(self.llm.max_retries + 1):
            keys = await self._submit(requests, kinds)
            if not keys:
                break
            await self._wait(keys)
            requests = self.journal.pending(tuple(kinds), retry_failed=False)
        return self.stats

    def _item(self, request: Request) -> BatchItem:
        prompt = self.asker.prompt(request)
        if prompt.completion is not None:
            raise Fatal("a provider's batch API takes chat requests; raw text completions go online (mode=online)")
        return BatchItem(request.request_id, prompt.system, prompt.user, request.json_mode, self.llm.max_output_tokens,
                         self.llm.temperature, prompt.schema)

    async def _submit(self, requests: Iterator[Request], kinds: set[str]) -> list[str]:
        """Put `requests` into batches (until a budget is reached) and create them; their keys."""
        keys, chunk, size = [], [], 0
        for request in requests:
            if self._over_budget():
                break
            self.started += 1
            kinds.add(request.kind)
            item = self._item(request)
            item_size = self.backend.size(item)
            if chunk and (len(chunk) == self.batch_size or size + item_size > self.backend.max_bytes):
                keys.append(await self._create(chunk))
                chunk, size = [], 0
            chunk.append((request, item))
            size += item_size
        if chunk:
            keys.append(await self._create(chunk))
        return keys

    async def _create(self, chunk: list[tuple[Request, BatchItem]], key: str | None = None) -> str:
        """Mark the requests as submitted under a key, then create the batch (or find it, if an
        earlier create call under that key reached the server); returns the key."""
        if key is None:
            key = uuid.uuid4().hex
            self.journal.assign(key, chunk[0][0].kind, [request for request, _ in chunk])
        items = [item for _, item in chunk]
        for attempt in range(self.llm.max_retries + 1):
            try:
                found = await self.backend.find(key) if attempt else None
                batch_id = found or await self.backend.submit(items, key)
            except Retryable as e:
                self._failed_attempt(e)
                self.stats.retried += 1
                await asyncio.sleep(min(self.llm.backoff_max_s, self.llm.backoff_initial_s * 2**attempt))
                continue
            self.answered, self.failures_in_a_row = True, 0
            self.journal.batch_created(key, batch_id)
            return key
        raise Fatal(f"could not create a batch after {self.llm.max_retries} retries: {self.common_errors()}")

    async def _reopen(self) -> list[str]:
        """The keys of batches a previous run left open; one whose create call never got an answer is
        looked up by its key, and created now if the server does not have it."""
        keys = []
        for key, batch_id in self.journal.open_batches():
            if batch_id is None:
                found = await self.backend.find(key)
                if found:
                    self.journal.batch_created(key, found)
                else:
                    await self._create([(r, self._item(r)) for r in self.journal.batch_requests(key)], key)
            keys.append(key)
        return keys

    async def cancel(self) -> dict:
        """`generate --cancel`: stop at the provider every batch a previous run left open, then take in
        what each had answered (paid for, so kept); its other requests go back to pending, for a later
        run to send. A batch whose create call never reached the provider is closed here."""
        keys, cancelled, returned = [], 0, 0
        for key, batch_id in self.journal.open_batches():
            batch_id = batch_id or await self.backend.find(key)
            if batch_id is None:
                returned += self.journal.batch_ended(key, "cancelled")
                continue
            self.journal.batch_created(key, batch_id)
            if (await self.backend.status(batch_id)).state == RUNNING:
                await self.backend.cancel(batch_id)
                cancelled += 1
            keys.append(key)
        await self._wait(keys)
        return {"open_batches": len(keys), "cancelled": cancelled, "answers_kept": self.stats.done,
                "back_to_pending": returned + self.stats.retried}

    async def _wait(self, keys: list[str]) -> None:
        """Poll the batches until each has ended, taking in each one's answers as it ends."""
        waiting = dict(self.journal.batch_ids(keys))
        while waiting:
            for key, batch_id in list(waiting.items()):
                try:
                    status = await self.backend.status(batch_id)
                    if status.state != RUNNING:
                        await self._take_in(key, batch_id, status)
                        del waiting[key]
                except Retryable as e:
                    self._failed_attempt(e)
                    continue
                self.failures_in_a_row = 0
            if waiting:
                await asyncio.sleep(self.poll_s)

    async def _take_in(self, key: str, batch_id: str, status) -> None:
        """Records from an ended batch's answers; what it left unanswered goes back to pending."""
        if status.state == FAILED:
            for request in self.journal.batch_requests(key):
                self._fail(request, f"batch {batch_id} failed: {status.message}", 1)
            self.journal.batch_ended(key, "failed")
            return
        answers = []
        async for answer in self.backend.results(batch_id):
            answers.append(answer)
            if len(answers) == INGEST_CHUNK:
                self._record_answers(answers)
                answers = []
        self._record_answers(answers)
        returned = self.journal.batch_ended(key, "completed" if status.state == COMPLETED else "expired")
        self.stats.retried += returned

    def _record_answers(self, answers) -> None:
        with self.journal.transaction():
            for custom_id, answer in answers:
                found = self.journal.submitted(custom_id)
                if found is None:  # not ours, or already taken in
                    continue
                request, attempts = found
                attempts += 1
                if isinstance(answer, Exception):
                    self._answer_failed(request, answer, attempts)
                    continue
                spent = self._count(answer)
                try:
                    record = self._record(request, answer)
                except InvalidAnswer as e:
                    self._answer_failed(request, Retryable(invalid_answer(request, attempts, e)), attempts, answer.text,
                                        self.asker.attempts(request.kind), spent)
                    continue
                self._done(request, record, 1, spent)
                self.on_progress(self.stats)

    def _answer_failed(self, request: Request, error: Exception, attempts: int, answer: str | None = None,
                       allowed: int | None = None, spent=(0, 0, 0)) -> None:
        """A failed answer: sent again in the next round while attempts remain, else a failure."""
        message = self.count_error(error)
        allowed = allowed if allowed is not None else self.llm.max_retries + 1
        if isinstance(error, Rejected) or attempts >= allowed:
            self._fail(request, message, 1, answer, spent)
            self.on_progress(self.stats)
        else:
            self.journal.resend(request, 1, *spent, self._cost(spent))
            self.stats.retried += 1
