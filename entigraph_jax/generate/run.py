"""A generation run: plan, send, journal, export records; the dry-run estimate; merging shards."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import ml_collections
from tqdm import tqdm

from entigraph_jax.clients import CLIENTS, Backend, Fatal, make_client
from entigraph_jax.config import ConfigError
from entigraph_jax.data import RecordWriter, read_records
from entigraph_jax.data.sources import Document, load_source

from .engine import Engine, Limits
from .journal import Journal
from .plan import PlanSettings, entity_requests, interleave_by_document, messages, relation_requests, rephrase_requests
from .prompts import REPHRASE_STYLES, template

METHODS = ("entigraph", "rephrase")
RELATION_KINDS = ("pair", "triple")
BACKENDS = (*CLIENTS, "local")


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    """What a run did; also written to `summary.json` beside the records."""

    status: str  # complete | budget reached | incomplete
    method: str
    model: str
    prompt_version: str
    documents: int
    requests: dict  # kind -> {state: count}
    records: int
    input_tokens: int
    output_tokens: int
    retried_this_run: int
    seconds_this_run: float
    records_dir: str


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The dry run: the plan's size and cost before anything is sent."""

    documents: int
    by_kind: dict  # kind -> {requests, input_tokens, output_tokens}
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    entity_counts: str  # where the entity counts behind the pair/triple requests come from


@dataclasses.dataclass(frozen=True)
class MergeResult:
    shards: int
    records: int
    records_dir: str
    incomplete_shards: list


def make_backend(llm) -> Backend:
    """An HTTP client (`clients`), or our own model served by the sampler for `backend="local"`."""
    if llm.backend != "local":
        return make_client(llm)
    if not llm.tokenizer:
        raise Fatal("llm.backend='local' needs llm.tokenizer (and llm.model: a checkpoint folder)")
    from .local import LocalBackend

    return LocalBackend(llm.model, llm.tokenizer, llm.max_concurrency, llm.local_dtype)


def validate(config: ml_collections.ConfigDict) -> None:
    if config.method not in METHODS:
        raise ConfigError(f"config: method={config.method!r}; expected one of {METHODS}")
    if config.llm.backend not in BACKENDS:
        raise ConfigError(f"config: unknown llm.backend={config.llm.backend!r}; expected one of {BACKENDS}")
    for key in ("source", "output_dir", "llm.model"):
        section, _, leaf = key.rpartition(".")
        if not (config[section][leaf] if section else config[leaf]):
            raise ConfigError(f"config: {key} is empty")
    if not 0 <= config.shard_index < config.num_shards:
        raise ConfigError(f"config: shard_index={config.shard_index} is not in [0, num_shards={config.num_shards})")
    if config.llm.max_concurrency <= 0 or config.entigraph.entity_attempts <= 0:
        raise ConfigError("config: llm.max_concurrency and entigraph.entity_attempts must be positive")
    unknown = set(config.rephrase.styles) - set(REPHRASE_STYLES)
    if unknown:
        raise ConfigError(f"config: unknown rephrase.styles {sorted(unknown)}; known: {REPHRASE_STYLES}")
    template(config.prompt_version, "system")  # an unknown prompt version fails here, by name


def shard_documents(docs: list[Document], shard_index: int, num_shards: int) -> list[Document]:
    """A deterministic split by a hash of doc_id: stable whatever the order of the source."""
    def shard_of(doc):
        return int(hashlib.sha256(doc.doc_id.encode()).hexdigest(), 16) % num_shards

    return [d for d in docs if shard_of(d) == shard_index]


def run_dir(config: ml_collections.ConfigDict) -> Path:
    out = Path(config.output_dir)
    return out / f"shard-{config.shard_index:05d}-of-{config.num_shards:05d}" if config.num_shards > 1 else out


