"""The dry run (`generate --dry_run`): a run's requests, tokens and cost before anything is sent."""

from __future__ import annotations

import dataclasses
import os

from entigraph_jax.clients.prices import price

from .method import method
from .requests import load_documents, messages
from .settings import GenerateSettings

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
    """Requests, input/output tokens and cost of the whole run, before anything is sent (tokens estimated at 4
    characters each; what the method asks, as it says (`method.Method.estimate`: entity counts from the journal
    where known, else a guess; rephrase rounds until `rephrase.tokens_per_doc` at the guessed length); training
    tokens guessed as the answers' output tokens and `dry_run.summary_tokens` per summary, each with BOS and
    EOS; none for the kinds training does not read)."""
    config.check_templates()
    docs, corpus, chosen = load_documents(config), config.corpus(), method(config.method)
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
        trained = 0 if not chosen.kinds[kind].trains else (
            config.dry_run.summary_tokens if kind == "entities" else output_tokens) + 2
        row[3] += count * trained
        # the `count` requests share with the document's earlier ones what this one does (its document part)
        row[4] += count * cached_tokens(text, list(earlier.values()))
        earlier.setdefault(kind, text)

    note = chosen.estimate(add, docs, config, corpus)
    cost = price(config.llm)
    batch = config.llm.mode == "batch"
    total = [sum(r[i] for r in rows.values()) for i in range(5)]
    in_order = {k: rows[k] for k in chosen.kinds if k in rows}  # the order they are sent in
    return Estimate(documents=len(docs), by_kind={k: {"requests": int(v[0]), "input_tokens": int(v[1]),
                                                      "cached_input_tokens": int(v[4]), "output_tokens": int(v[2]),
                                                      "train_tokens": int(v[3])} for k, v in in_order.items()},
                    requests=int(total[0]), input_tokens=int(total[1]), cached_input_tokens=int(total[4]),
                    output_tokens=int(total[2]), train_tokens=int(total[3]),
                    cost_usd=round(cost.cost(total[1], total[2], total[4], batch=batch), 2),
                    price=cost.source + (f", batch x{cost.batch_discount}" if batch else ""), entity_counts=note,
                    within_budget=budgeted(in_order, config.budget, lambda r: cost.cost(r[1], r[2], r[4], batch=batch)))


def budgeted(rows: dict[str, list[float]], budget, price) -> dict | None:
    """Requests, tokens and cost sent before a token budget (output or training tokens, whichever
    comes first) stops the run: the kinds in the order they are sent (`rows`' order: entities, pairs, then
    triples), the last one cut where it ends."""
    caps = [(2, budget.max_output_tokens), (3, budget.max_train_tokens)]
    left = {column: float(cap) for column, cap in caps if cap}
    if not left:
        return None
    sent = [0.0] * 5
    for kind in rows:
        if min(left.values()) > 0:
            row = rows[kind]
            share = min([1.0] + [left[c] / row[c] for c in left if row[c]])
            sent = [s + share * r for s, r in zip(sent, row, strict=True)]
            left = {c: v - share * row[c] for c, v in left.items()}
    return {"requests": int(sent[0]), "input_tokens": int(sent[1]), "cached_input_tokens": int(sent[4]),
            "output_tokens": int(sent[2]), "train_tokens": int(sent[3]), "cost_usd": round(price(sent), 2)}
