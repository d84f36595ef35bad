"""What to ask the LLM: EntiGraph's three stages and the Rephrase baseline, as `Request`s (the
questions method's are in `questions`); each is rendered from its document when it is sent (`messages`).

EntiGraph (Yang et al., 2025), per document: (1) one JSON request for a summary and the entities;
(2) a text for every pair of entities; (3) texts for the entity triples in a seeded shuffled order,
as the paper's `data/entigraph.py` does, until a budget stops them. Every pair of every document is
sent before any triple. Caps per document are here; overall budgets are the engine's. Every request
has a stable id: a hash of what is asked (document, stage, entities, prompt version, model, sample).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, load_source, unique_documents
from entigraph_jax.llm import InvalidAnswer, Request

from .method import kind
from .prompts import identity as prompt_identity
from .prompts import render, system_message
from .settings import GenerateSettings


def request_id(doc: Document, kind: str, entities, settings: GenerateSettings, sample_index: int = 0,
               style: str = "") -> str:
    key = json.dumps([doc.text, kind, list(entities), prompt_identity(settings.prompt_version), settings.llm.model,
                      sample_index, style], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def make_request(doc, kind, settings, entities=(), style="", sample_index=0, json_mode=False) -> Request:
    return Request(
        request_id=request_id(doc, kind, entities, settings, sample_index, style),
        doc_id=doc.doc_id, kind=kind, json_mode=json_mode, entities=tuple(entities), style=style,
        sample_index=sample_index)


def messages(request: Request, doc: Document, prompt_version: str) -> tuple[str, str]:
    """(system, user) prompt texts of a request."""
    name = f"{request.kind}_{request.style}" if kind(request.kind).styled else request.kind
    return system_message(prompt_version, name), render(prompt_version, name, doc.text, request.entities, doc.title)


def entity_requests(docs: list[Document], settings: GenerateSettings) -> list[Request]:
    return [make_request(doc, "entities", settings, json_mode=True) for doc in docs]


def _entities(entities: list[str], settings: GenerateSettings) -> list[str]:
    return entities[: settings.entigraph.max_entities] if settings.entigraph.max_entities else entities


def pair_requests(doc: Document, entities: list[str], settings: GenerateSettings) -> list[Request]:
    """Every pair of entities (or the first `max_pairs_per_doc` in a seeded order)."""
    pairs = list(itertools.combinations(_entities(entities, settings), 2))
    if settings.entigraph.max_pairs_per_doc and len(pairs) > settings.entigraph.max_pairs_per_doc:
        random.Random(f"{settings.seed}:{doc.doc_id}").shuffle(pairs)
        pairs = pairs[: settings.entigraph.max_pairs_per_doc]
    return [make_request(doc, "pair", settings, p) for p in pairs]


def nth_combination(items: list[str], r: int, index: int) -> tuple[str, ...]:
    """The `index`-th r-combination of `items` in lexicographic order, without listing the others."""
    chosen, start = [], 0
    for slots in range(r, 0, -1):
        for position in range(start, len(items)):
            count = math.comb(len(items) - position - 1, slots - 1)  # combinations that begin here
            if index < count:
                chosen.append(items[position])
                start = position + 1
                break
            index -= count
    return tuple(chosen)


def triple_schedule(doc: Document, entities: list[str], settings: GenerateSettings) -> list[int]:
    """Indices (lexicographic) of the triples to ask for, in the order to ask: all triples shuffled
    with a seed, the first `triples_fraction` of them, at most `max_triples_per_doc`."""
    count = math.comb(len(_entities(entities, settings)), 3)
    order = list(range(count))
    random.Random(f"{settings.seed}:{doc.doc_id}:triples").shuffle(order)
    wanted = round(settings.entigraph.triples_fraction * count)
    if settings.entigraph.max_triples_per_doc:
        wanted = min(wanted, settings.entigraph.max_triples_per_doc)
    return order[:wanted]


def triple_requests(doc: Document, entities: list[str], indices: list[int],
                    settings: GenerateSettings) -> list[Request]:
    names = _entities(entities, settings)
    return [make_request(doc, "triple", settings, nth_combination(names, 3, i)) for i in indices]


def rephrase_requests(docs: list[Document], settings: GenerateSettings, samples: range | None = None) -> list[Request]:
    """Each document rewritten in each style, `samples` times (default: `rephrase_samples`)."""
    samples = samples if samples is not None else range(settings.rephrase.samples)
    return [make_request(doc, "rephrase", settings, style=style, sample_index=i)
            for doc in docs for i in samples for style in settings.rephrase.styles]


class InvalidEntities(InvalidAnswer):
    """The entity stage's answer is not the JSON object asked for."""


