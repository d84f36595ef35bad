"""Sending a run's requests: the entity requests, then every pair, then the triples (or the Rephrase
styles) round after round, each round's requests made from what the journal holds, until none is left, a
budget is reached, or a round produces nothing; for the questions method, the question requests, then
two answers to every question kept."""

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
from .questions import answer_requests
from .requests import interleave_by_document, pair_requests, rephrase_requests, triple_requests, triple_schedule
from .settings import GenerateSettings

TRIPLES_PER_ROUND = 8  # triples added per document at a time, so the journal holds what the budget reaches


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

    def next_rephrase_round(self):
        """Another round of every style for the documents short of `rephrase.tokens_per_doc`."""
        wanted, styles = self.config.rephrase.tokens_per_doc, self.config.rephrase.styles
        if not wanted:
            return []
        new = []
        for doc, (added, tokens) in per_document(self.journal, "rephrase", self.docs):
            if tokens < wanted:
                rounds = added // len(styles)
                new += rephrase_requests([doc], self.config, range(rounds, rounds + 1))
        return new

    async def rephrase(self) -> None:
        self.expect(self.journal.count_pending(("rephrase",), self.retry))
        await self.send_kind("rephrase", self.next_rephrase_round)

    async def questions(self) -> None:
        """Every document's questions, then each kept question answered with and without its document."""
        journal, docs = self.journal, {d.doc_id: d for d in self.docs}
        self.expect(journal.count_pending(("question",), self.retry))
        await self.engine.run(journal.pending(("question",), self.retry))
        if self.engine.stats.budget_reached:
            return
        answers = [r for record in journal.records(("question",)) if record["doc_id"] in docs
                   for r in answer_requests(docs[record["doc_id"]], record["questions"], self.config)]
        journal.add(self.order(answers))
        self.expect(journal.count_pending(("answer",), self.retry))
        await self.engine.run(journal.pending(("answer",), self.retry))

    async def entigraph(self) -> None:
        journal, config, engine = self.journal, self.config, self.engine
        self.expect(journal.count_pending(("entities",), self.retry))
        await engine.run(journal.pending(("entities",), self.retry))
        entities = journal.entities()
        with_entities = [d for d in self.docs if d.doc_id in entities]
        journal.add(self.order([r for d in with_entities for r in pair_requests(d, entities[d.doc_id], config)]))
        self.expect(journal.count_pending(("pair",), self.retry))
        await engine.run(journal.pending(("pair",), self.retry))
        schedules = {d.doc_id: triple_schedule(d, entities[d.doc_id], config) for d in with_entities}

        def next_triple_round():
            """Each document's next triples in its schedule."""
            return [r for doc, (added, _) in per_document(journal, "triple", with_entities)
                    for r in triple_requests(doc, entities[doc.doc_id],
                                             schedules[doc.doc_id][added : added + TRIPLES_PER_ROUND], config)]

        if not engine.stats.budget_reached:
            await self.send_kind("triple", next_triple_round)


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
        method = {"rephrase": rounds.rephrase, "questions": rounds.questions, "entigraph": rounds.entigraph}
        await method[config.method]()
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
