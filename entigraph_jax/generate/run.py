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
from entigraph_jax.clients.prices import price
from entigraph_jax.config import ConfigError
from entigraph_jax.data import RecordWriter, read_records
from entigraph_jax.data.sources import Document, load_source
from entigraph_jax.errors import UserError
from entigraph_jax.outputs import hold, publish

from .batch import BatchEngine
from .engine import Engine, Limits
from .journal import Journal
from .plan import (
    PlanSettings,
    entity_requests,
    interleave_by_document,
    messages,
    pair_requests,
    rephrase_requests,
    triple_requests,
    triple_schedule,
)
from .prompts import REPHRASE_STYLES, template

METHODS = ("entigraph", "rephrase")
TRIPLES_PER_ROUND = 8  # triples planned per document at a time, so the journal holds what the budget reaches
BACKENDS = (*CLIENTS, "local")
MODES = ("online", "batch")


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    """What a run did; also written to `summary.json` beside the records."""

    status: str  # complete | budget reached | incomplete | failed
    method: str
    mode: str  # online | batch
    model: str
    prompt_version: str
    documents: int
    requests: dict  # kind -> {state: count}
    records: int
    records_by_model: dict  # model -> records (more than one with append=true)
    input_tokens: int
    output_tokens: int
    cost_usd: float  # all runs into this output_dir, at the price in force when each answer came
    price: str  # where this run's price came from
    retried_this_run: int
    seconds_this_run: float
    truncated: dict  # kind -> answers that stopped at llm.max_output_tokens
    errors: list  # the commonest errors of failed requests, with their counts
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
    price: str  # where the price comes from (and "batch: x0.5" in batch mode)
    entity_counts: str  # where the entity counts behind the pair/triple requests come from
    within_budget: dict | None  # with budget.max_output_tokens: what is sent before it stops (pairs first)


@dataclasses.dataclass(frozen=True)
class MergeResult:
    shards: int
    records: int
    records_dir: str
    incomplete_shards: list


def make_backend(llm, log_dir: Path) -> Backend:
    """An HTTP client (`clients`), or our own model served by the sampler for `backend="local"`."""
    if llm.backend != "local":
        return make_client(llm, batch=llm.mode == "batch", log_dir=log_dir)
    if not llm.model:
        raise Fatal("llm.backend='local' needs llm.model: a checkpoint folder")
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
    if config.llm.mode not in MODES:
        raise ConfigError(f"config: llm.mode={config.llm.mode!r}; expected one of {MODES}")
    if config.llm.mode == "batch" and config.llm.backend not in ("openai", "gemini"):
        raise ConfigError(f"config: llm.mode='batch' needs a provider's batch API (llm.backend openai or gemini), "
                          f"not llm.backend={config.llm.backend!r}")
    if config.llm.batch_size < 0 or config.llm.poll_s <= 0:
        raise ConfigError("config: llm.batch_size must be >= 0 and llm.poll_s positive")
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
                  max_output_tokens_total=budget.max_output_tokens, max_failures_in_a_row=llm.max_failures_in_a_row)


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
    triple_prompt = {}  # one prompt's length per document stands for all its triples (same document)
    for doc in docs:
        if config.method == "rephrase":
            for r in rephrase_requests([doc], settings):
                add("rephrase", r, doc, out_tokens)
            continue
        add("entities", entity_requests([doc], settings)[0], doc, config.dry_run.entity_output_tokens)
        names = entities.get(doc.doc_id) or [f"entity {i}" for i in range(guess)]
        for r in pair_requests(doc, names, settings):
            add("pair", r, doc, out_tokens)
        schedule = triple_schedule(doc, names, settings)
        if schedule:
            add("triple", triple_requests(doc, names, schedule[:1], settings)[0], doc, out_tokens)
            triple_prompt[doc.doc_id] = rows["triple"][1] - sum(triple_prompt.values())
            row = rows["triple"]
            row[0] += len(schedule) - 1
            row[1] += triple_prompt[doc.doc_id] * (len(schedule) - 1)
            row[2] += out_tokens * (len(schedule) - 1)
    cost = price(config.llm)
    batch = config.llm.mode == "batch"
    scale = cost.batch_discount if batch else 1.0
    per_token = (cost.input / 1e6 * scale, cost.output / 1e6 * scale)
    total = [sum(r[i] for r in rows.values()) for i in range(3)]
    return Estimate(documents=len(docs), by_kind={k: {"requests": int(v[0]), "input_tokens": int(v[1]),
                                                      "output_tokens": int(v[2])} for k, v in rows.items()},
                    requests=int(total[0]), input_tokens=int(total[1]), output_tokens=int(total[2]),
                    cost_usd=round(total[1] * per_token[0] + total[2] * per_token[1], 2),
                    price=cost.source + (f", batch x{cost.batch_discount}" if batch else ""),
                    entity_counts="from the journal" if entities else f"guessed: {guess} per document",
                    within_budget=budgeted(rows, config.budget.max_output_tokens, per_token))