MAX_ENTITY_CHARS = 100  # longer "entities" are sentences, not names
JSON_FRAGMENT = re.compile(r"[{}\[\]]|^\W*$|^(true|false|null|fieldnames|entities|summary|name|string)$", re.I)


# The shape of the entity stage's answer, for backends that can enforce it (the local sampler).
ENTITY_SCHEMA = {"type": "object", "properties": {
    "summary": {"type": "string", "maxLength": 2000},
    "entities": {"type": "array", "maxItems": 100, "uniqueItems": True,
                 "items": {"type": "string", "maxLength": MAX_ENTITY_CHARS}}}}


def entity_problem(name: str, document: str | None) -> str | None:
    """Why `name` is not an entity of `document` (None if it is one): debris (JSON fragments, no word
    character, a sentence's length), or, with a `document`, words it never uses. Names of digits and
    signs ("1984", "X-15", "R2-D2", "9/11") are names: the paper keeps every entity the model returns."""
    if len(name) > MAX_ENTITY_CHARS:
        return "too long"
    if JSON_FRAGMENT.search(name):
        return "a JSON fragment"
    if document is not None:
        text = document.casefold()
        words = [w for w in re.findall(r"\w+", name.casefold()) if len(w) > 3] or re.findall(r"\w+", name.casefold())
        if name.casefold() not in text and sum(w in text for w in words) < len(words) / 2:
            return "not in the document"
    return None


def read_json(answer: str, invalid: type[InvalidAnswer] = InvalidAnswer):
    """The JSON value of a JSON stage's answer, a ```json fence around it accepted; `invalid` (asked again) if it
    is not JSON."""
    text = answer.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as e:
        raise invalid(f"not JSON ({e})") from e


def parse_entities(answer: str, document: str | None = None) -> tuple[str, list[str], list[str]]:
    """(summary, entities, dropped) from the entity stage's answer; a ```json fence around it is
    accepted. Entities are checked (`entity_problem`) and de-duplicated case-insensitively; the ones
    dropped are returned so the record keeps them."""
    value = read_json(answer, InvalidEntities)
    if not isinstance(value, dict) or not isinstance(value.get("entities"), list):
        raise InvalidEntities("no 'entities' list in the JSON object")
    entities, dropped, seen = [], [], set()
    for item in value["entities"]:
        name = " ".join(item.split()) if isinstance(item, str) else json.dumps(item)
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        (dropped if not isinstance(item, str) or entity_problem(name, document) else entities).append(name)
    if not entities:
        what = f" (dropped: {', '.join(dropped[:5])[:200]})" if dropped else ""
        raise InvalidEntities(f"no usable entity in the 'entities' list{what}")
    summary = value.get("summary") if isinstance(value.get("summary"), str) else ""
    return summary, entities, dropped


def interleave_by_document(requests: list[Request]) -> list[Request]:
    """Round-robin over documents, so a run stopped by a budget has covered every document evenly."""
    by_doc: dict[str, list[Request]] = {}
    for r in requests:
        by_doc.setdefault(r.doc_id, []).append(r)
    rounds = itertools.zip_longest(*by_doc.values())
    return [r for batch in rounds for r in batch if r is not None]


def shard_documents(docs: list[Document], shard_index: int, num_shards: int) -> list[Document]:
    """A deterministic split by a hash of doc_id: stable whatever the order of the source."""
    def shard_of(doc):
        return int(hashlib.sha256(doc.doc_id.encode()).hexdigest(), 16) % num_shards

    return [d for d in docs if shard_of(d) == shard_index]


def load_documents(settings: GenerateSettings) -> list[Document]:
    """This shard's documents of the source."""
    docs = unique_documents(load_source(settings.source), settings.source)
    docs = shard_documents(docs, settings.shard_index, settings.num_shards)
    if not docs:
        raise ConfigError(f"config: shard {settings.shard_index} of {settings.num_shards} holds no documents")
    return docs
