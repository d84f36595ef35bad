"""EntiGraph (Yang et al., 2025), per document: (1) one JSON request for a summary and the entities; (2) a text
for every pair of entities; (3) texts for the entity triples in a seeded shuffled order, round after round, until
none is left or a budget stops them (`requests.py` makes the requests). Every pair of every document is sent
before any triple."""

from __future__ import annotations

from entigraph_jax.llm import Journal

from ..method import Kind, Method
from ..requests import ENTITY_SCHEMA, entity_requests, pair_requests, parse_entities, triple_requests, triple_schedule
from ..rounds import per_document

TRIPLES_PER_ROUND = 8  # triples added per document at a time, so the journal holds what the budget reaches


def read_entities(record, request, completion, doc, settings) -> dict:
    record["summary"], record["entities"], record["dropped_entities"] = parse_entities(
        completion.text, doc.text if settings.entigraph.entities_in_document else None)
    return record


async def send(rounds) -> None:
    journal, config, engine = rounds.journal, rounds.config, rounds.engine
    rounds.expect(journal.count_pending(("entities",), rounds.retry))
    await engine.run(journal.pending(("entities",), rounds.retry))
    entities = journal.entities()
    with_entities = [d for d in rounds.docs if d.doc_id in entities]
    journal.add(rounds.order([r for d in with_entities for r in pair_requests(d, entities[d.doc_id], config)]))
    rounds.expect(journal.count_pending(("pair",), rounds.retry))
    await engine.run(journal.pending(("pair",), rounds.retry))
    schedules = {d.doc_id: triple_schedule(d, entities[d.doc_id], config) for d in with_entities}

    def next_triple_round():
        """Each document's next triples in its schedule."""
        return [r for doc, (added, _) in per_document(journal, "triple", with_entities)
                for r in triple_requests(doc, entities[doc.doc_id],
                                         schedules[doc.doc_id][added : added + TRIPLES_PER_ROUND], config)]

    if not engine.stats.budget_reached:
        await rounds.send_kind("triple", next_triple_round)


def estimate(add, docs, config, out) -> str:
    """Each document's entity request, every pair and its triples, the entities as the journal knows them (else
    `dry_run.entities_per_doc` stand-ins)."""
    entities = {}
    if out.journal.is_file():
        journal = Journal(out.journal)
        entities = journal.entities()
        journal.close()
    guess, out_tokens = config.dry_run.entities_per_doc, config.dry_run.output_tokens
    for doc in docs:
        add("entities", entity_requests([doc], config)[0], doc, config.dry_run.entity_output_tokens)
        names = entities.get(doc.doc_id) or [f"entity {i}" for i in range(guess)]
        for r in pair_requests(doc, names, config):
            add("pair", r, doc, out_tokens)
        schedule = triple_schedule(doc, names, config)
        if schedule:  # one triple's prompt stands for all of its document's (the same document)
            add("triple", triple_requests(doc, names, schedule[:1], config)[0], doc, out_tokens, len(schedule))
    return "from the journal" if entities else f"guessed: {guess} per document"


METHOD = Method(
    "entigraph", "EntiGraph: each document's entities, then a text for every pair and the triples",
    kinds={"entities": Kind(ENTITY_SCHEMA, lambda s: s.entigraph.entity_attempts, read_entities), "pair": Kind(),
           "triple": Kind()},
    templates=lambda settings: ("system", "entities", "pair", "triple"), first=entity_requests, send=send,
    estimate=estimate)
