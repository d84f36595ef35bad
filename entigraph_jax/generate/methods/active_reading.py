"""Active Reading (Lin et al., 2025, arXiv 2508.09494): the generator first proposes, for each document,
`active_reading.strategies` study strategies (paraphrase, timeline, analogy, self-quiz, linking, ... each with a
one-line plan for this document: a JSON request), then applies each strategy to the document to write training
text, `active_reading.samples` texts per strategy, round after round until `active_reading.tokens_per_doc`. With
`active_reading.task` set, the strategies are asked for knowing what the reader will be asked later (the paper's
task-specific variant); empty, they are task-agnostic. `records/` holds the texts (kind `study`, their style the
strategy's name); summary.json's `fates` counts documents, strategies and texts.

Ours: the prompts' wording, the number of strategies and texts per strategy (the paper's counts per document were
not readable to us; its released data suggests about ten texts per strategy)."""

from __future__ import annotations

from entigraph_jax.data import write_records
from entigraph_jax.llm import InvalidAnswer

from ..method import Kind, Method
from ..requests import make_request, read_json
from ..rounds import per_document

MAX_STRATEGIES = 30
STRATEGY_SCHEMA = {"type": "object", "required": ["strategies"], "properties": {"strategies": {
    "type": "array", "maxItems": MAX_STRATEGIES, "items": {
        "type": "object", "required": ["name", "plan"], "properties": {
            "name": {"type": "string", "maxLength": 80}, "plan": {"type": "string", "maxLength": 600}}}}}}
STRATEGY_TOKENS = 40  # the dry run's guess of one strategy in the strategies answer


def strategy_requests(docs, settings):
    """One request per document: how many strategies to propose, and the task they prepare for (if any)."""
    task = settings.active_reading.task
    ask = f" Later you will be asked {task.rstrip('.')}." if task else ""
    return [make_request(doc, "strategies", settings, (str(settings.active_reading.strategies), ask), json_mode=True)
            for doc in docs]


def parse_strategies(answer: str) -> list[dict]:
    """The strategies of an answer ({name, plan} each; a ```json fence accepted), unnamed and repeated ones left
    out; none usable asks again."""
    value = read_json(answer)
    items = value.get("strategies") if isinstance(value, dict) else None
    if not isinstance(items, list):
        raise InvalidAnswer("no 'strategies' list in the JSON object")
    found, seen = [], set()
    for item in items[:MAX_STRATEGIES]:
        name = " ".join(str(item.get("name", "")).split()) if isinstance(item, dict) else ""
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            found.append({"name": name, "plan": " ".join(str(item.get("plan", "")).split())})
    if not found:
        raise InvalidAnswer("no named strategy in the 'strategies' list")
    return found


def read_strategies(record, request, completion, doc, settings) -> dict:
    return {**record, "strategies": parse_strategies(completion.text)}


def study_requests(doc, strategies: list[dict], settings, samples: range):
    """Each strategy applied to the document, `samples` times."""
    return [make_request(doc, "study", settings, (f"{s['name']}: {s['plan']}" if s["plan"] else s["name"],),
                         style=s["name"][:40], sample_index=i) for i in samples for s in strategies]


async def send(rounds) -> None:
    """The strategies of every document; then every strategy applied, round after round."""
    journal, config = rounds.journal, rounds.config
    rounds.expect(journal.count_pending(("strategies",), rounds.retry))
    await rounds.engine.run(journal.pending(("strategies",), rounds.retry))
    strategies = {r["doc_id"]: r["strategies"] for r in journal.records(("strategies",))}
    docs = [d for d in rounds.docs if d.doc_id in strategies]
    wanted, first = config.active_reading.tokens_per_doc, range(config.active_reading.samples)

    def next_round():
        """A document's first round; then one more of every strategy while it is short of `tokens_per_doc`."""
        new = []
        for doc, (added, tokens) in per_document(journal, "study", docs):
            done = added // len(strategies[doc.doc_id])
            if not added or (wanted and tokens < wanted):
                new += study_requests(doc, strategies[doc.doc_id], config, first if not added else range(done,
                                                                                                       done + 1))
        return new

    if not rounds.engine.stats.budget_reached:
        await rounds.send_kind("study", next_round)


def export(config, docs, journal, out) -> tuple[int, dict]:
    """`records/`: the texts (the strategies' JSON is not training text); documents, strategies and texts counted."""
    proposed = [len(r["strategies"]) for r in journal.records(("strategies",))]
    written = write_records(journal.records(("study",)), out.records)
    return written, {"documents with strategies": len(proposed), "strategies": sum(proposed),
                     "strategies per document": [min(proposed, default=0), max(proposed, default=0)], "texts": written}


def estimate(add, docs, config, out) -> str:
    """Each document's strategies request, then every strategy's texts, as many rounds as `tokens_per_doc` takes
    at the guessed length (the strategies as many as asked for)."""
    reading, out_tokens = config.active_reading, config.dry_run.output_tokens
    per_round = reading.strategies * out_tokens
    rounds = max(reading.samples, -(-reading.tokens_per_doc // per_round)) if reading.tokens_per_doc \
        else reading.samples
    stand_in = [{"name": "a strategy", "plan": "x" * (4 * STRATEGY_TOKENS)}]  # 4 characters a token
    for doc in docs:
        add("strategies", strategy_requests([doc], config)[0], doc, reading.strategies * STRATEGY_TOKENS)
        add("study", study_requests(doc, stand_in, config, range(1))[0], doc, out_tokens, reading.strategies * rounds)
    return f"strategies guessed: {reading.strategies} per document, as asked"


METHOD = Method(
    "active_reading", "study strategies the generator proposes for each document, then applies to it",
    kinds={"strategies": Kind(STRATEGY_SCHEMA, lambda s: s.active_reading.attempts, read_strategies, trains=False),
           "study": Kind(sampled=True)},
    templates=lambda settings: ("system", "strategies", "study"), first=strategy_requests, send=send,
    estimate=estimate, export=export)