def budgeted(rows: dict[str, list[float]], max_output_tokens: int, price: tuple[float, float]) -> dict | None:
    """Requests, tokens and cost sent before the output-token budget stops the run: the kinds in the
    order they are sent (entities, pairs, then triples or rephrases), the last one cut where it ends."""
    if not max_output_tokens:
        return None
    left, sent = float(max_output_tokens), [0.0, 0.0, 0.0]
    for kind in ("entities", "pair", "triple", "rephrase"):
        if kind in rows and left > 0:
            requests, input_tokens, output_tokens = rows[kind]
            share = min(1.0, left / output_tokens) if output_tokens else 1.0
            sent = [sent[0] + share * requests, sent[1] + share * input_tokens, sent[2] + share * output_tokens]
            left -= share * output_tokens
    return {"requests": int(sent[0]), "input_tokens": int(sent[1]), "output_tokens": int(sent[2]),
            "cost_usd": round(sent[1] * price[0] + sent[2] * price[1], 2)}


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
    publish(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return count


def per_document(journal: Journal, kind: str, docs: list[Document]) -> list[tuple[Document, tuple[int, int]]]:
    """(document, (requests of `kind` planned, output tokens produced)) for each of `docs`."""
    counts = journal.per_document(kind)
    return [(doc, counts.get(doc.doc_id, (0, 0))) for doc in docs]


def plan_order(config):
    """The order a round's requests are planned (and sent) in: a served model's prefix cache wants a
    document's requests together; elsewhere round-robin over documents covers every document evenly
    when a budget stops the run."""
    return list if config.llm.backend == "vllm" else interleave_by_document


async def _in_rounds(engine: Engine, journal: Journal, kind: str, retry: bool, progress, next_round, order) -> None:
    """Send what is pending of `kind`, then plan and send round after round (`next_round()` -> new
    requests) until a budget is reached, nothing new is planned, or a round produces nothing."""
    await engine.run(journal.pending((kind,), retry))
    while not engine.stats.budget_reached:
        new = next_round()
        if not new or journal.plan(order(new)) == 0:
            return
        progress.total += len(new)
        before = engine.stats.output_tokens
        await engine.run(journal.pending((kind,), retry))
        if engine.stats.output_tokens == before:  # nothing produced (all failing): stop, do not spin
            return


async def _send(config, docs, journal, settings) -> dict:
    by_id = {d.doc_id: d for d in docs}
    backend = make_backend(config.llm, run_dir(config))
    order = plan_order(config)
    progress = tqdm(desc="generate", unit="req", dynamic_ncols=True)

    def show(stats):
        progress.update(1)
        progress.set_postfix(done=stats.done, failed=stats.failed, retried=stats.retried,
                             tokens=stats.output_tokens, usd=f"{stats.cost_usd:.2f}", refresh=False)

    args = (backend, journal, by_id, limits(config), config.llm.model, config.prompt_version, show)
    if config.llm.mode == "batch":
        engine = BatchEngine(*args, price=price(config.llm), poll_s=config.llm.poll_s,
                             batch_size=config.llm.batch_size)
    else:
        engine = Engine(*args, price=price(config.llm))
    retry = config.retry_failed

    def next_rephrase_round():
        """Another round of every style for the documents short of `rephrase.tokens_per_doc`."""
        if not config.rephrase.tokens_per_doc:
            return []
        new = []
        for doc, (planned, tokens) in per_document(journal, "rephrase", docs):
            if tokens < config.rephrase.tokens_per_doc:
                rounds = planned // len(config.rephrase.styles)
                new += rephrase_requests([doc], settings, range(rounds, rounds + 1))
        return new

    async def entigraph():
        progress.total = journal.count_pending(("entities",), retry)
        await engine.run(journal.pending(("entities",), retry))
        entities = known_entities(journal)
        with_entities = [d for d in docs if d.doc_id in entities]
        journal.plan(order([r for d in with_entities
                                             for r in pair_requests(d, entities[d.doc_id], settings)]))
        progress.total += journal.count_pending(("pair",), retry)
        await engine.run(journal.pending(("pair",), retry))
        schedules = {d.doc_id: triple_schedule(d, entities[d.doc_id], settings) for d in with_entities}

        def next_triple_round():
            """Each document's next triples in its schedule."""
            return [r for doc, (planned, _) in per_document(journal, "triple", with_entities)
                    for r in triple_requests(doc, entities[doc.doc_id],
                                             schedules[doc.doc_id][planned : planned + TRIPLES_PER_ROUND], settings)]

        if not engine.stats.budget_reached:
            await _in_rounds(engine, journal, "triple", retry, progress, next_triple_round, order)

    stopped = None
    try:
        await backend.start()
        if config.method == "rephrase":
            progress.total = journal.count_pending(("rephrase",), retry)
            await _in_rounds(engine, journal, "rephrase", retry, progress, next_rephrase_round, order)
        else:
            await entigraph()
    except Fatal as e:  # the run cannot work: say why in the summary, then fail
        stopped = str(e)
    finally:
        progress.close()
        await backend.aclose()
    return {"budget_reached": engine.stats.budget_reached, "retried": engine.stats.retried, "stopped": stopped}


class GenerationFailed(UserError):
    """A run that ended with too many failed requests (its records and summary are written first)."""


def check_one_corpus(config, out: Path) -> None:
    """An output folder holds one corpus: a rerun with another model, method or prompt version is
    refused unless `append` is set (then `run.json` lists every setting that wrote there)."""
    manifest = out / "run.json"
    this = {"method": config.method, "model": config.llm.model, "prompt_version": config.prompt_version}
    runs = json.loads(manifest.read_text())["runs"] if manifest.is_file() else []
    if runs and this not in runs:
        if not config.append:
            last = runs[-1]
            changed = ", ".join(f"{k} {last.get(k)!r} -> {v!r}" for k, v in this.items() if last.get(k) != v)
            raise ConfigError(f"{out}: holds a corpus written with other settings ({changed}); use another "
                              "output_dir, or --config.append=true to add to this one")
    if this not in runs:
        manifest.write_text(json.dumps({"runs": [*runs, this]}, indent=2))


def generate(config: ml_collections.ConfigDict) -> GenerateResult:
    """Run (or resume) the plan; returns the summary also written to `summary.json`. A run that
    could not work, or that ends with more than `llm.max_failure_fraction` of its requests failed,
    raises `GenerationFailed` after writing its records and summary."""
    validate(config)
    docs, settings, out = load_documents(config), plan_settings(config), run_dir(config)
    with hold(out, "generate output_dir"):
        check_one_corpus(config, out)
        journal = Journal(out / "journal.sqlite")
        start = time.time()
        if config.method == "rephrase":
            journal.plan(plan_order(config)(rephrase_requests(docs, settings)))
        else:
            journal.plan(entity_requests(docs, settings))
        try:
            this_run = asyncio.run(_send(config, docs, journal, settings))
        finally:
            written = export_records(journal.records(), out / "records")
        counts, (input_tokens, output_tokens), spent = journal.counts(), journal.tokens(), journal.cost()
        truncated, errors, by_model = journal.truncated(), journal.errors(3), journal.by_model()
        journal.close()
        done, failed = (sum(c.get(k, 0) for c in counts.values()) for k in ("done", "failed"))
        pending = sum(c.get("planned", 0) for c in counts.values()) + failed
        too_many = failed > config.llm.max_failure_fraction * (done + failed) or (failed and not done)
        status = ("failed" if this_run["stopped"] or too_many else "budget reached" if this_run["budget_reached"]
                  else "complete" if pending == 0 else "incomplete")
        summary = GenerateResult(
            status=status, method=config.method, mode=config.llm.mode, model=config.llm.model,
            prompt_version=config.prompt_version, documents=len(docs), requests=counts, records=written,
            records_by_model=by_model, input_tokens=input_tokens, output_tokens=output_tokens,
            cost_usd=round(spent, 6), price=price(config.llm).source, retried_this_run=this_run["retried"],
            seconds_this_run=round(time.time() - start, 1), truncated=truncated,
            errors=[{"count": n, "error": e} for e, n in errors], records_dir=str(out / "records"))
        (out / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=2))
    if status == "failed":
        reason = this_run["stopped"] or (f"{failed} of {done + failed} requests failed (llm.max_failure_fraction="
                                         f"{config.llm.max_failure_fraction})")
        common = "; ".join(f"{n} x {e}" for e, n in errors)
        raise GenerationFailed(f"{reason}" + (f"; failed requests: {common}" if common and not this_run["stopped"]
                                              else "") + f"; {written} records kept, see {out / 'summary.json'}")
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
    with hold(out, "generate output_dir"):
        written = export_records(records, out / "records")
    return MergeResult(shards=len(shards), records=written, records_dir=str(out / "records"),
                       incomplete_shards=incomplete)
