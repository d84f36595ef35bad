"""Sends requests: asyncio with bounded concurrency, requests- and tokens-per-minute limits,
retries with exponential backoff and jitter (honouring Retry-After) via tenacity, a per-request
timeout, overall budgets, and the journal as the record of what is done. The server's word on its
rate limits holds back the whole pool: after a 429 no request goes out until its retry time, nor
while the `x-ratelimit-*` headers say a budget is spent, until its reset.

A run that cannot work stops early instead of retrying every request to the end: a server that
cannot be reached before any answer came back stops it at once, and so do `max_failures_in_a_row`
failed attempts without an answer between them (HTTP 500 every time, a hanging server, bodies that
are not answers, a quota that stays exhausted); the message gives the commonest errors."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator

import tenacity
from tqdm import tqdm

from entigraph_jax.clients import Backend, Completion, Fatal, Rejected, Retryable, Unreachable
from entigraph_jax.clients.prices import price
from entigraph_jax.errors import redact

from .journal import Journal
from .request import Asker, Budget, InvalidAnswer, Prompt, Request


@dataclasses.dataclass
class Stats:
    done: int = 0
    failed: int = 0
    retried: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # of input_tokens, served from the provider's prompt cache
    train_tokens: int = 0  # of the records done, in the training tokenizer (budget.tokenizer)
    cost_usd: float = 0.0
    budget_reached: bool = False


class RateLimiter:
    """A token bucket refilled at `per_minute / 60` per second, holding one second's worth."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.level = self.capacity = max(self.rate, 1.0)
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        if self.rate <= 0:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
                self.updated = now
                if self.level >= min(amount, self.capacity):
                    self.level -= amount
                    return
                await asyncio.sleep((min(amount, self.capacity) - self.level) / self.rate)