def plan_settings(config) -> PlanSettings:
    e = config.entigraph
    return PlanSettings(model=config.llm.model, prompt_version=config.prompt_version, seed=config.seed,
                        max_pairs_per_doc=e.max_pairs_per_doc, triples_fraction=e.triples_fraction,
                        max_triples_per_doc=e.max_triples_per_doc, max_entities=e.max_entities,
                        rephrase_styles=tuple(config.rephrase.styles), rephrase_samples=config.rephrase.samples)


def limits(config) -> Limits:
    llm, budget = config.llm, config.budget
    return Limits(max_concurrency=llm.max_concurrency, requests_per_minute=llm.requests_per_minute,
                  tokens_per_minute=llm.tokens_per_minute, timeout_s=llm.timeout_s, max_retries=llm.max_retries,
                  backoff_initial_s=llm.backoff_initial_s, backoff_max_s=llm.backoff_max_s,
                  entity_attempts=config.entigraph.entity_attempts, temperature=llm.temperature,
                  max_output_tokens=llm.max_output_tokens, max_requests=budget.max_requests,
                  max_output_tokens_total=budget.max_output_tokens)


def load_documents(config) -> list[Document]:
    docs = shard_documents(load_source(config.source), config.shard_index, config.num_shards)
    if not docs:
        raise ConfigError(f"config: shard {config.shard_index} of {config.num_shards} holds no documents")
    return docs


def known_entities(journal: Journal) -> dict[str, list[str]]:
    return {r["doc_id"]: r["entities"] for r in journal.records(("entities",))}


def estimate(config) -> Estimate:
    """Requests, input/output tokens and cost of the whole plan, before anything is sent (tokens
    estimated at 4 characters each; entity counts from the journal where known, else a guess)."""
    docs = load_documents(config)
    settings = plan_settings(config)
    journal_path = run_dir(config) / "journal.sqlite"
    entities = {}
    if journal_path.is_file():
        journal = Journal(journal_path)
        entities = known_entities(journal)
        journal.close()
    rows: dict[str, list[float]] = {}

    def add(kind, request, doc, output_tokens):
        system, prompt = messages(request, doc, settings.prompt_version)
        row = rows.setdefault(kind, [0, 0, 0])
        row[0] += 1
        row[1] += (len(system) + len(prompt)) / 4
        row[2] += output_tokens

    guess, out_tokens = config.dry_run.entities_per_doc, config.dry_run.output_tokens
    for doc in docs:
        if config.method == "rephrase":
            for r in rephrase_requests([doc], settings):
                add("rephrase", r, doc, out_tokens)
            continue
        add("entities", entity_requests([doc], settings)[0], doc, config.dry_run.entity_output_tokens)
        names = entities.get(doc.doc_id) or [f"entity {i}" for i in range(guess)]
        for r in relation_requests(doc, names, settings):
            add(r.kind, r, doc, out_tokens)
    price_in, price_out = config.llm.price_per_million_input, config.llm.price_per_million_output
    total = [sum(r[i] for r in rows.values()) for i in range(3)]
    return Estimate(documents=len(docs), by_kind={k: {"requests": int(v[0]), "input_tokens": int(v[1]),
                                                      "output_tokens": int(v[2])} for k, v in rows.items()},
                    requests=int(total[0]), input_tokens=int(total[1]), output_tokens=int(total[2]),
                    cost_usd=round(total[1] / 1e6 * price_in + total[2] / 1e6 * price_out, 2),
                    entity_counts="from the journal" if entities else f"guessed: {guess} per document")


