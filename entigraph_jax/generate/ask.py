"""Answers rather than a corpus: one prompt per (document, template, slot values) sent through
generation's engine (its retries, rate limits, batch mode, prices and journal), for a stage that
needs an LLM's judgement (evaluate's summary judge). A rerun asks only what has no answer yet."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from entigraph_jax.data import Document

from .journal import Journal
from .plan import Request, request_id
from .rounds import Rounds
from .run import make_backend
from .settings import GenerateSettings


@dataclasses.dataclass(frozen=True)
class Question:
    doc: Document  # its text fills {document}, its title {title}
    template: str  # a template of settings.prompt_version, and the request's kind
    slots: tuple[str, ...] = ()  # {entity_1}, {entity_2}, ...


@dataclasses.dataclass(frozen=True)
class Answers:
    texts: list[str | None]  # by question; None: no answer (failed, or a budget reached)
    cost_usd: float  # of every answer in the journal, earlier runs' too
    failed: int


def ask(settings: GenerateSettings, journal_path: Path, questions: list[Question], label: str = "ask") -> Answers:
    """Every question's answer, asked of `settings.llm` (those already in the journal are not asked again);
    `label` names the progress bar."""
    requests = [Request(request_id(q.doc, q.template, q.slots, settings), q.doc.doc_id, q.template, entities=q.slots)
                for q in questions]
    docs = list({q.doc.doc_id: q.doc for q in questions}.values())
    kinds = tuple(dict.fromkeys(q.template for q in questions))
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(journal_path)
    try:
        journal.plan(requests)
        asyncio.run(_send(settings, docs, journal, requests, journal_path.parent, label))
        answers = {r["request_id"]: r["text"] for r in journal.records(kinds)}
        texts = [answers.get(r.request_id) for r in requests]
        return Answers(texts, journal.cost(), sum(t is None for t in texts))
    finally:
        journal.close()


async def _send(settings: GenerateSettings, docs: list[Document], journal: Journal, requests: list[Request],
                log_dir: Path, label: str) -> None:
    """Send what the journal has not answered of `requests` (not other requests an earlier run left in it)."""
    ids, kinds = {r.request_id for r in requests}, tuple(dict.fromkeys(r.kind for r in requests))
    todo = [r for r in journal.pending(kinds, settings.retry_failed) if r.request_id in ids]
    if not todo:
        return
    backend = make_backend(settings, log_dir)
    rounds = Rounds(settings, docs, journal, backend, label)
    try:
        await backend.start()
        rounds.expect(len(todo))
        await rounds.engine.run(iter(todo))
    finally:
        rounds.progress.close()
        await backend.aclose()
