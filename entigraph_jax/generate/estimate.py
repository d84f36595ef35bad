"""The dry run (`generate --dry_run`): a run's requests, tokens and cost before anything is sent."""

from __future__ import annotations

import dataclasses
import os

from entigraph_jax.clients.prices import price
from entigraph_jax.llm import Journal

from .questions import answer_requests, question_requests
from .requests import (
    entity_requests,
    load_documents,
    messages,
    pair_requests,
    rephrase_requests,
    triple_requests,
    triple_schedule,
)
from .settings import GenerateSettings

KINDS_IN_ORDER = ("entities", "pair", "triple", "rephrase", "question", "answer")  # the order they are sent in
ANSWER_TOKENS = 2  # an answer to a question: its letter
# Providers cache a prompt prefix seen before (OpenAI: from 1024 tokens, in steps of 128; Gemini's implicit
# caching from 1024 or more): what a request shares with an earlier one of its document is billed as cached.
CACHE_MIN_TOKENS, CACHE_STEP_TOKENS = 1024, 128


def cached_tokens(text: str, earlier: list[str]) -> int:
    """The tokens of `text` a provider's prompt cache would serve: its longest common prefix with an
    earlier prompt, at 4 characters a token, in whole cache steps, nothing below the minimum."""
    shared = max((len(os.path.commonprefix([text, e])) for e in earlier), default=0) // 4
    return shared // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS if shared >= CACHE_MIN_TOKENS else 0


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The dry run: the run's size and cost before anything is sent."""

    documents: int
    by_kind: dict  # kind -> {requests, input_tokens, cached_input_tokens, output_tokens, train_tokens}
    requests: int
    input_tokens: int
    cached_input_tokens: int  # of input_tokens, guessed from the prompt layout (`cached_tokens`)
    output_tokens: int
    train_tokens: int  # what training would read (answers and summaries, BOS and EOS), guessed like output_tokens
    cost_usd: float
    price: str  # where the price comes from (and "batch: x0.5" in batch mode)
    entity_counts: str  # where the entity counts behind the pair/triple requests come from ("" for none)
    within_budget: dict | None  # with a token budget: what is sent before it stops (pairs first)


def estimate(config: GenerateSettings) -> Estimate:
    """Requests, input/output tokens and cost of the whole run, before anything is sent (tokens
    estimated at 4 characters each; entity counts from the journal where known, else a guess;
    training tokens guessed as the answers' output tokens and `dry_run.summary_tokens` per summary,
    each with BOS and EOS; rephrase rounds until `rephrase.tokens_per_doc` at the guessed length)."""
    config.check_templates()
    docs, corpus = load_documents(config), config.corpus()
    entities = {}
    if corpus.journal.is_file():
        journal = Journal(corpus.journal)
        entities = journal.entities()
        journal.close()
    rows: dict[str, list[float]] = {}  # kind -> [requests, input, output, train, cached input] tokens
    firsts: dict[str, dict[str, str]] = {}  # doc_id -> kind -> the text of its first request of that kind

    def add(kind, request, doc, output_tokens, count=1):
        """`count` requests like `request` (of one document, so of one prompt length and layout)."""
        system, prompt = messages(request, doc, config.prompt_version)
        text, earlier = system + "\n" + prompt, firsts.setdefault(doc.doc_id, {})
        row = rows.setdefault(kind, [0, 0, 0, 0, 0])
        row[0] += count
        row[1] += count * len(text) / 4
        row[2] += count * output_tokens
        trained = 0 if kind in ("question", "answer") else (
            config.dry_run.summary_tokens if kind == "entities" else output_tokens) + 2
        row[3] += count * trained
        # the `count` requests share with the document's earlier ones what this one does (its document part)
        row[4] += count * cached_tokens(text, list(earlier.values()))
        earlier.setdefault(kind, text)

    guess, out_tokens = config.dry_run.entities_per_doc, config.dry_run.output_tokens
    rephrase = config.rephrase
    per_round = len(rephrase.styles) * rephrase.samples * out_tokens  # a document's rephrase tokens per round
    rounds = max(1, -(-rephrase.tokens_per_doc // per_round)) if rephrase.tokens_per_doc else 1
    for doc in docs:
        if config.method == "questions":
            add_questions(add, doc, config)
            continue
        if config.method == "rephrase":
            for r in rephrase_requests([doc], config):
                add("rephrase", r, doc, out_tokens, rounds)
            continue
        add("entities", entity_requests([doc], config)[0], doc, config.dry_run.entity_output_tokens)
        names = entities.get(doc.doc_id) or [f"entity {i}" for i in range(guess)]
        for r in pair_requests(doc, names, config):
            add("pair", r, doc, out_tokens)
        schedule = triple_schedule(doc, names, config)
        if schedule:  # one triple's prompt stands for all of its document's (the same document)
            add("triple", triple_requests(doc, names, schedule[:1], config)[0], doc, out_tokens, len(schedule))
    cost = price(config.llm)
    batch = config.llm.mode == "batch"
    total = [sum(r[i] for r in rows.values()) for i in range(5)]
    return Estimate(documents=len(docs), by_kind={k: {"requests": int(v[0]), "input_tokens": int(v[1]),
                                                      "cached_input_tokens": int(v[4]), "output_tokens": int(v[2]),
                                                      "train_tokens": int(v[3])} for k, v in rows.items()},
                    requests=int(total[0]), input_tokens=int(total[1]), cached_input_tokens=int(total[4]),
                    output_tokens=int(total[2]), train_tokens=int(total[3]),
                    cost_usd=round(cost.cost(total[1], total[2], total[4], batch=batch), 2),
                    price=cost.source + (f", batch x{cost.batch_discount}" if batch else ""),
                    entity_counts="" if config.method != "entigraph" else "from the journal" if entities
                    else f"guessed: {guess} per document",
                    within_budget=budgeted(rows, config.budget, lambda r: cost.cost(r[1], r[2], r[4], batch=batch)))


def add_questions(add, doc, config: GenerateSettings) -> None:
    """A document's question request and the answers to each question, with and without the document (guessed
    as all kept, each `dry_run.question_tokens` long)."""
    per_doc, length = config.questions.per_document, config.dry_run.question_tokens
    add("question", question_requests([doc], config)[0], doc, per_doc * length)
    stand_in = {"question": "x" * (4 * length), "options": ["o"] * 4, "answer": "A", "quote": ""}  # 4 chars a token
    for request in answer_requests(doc, [stand_in], config):
        add("answer", request, doc, ANSWER_TOKENS, per_doc)


def budgeted(rows: dict[str, list[float]], budget, price) -> dict | None:
    """Requests, tokens and cost sent before a token budget (output or training tokens, whichever
    comes first) stops the run: the kinds in the order they are sent (entities, pairs, then triples or
    rephrases), the last one cut where it ends."""
    caps = [(2, budget.max_output_tokens), (3, budget.max_train_tokens)]
    left = {column: float(cap) for column, cap in caps if cap}
    if not left:
        return None
    sent = [0.0] * 5
    for kind in KINDS_IN_ORDER:
        if kind in rows and min(left.values()) > 0:
            row = rows[kind]
            share = min([1.0] + [left[c] / row[c] for c in left if row[c]])
            sent = [s + share * r for s, r in zip(sent, row, strict=True)]
            left = {c: v - share * row[c] for c, v in left.items()}
    return {"requests": int(sent[0]), "input_tokens": int(sent[1]), "cached_input_tokens": int(sent[4]),
            "output_tokens": int(sent[2]), "train_tokens": int(sent[3]), "cost_usd": round(price(sent), 2)}