def export_records(records, folder: Path) -> int:
    """Write records to a fresh folder and swap it in, so readers never see a partial set."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    count = 0
    with RecordWriter(tmp) as writer:
        for record in records:
            writer.write(record)
            count += 1
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return count


async def _send(config, docs, journal, settings) -> dict:
    by_id = {d.doc_id: d for d in docs}
    backend = make_backend(config.llm)
    progress = tqdm(desc="generate", unit="req", dynamic_ncols=True)

    def show(stats):
        progress.update(1)
        progress.set_postfix(done=stats.done, failed=stats.failed, retried=stats.retried,
                             tokens=stats.output_tokens, refresh=False)

    engine = Engine(backend, journal, by_id, limits(config), config.llm.model, config.prompt_version, show)
    kinds = ("rephrase",) if config.method == "rephrase" else ("entities",)
    try:
        progress.total = journal.count_pending(kinds, config.retry_failed)
        await engine.run(journal.pending(kinds, config.retry_failed))
        while config.method == "rephrase" and config.rephrase.tokens_per_doc and not engine.stats.budget_reached:
            # repeat to a token budget: another round of every style for documents still short of it
            per_doc, styles = journal.per_document("rephrase"), len(config.rephrase.styles)
            short = [d for d in docs if per_doc.get(d.doc_id, (0, 0))[1] < config.rephrase.tokens_per_doc]
            rounds = {d.doc_id: per_doc.get(d.doc_id, (0, 0))[0] // styles for d in short}
            new = [r for d in short for r in rephrase_requests([d], settings, range(rounds[d.doc_id],
                                                                                 rounds[d.doc_id] + 1))]
            if not new or journal.plan(interleave_by_document(new)) == 0:
                break
            progress.total += len(new)
            before = engine.stats.output_tokens
            await engine.run(journal.pending(kinds, config.retry_failed))
            if engine.stats.output_tokens == before:  # nothing produced (all failing): stop, do not spin
                break
        if config.method == "entigraph":
            entities = known_entities(journal)
            planned = [r for doc in docs if doc.doc_id in entities
                       for r in relation_requests(doc, entities[doc.doc_id], settings)]
            journal.plan(interleave_by_document(planned))
            progress.total += journal.count_pending(RELATION_KINDS, config.retry_failed)
            progress.refresh()
            await engine.run(journal.pending(RELATION_KINDS, config.retry_failed))
    finally:
        progress.close()
        await backend.aclose()
    return {"budget_reached": engine.stats.budget_reached, "retried": engine.stats.retried}


def generate(config: ml_collections.ConfigDict) -> GenerateResult:
    """Run (or resume) the plan; returns the summary also written to `summary.json`."""
    validate(config)
    docs, settings, out = load_documents(config), plan_settings(config), run_dir(config)
    journal = Journal(out / "journal.sqlite")
    start = time.time()
    if config.method == "rephrase":
        journal.plan(interleave_by_document(rephrase_requests(docs, settings)))
    else:
        journal.plan(entity_requests(docs, settings))
    try:
        this_run = asyncio.run(_send(config, docs, journal, settings))
    finally:
        written = export_records(journal.records(), out / "records")
    counts, (input_tokens, output_tokens) = journal.counts(), journal.tokens()
    journal.close()
    pending = sum(c.get("planned", 0) + c.get("failed", 0) for c in counts.values())
    summary = GenerateResult(
        status="complete" if pending == 0 else ("budget reached" if this_run["budget_reached"] else "incomplete"),
        method=config.method, model=config.llm.model, prompt_version=config.prompt_version, documents=len(docs),
        requests=counts, records=written, input_tokens=input_tokens, output_tokens=output_tokens,
        retried_this_run=this_run["retried"], seconds_this_run=round(time.time() - start, 1),
        records_dir=str(out / "records"))
    (out / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=2))
    return summary


def merge(config: ml_collections.ConfigDict) -> MergeResult:
    """Join the records of all `num_shards` shard runs into `output_dir/records`."""
    out = Path(config.output_dir)
    shards = [out / f"shard-{i:05d}-of-{config.num_shards:05d}" for i in range(config.num_shards)]
    missing = [s.name for s in shards if not (s / "summary.json").is_file()]
    if missing:
        raise ConfigError(f"{out}: shard runs not finished: {', '.join(missing)}")
    incomplete = [s.name for s in shards if json.loads((s / "summary.json").read_text())["status"] != "complete"]
    records = (r for s in shards if any((s / "records").glob("*.array_record"))
               for r in read_records(s / "records"))
    written = export_records(records, out / "records")
    return MergeResult(shards=len(shards), records=written, records_dir=str(out / "records"),
                       incomplete_shards=incomplete)
