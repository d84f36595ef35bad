"""Sending a run's requests: the machinery every method sends through (`Rounds`: the engine, online or in the
provider's batches, its progress bar, and `send_kind`: rounds of one kind, each made from what the journal holds,
until none is left, a budget is reached, or a round produces nothing); what is sent, and in which order, is the
method's (`method.Method.send`)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import threading

from tqdm import tqdm

from entigraph_jax.clients import Backend, Fatal
from entigraph_jax.data import Document
from entigraph_jax.errors import redact
from entigraph_jax.llm import BatchEngine, Engine, Journal, named

from .asker import GenerationAsker, budget
from .method import method
from .requests import interleave_by_document
from .settings import GenerateSettings


@dataclasses.dataclass(frozen=True)
class Sent:
    """What one run's sending did."""

    budget_reached: bool
    retried: int
    stopped: str | None  # why the run could not go on (a `Fatal` error), None if it could
    terminated: bool = False  # SIGTERM came: requests in flight were dropped (their rows stay pending)


def sending_order(config: GenerateSettings):
    """The order a round's requests are added (and sent) in: a served model's prefix cache wants a
    document's requests together; elsewhere round-robin over documents covers every document evenly
    when a budget stops the run."""
    return list if config.llm.backend == "vllm" else interleave_by_document


def per_document(journal: Journal, kind: str, docs: list[Document]) -> list[tuple[Document, tuple[int, int]]]:
    """(document, (requests of `kind` added, output tokens produced)) for each of `docs`."""
    counts = journal.per_document(kind)
    return [(doc, counts.get(doc.doc_id, (0, 0))) for doc in docs]


def more_rounds(rounds: Rounds, kind: str, wanted: int, per_round: int, make) -> list:
    """Another round for each document with fewer than `wanted` output tokens of `kind` (0: no more rounds):
    `make(doc, range(n, n + 1))`, n the rounds it had (`per_round` requests each)."""
    if not wanted:
        return []
    new = []
    for doc, (added, tokens) in per_document(rounds.journal, kind, rounds.docs):
        if tokens < wanted:
            done = added // per_round
            new += make(doc, range(done, done + 1))
    return new


class Rounds:
    """One run's sending through `backend` (online, or in the provider's batches), with a progress bar."""

    def __init__(self, config: GenerateSettings, docs: list[Document], journal: Journal, backend: Backend,
                 label: str = "generate"):
        self.config, self.docs, self.journal = config, docs, journal
        self.order, self.retry = sending_order(config), config.retry_failed
        self.progress = tqdm(desc=label, unit="req", dynamic_ncols=True)
        asker = GenerationAsker(config, {d.doc_id: d for d in docs})
        asker.count_uncounted(journal)
        engine = BatchEngine if config.llm.mode == "batch" else Engine
        self.engine = engine(backend, journal, asker, config.llm, budget(config), self.show)

    def expect(self, requests: int) -> None:
        """Count `requests` more in the bar's total, shown at once (a local model answers a whole batch
        after minutes: the total tells how much is coming before the first answer)."""
        self.progress.total = (self.progress.total or 0) + requests
        self.progress.refresh()

    def show(self, stats) -> None:
        self.progress.update(1)
        cached = stats.cached_input_tokens / stats.input_tokens if stats.input_tokens else 0.0
        self.progress.set_postfix(done=stats.done, failed=stats.failed, retried=stats.retried,
                                  tokens=stats.output_tokens, cached=f"{cached:.0%}", usd=f"{stats.cost_usd:.2f}",
                                  refresh=False)

    async def send_kind(self, kind: str, next_round) -> None:
        """Send what is pending of `kind`, then add and send round after round (`next_round()` -> new
        requests) until a budget is reached, nothing new is added, or a round produces nothing."""
        await self.engine.run(self.journal.pending((kind,), self.retry))
        while not self.engine.stats.budget_reached:
            new = next_round()
            if not new or self.journal.add(self.order(new)) == 0:
                return
            self.expect(len(new))
            before = self.engine.stats.output_tokens
            await self.engine.run(self.journal.pending((kind,), self.retry))
            if self.engine.stats.output_tokens == before:  # nothing produced (all failing): stop, do not spin
                return


async def send(config: GenerateSettings, docs: list[Document], journal: Journal, backend: Backend) -> Sent:
    """Send the run's requests through `backend`."""
    rounds, stopped, terminated = Rounds(config, docs, journal, backend), None, []
    loop, task = asyncio.get_running_loop(), asyncio.current_task()

    def on_sigterm():
        terminated.append(True)
        task.cancel()

    main_thread = threading.current_thread() is threading.main_thread()  # where signals are delivered
    if main_thread:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        await backend.start()
        await method(config.method).send(rounds)
    except Fatal as e:  # the run cannot work: say why in the summary, then fail
        stopped = redact(str(named(e, "llm")))
    except asyncio.CancelledError:
        if not terminated:
            raise
    finally:
        if main_thread:
            loop.remove_signal_handler(signal.SIGTERM)
        rounds.progress.close()
        await backend.aclose()
    return Sent(rounds.engine.stats.budget_reached, rounds.engine.stats.retried, stopped, bool(terminated))