class Engine:
    """Sends requests through `backend` as `llm` (an `LLMSettings`) says, within `budget`: `asker` renders
    each and turns its answers into records, which go into `journal`."""

    batch = False  # requests go through a batch API (billed at its discount)

    def __init__(self, backend: Backend, journal: Journal, asker: Asker, llm, budget: Budget | None = None,
                 on_progress: Callable[[Stats], None] = lambda s: None, section: str = "llm"):
        self.backend, self.journal, self.asker, self.on_progress = backend, journal, asker, on_progress
        self.section = section  # the settings' name in the user's config, for messages
        self.llm, self.budget, self.model, self.price = llm, budget or Budget(), llm.model, price(llm)
        self.stats = Stats()
        self.started = 0
        self.answered = False  # has any request of this run got an answer
        self.failures_in_a_row = 0
        self.errors: collections.Counter[str] = collections.Counter()  # failed attempts by message
        self.long_waits: set[float] = set()  # Retry-After lengths over llm.backoff_max_s already announced
        self.resume_at = 0.0  # monotonic time before which no request is sent (the server's rate limits)
        self.requests_limiter = RateLimiter(self.llm.requests_per_minute)
        self.tokens_limiter = RateLimiter(self.llm.tokens_per_minute)
        done = sum(c.get("done", 0) for c in journal.counts().values())
        self.previous_requests, self.previous_output_tokens = done, journal.tokens()[1]
        self.previous_train_tokens = journal.train_tokens()

    def _over_budget(self) -> bool:
        """Requests are capped exactly (counted when started); output and training tokens once
        answered, so the requests in flight when a token cap is reached may pass it a little."""
        budget, stats = self.budget, self.stats
        over = (budget.max_requests and self.previous_requests + self.started >= budget.max_requests) or (
            budget.max_output_tokens
            and self.previous_output_tokens + stats.output_tokens >= budget.max_output_tokens) or (
            budget.max_train_tokens and self.previous_train_tokens + stats.train_tokens >= budget.max_train_tokens)
        stats.budget_reached |= bool(over)
        return bool(over)

    async def run(self, requests: Iterator[Request]) -> Stats:
        """Send every request (until a budget is reached) with `max_concurrency` workers."""

        async def worker():
            for request in requests:  # a shared iterator: each request goes to one worker
                if self._over_budget():
                    return
                self.started += 1
                await self._execute(request)
                self.on_progress(self.stats)

        workers = [asyncio.create_task(worker()) for _ in range(self.llm.max_concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return self.stats

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = tenacity.wait_exponential_jitter(self.llm.backoff_initial_s, self.llm.backoff_max_s)(state)
        return max(backoff, self._retry_after(state.outcome.exception()))

    def _retry_after(self, error: BaseException | None) -> float:
        """The server's Retry-After, at most `llm.backoff_max_s`; a longer one is announced with the
        server's reason, once per length asked."""
        asked = getattr(error, "retry_after", None) or 0.0
        if asked > self.llm.backoff_max_s and asked not in self.long_waits:
            self.long_waits.add(asked)
            tqdm.write(f"{self.section}: the server asked to wait {asked:g} s ({redact(str(error), 200)}); waiting "
                       f"{self.section}.backoff_max_s={self.llm.backoff_max_s:g} s between tries instead",
                       file=sys.stderr)
        return min(asked, self.llm.backoff_max_s)

    def _count_retry(self, state: tenacity.RetryCallState) -> None:
        self.stats.retried += 1

    def count_error(self, error: Exception) -> str:
        """Count a failed attempt by its message, redacted and bounded (`errors.redact`); the message."""
        message = redact(str(error))
        self.errors[message] += 1
        return message

    def common_errors(self, n: int = 3) -> str:
        return "; ".join(f"{count} x {message}" for message, count in self.errors.most_common(n))

    def _hold_back(self, seconds: float) -> None:
        self.resume_at = max(self.resume_at, time.monotonic() + seconds)

    def _failed_attempt(self, error: Exception) -> None:
        """Count a failed attempt; stop the run when it cannot work."""
        if getattr(error, "rate_limited", False):  # the server's limit is the whole pool's
            self._hold_back(self._retry_after(error) or self.llm.backoff_initial_s)
        self.count_error(error)
        self.failures_in_a_row += 1
        if isinstance(error, Unreachable) and not self.answered:
            raise Fatal(str(error))
        if self.failures_in_a_row >= self.llm.max_failures_in_a_row:
            raise Fatal(f"stopped after {self.failures_in_a_row} failed attempts in a row with no answer "
                        f"between them; commonest errors: {self.common_errors()}")

    async def _call(self, request: Request, prompt: Prompt) -> Completion:
        """One call: a raw text completion where the prompt is one, else a chat."""
        if prompt.completion is not None:
            return await self.backend.complete_text(prompt.user, prompt.completion)
        return await self.backend.complete(prompt.system, prompt.user, json_mode=request.json_mode,
                                           max_output_tokens=self.llm.max_output_tokens,
                                           temperature=self.llm.temperature, schema=prompt.schema)

    async def _complete(self, request: Request, prompt: Prompt) -> tuple[Completion, int]:
        attempts = 0
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(Retryable), wait=self._wait, reraise=True,
            stop=tenacity.stop_after_attempt(self.llm.max_retries + 1), before_sleep=self._count_retry)
        async for attempt in retrying:
            with attempt:
                attempts += 1
                while (pause := self.resume_at - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
                await self.requests_limiter.acquire()
                asked = len(prompt.user) if isinstance(prompt.user, list) else len(prompt.user) / 4  # ids or text
                await self.tokens_limiter.acquire(asked + self.llm.max_output_tokens)
                try:
                    completion = await asyncio.wait_for(self._call(request, prompt),
                                                        self.llm.timeout_s if self.backend.timed else None)
                except TimeoutError as e:
                    error = Retryable(f"no answer within {self.llm.timeout_s} s")
                    self._failed_attempt(error)
                    raise error from e
                except (Retryable, Rejected) as e:
                    self._failed_attempt(e)
                    raise
                self.answered, self.failures_in_a_row = True, 0
                if completion.wait_s:
                    self._hold_back(completion.wait_s)
        return completion, attempts

    async def _execute(self, request: Request) -> None:
        prompt = self.asker.prompt(request)
        attempts, record, answer, spent = 0, None, None, (0, 0, 0)  # tokens of every answer, re-asks too
        try:
            for _ in range(self.asker.attempts(request.kind)):
                completion, used = await self._complete(request, prompt)
                attempts += used
                spent = tuple(a + b for a, b in zip(spent, self._count(completion), strict=True))
                try:
                    record = self._record(request, completion)
                    break
                except InvalidAnswer as e:
                    error = invalid_answer(request, attempts, e)
                    answer = completion.text
            if record is None:
                raise Rejected(error)
        except Unreachable as e:  # retried as long as any error; still no connection: no request will get one
            raise Fatal(str(e)) from e
        except Retryable as e:
            self._fail(request, f"gave up after {self.llm.max_retries} retries: {e}", attempts, spent=spent)
        except Rejected as e:
            self._fail(request, str(e), attempts, answer, spent)
        else:
            self._done(request, record, attempts, spent)

    def _count(self, completion: Completion) -> tuple[int, int, int]:
        """An answer's (input, output, cached input) tokens, added to the run's."""
        self.stats.input_tokens += completion.input_tokens
        self.stats.output_tokens += completion.output_tokens
        self.stats.cached_input_tokens += completion.cached_input_tokens
        return completion.input_tokens, completion.output_tokens, completion.cached_input_tokens

    def _cost(self, spent) -> float:
        cost = self.price.cost(*spent, batch=self.batch)
        self.stats.cost_usd += cost
        return cost

    def _done(self, request: Request, record: dict, attempts: int, spent) -> None:
        """Record an answer; `spent` (input, output, cached input tokens) counts every answer the request got."""
        self.stats.train_tokens += record.get("train_tokens", 0)
        self.journal.done(request, record, attempts, *spent, self._cost(spent))
        self.stats.done += 1

    def _fail(self, request: Request, error: str, attempts: int, answer: str | None = None, spent=(0, 0, 0)) -> None:
        """Record a failure (its message redacted and bounded), and what its answers (if any) cost."""
        self.journal.failed(request, redact(error), attempts, answer, *spent, self._cost(spent))
        self.stats.failed += 1

    def _record(self, request: Request, completion: Completion) -> dict:
        record = {"text": completion.text, "doc_id": request.doc_id, "kind": request.kind,
                  "entities": list(request.entities), "model": self.model, "request_id": request.request_id,
                  "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
                  "truncated": completion.truncated}
        return self.asker.record(request, completion, record)


def invalid_answer(request: Request, attempts: int, error: InvalidAnswer) -> str:
    """The failure of a request that never got a usable answer."""
    what = "entity" if request.kind == "entities" else request.kind
    return f"invalid {what} {'JSON' if request.json_mode else 'answer'} after {attempts} attempt(s): {error}"
