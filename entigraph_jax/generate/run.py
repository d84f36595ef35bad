"""A generation run: its requests, sent and journaled, the records and summary exported; merging shards."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import signal
import time
from collections.abc import Iterable, Iterator

from entigraph_jax.clients.prices import price
from entigraph_jax.config import ConfigError
from entigraph_jax.data import read_records, write_records
from entigraph_jax.data.corpus_stats import Deduplicator
from entigraph_jax.data.records import train_text
from entigraph_jax.errors import Stopped, UserError
from entigraph_jax.llm import BatchEngine, Journal, make_backend
from entigraph_jax.outputs import hold
from entigraph_jax.runs import CorpusRun

from .asker import GenerationAsker, budget
from .method import method
from .questions import write_quality
from .requests import load_documents
from .rounds import send, sending_order
from .settings import GenerateSettings


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    """What a run did; also written to `summary.json` beside the records."""

    status: str  # complete | budget reached | incomplete | failed | stopped (SIGTERM)
    method: str
    mode: str  # online | batch
    model: str
    prompt_version: str
    documents: int
    requests: dict  # kind -> {state: count}
    records: int  # written to records_dir (the questions method: questions kept in questions.jsonl)
    records_by_model: dict  # model -> records (more than one with append=true)
    input_tokens: int
    cached_input_tokens: int  # of input_tokens, those the provider served from its prompt cache (its cheaper rate)
    output_tokens: int  # the generator's, every answer counted (entity JSON, re-asks and failed answers too)
    train_tokens: int | None  # what training reads of the records, in budget.tokenizer (None: no tokenizer given)
    cost_usd: float  # all runs into this output_dir, at the price in force when each answer came
    price: str  # where this run's price came from
    retried_this_run: int
    seconds_this_run: float
    truncated: dict  # kind -> answers that stopped at llm.max_output_tokens
    dropped_entities: int  # entity names dropped from the entity answers (entigraph.entities_in_document and junk)
    errors: list  # the commonest errors of failed requests, with their counts
    records_dir: str  # the corpus's records (the questions method: its questions.jsonl)
    fates: dict | None = None  # the method's own counts (questions: kept, guessable, dropped by reason, gold letters)


@dataclasses.dataclass(frozen=True)
class MergeResult:
    shards: int
    records: int
    records_dir: str
    incomplete_shards: list
    dropped_duplicates: int = 0  # with `dedup`: records left out as (near) copies of an earlier one


class GenerationFailed(UserError):
    """A run that ended with too many failed requests (its records and summary are written first)."""


def check_one_corpus(config: GenerateSettings, out: CorpusRun) -> None:
    """An output folder holds one corpus: a rerun with another model, method or prompt version is
    refused unless `append` is set (then `run.json` lists every setting that wrote there)."""
    this = {"method": config.method, "model": config.llm.model, "prompt_version": config.prompt_version}
    runs = json.loads(out.manifest.read_text())["runs"] if out.manifest.is_file() else []
    if runs and this not in runs:
        if not config.append:
            last = runs[-1]
            changed = ", ".join(f"{k} {last.get(k)!r} -> {v!r}" for k, v in this.items() if last.get(k) != v)
            raise ConfigError(f"{out.root}: holds a corpus written with other settings ({changed}); use another "
                              "output_dir, or --config.append=true to add to this one")
    if this not in runs:
        out.manifest.write_text(json.dumps({"runs": [*runs, this]}, indent=2))


def required(config: GenerateSettings) -> None:
    for key, value in (("source", config.source), ("output_dir", config.output_dir),
                       ("llm.backend", config.llm.backend), ("llm.model", config.llm.model)):
        if not value:
            raise ConfigError(f"config: {key} is empty")
    config.check_templates()


def cancel(config: GenerateSettings) -> dict:
    """`--cancel`: the provider batches output_dir's journal holds open, cancelled (`BatchEngine.cancel`);
    the records are written again with the answers they had."""
    required(config)
    out = config.corpus()
    if config.llm.mode != "batch":
        raise ConfigError("--cancel stops provider batches: it needs llm.mode=batch, the mode that sent them")
    if not out.journal.is_file():
        raise ConfigError(f"{out.root}: no journal, so no batch to cancel")
    docs = load_documents(config)
    with hold(out.root, "generate output_dir"):
        journal = Journal(out.journal)
        try:
            engine = BatchEngine(make_backend(config.llm, out.root, "llm"), journal,
                                 GenerationAsker(config, {d.doc_id: d for d in docs}), config.llm, budget(config))
            result = asyncio.run(_cancel(engine))
            method(config.method).export(config, docs, journal, out)
        finally:
            journal.close()
    return result


async def _cancel(engine: BatchEngine) -> dict:
    try:
        return await engine.cancel()
    finally:
        await engine.backend.aclose()


def generate(config: GenerateSettings) -> GenerateResult:
    """Run (or resume) the generation; returns the summary also written to `summary.json`. A run that
    could not work, or that ends with more than `llm.max_failure_fraction` of its requests failed,
    raises `GenerationFailed` after writing its records and summary."""
    required(config)
    docs, out = load_documents(config), config.corpus()
    with hold(out.root, "generate output_dir"):
        check_one_corpus(config, out)
        journal = Journal(out.journal)
        start = time.time()
        chosen = method(config.method)
        journal.add(sending_order(config)(chosen.first(docs, config)))
        try:
            sent = asyncio.run(send(config, docs, journal, make_backend(config.llm, out.root, "llm")))
        finally:
            written, fates = chosen.export(config, docs, journal, out)
        counts, (input_tokens, output_tokens, cached), spent = journal.counts(), journal.tokens(), journal.cost()
        truncated, errors, by_model = journal.truncated(), journal.errors(3), journal.by_model()
        dropped = journal.dropped_entities()
        train_tokens = journal.train_tokens() if config.budget.tokenizer.path else None
        journal.close()
        done, failed = (sum(c.get(k, 0) for c in counts.values()) for k in ("done", "failed"))
        pending = sum(c.get("planned", 0) for c in counts.values()) + failed
        too_many = failed > config.llm.max_failure_fraction * (done + failed) or (failed and not done)
        status = ("failed" if sent.stopped or too_many else "stopped" if sent.terminated
                  else "budget reached" if sent.budget_reached else "complete" if pending == 0 else "incomplete")
        summary = GenerateResult(
            status=status, method=config.method, mode=config.llm.mode, model=config.llm.model,
            prompt_version=config.prompt_version, documents=len(docs), requests=counts, records=written,
            records_by_model=by_model, input_tokens=input_tokens, cached_input_tokens=cached,
            output_tokens=output_tokens,
            train_tokens=train_tokens, cost_usd=round(spent, 6), price=price(config.llm).source,
            retried_this_run=sent.retried,
            seconds_this_run=round(time.time() - start, 1), truncated=truncated, dropped_entities=dropped,
            errors=[{"count": n, "error": e} for e, n in errors], fates=fates, records_dir=str(chosen.output(out)))
        out.write_summary(dataclasses.asdict(summary))
    if status == "stopped":
        raise Stopped(f"SIGTERM: stopped with {written} records written and the rest journaled; rerun to resume",
                      128 + signal.SIGTERM)
    if status == "failed":
        reason = sent.stopped or (f"{failed} of {done + failed} requests failed (llm.max_failure_fraction="
                                  f"{config.llm.max_failure_fraction})")
        common = "; ".join(f"{n} x {e}" for e, n in errors)
        raise GenerationFailed(f"{reason}" + (f"; failed requests: {common}" if common and not sent.stopped else "")
                               + f"; {written} records kept, see {out.summary_path}")
    return summary


def merge(config: GenerateSettings) -> MergeResult:
    """Join the records of all `num_shards` shard runs into `output_dir/records` (and their questions into
    `output_dir/questions.jsonl`)."""
    out = CorpusRun(config.output_dir)
    shards = [out.shard(i, config.num_shards) for i in range(config.num_shards)]
    missing = [s.root.name for s in shards if s.summary() is None]
    if missing:
        raise ConfigError(f"{out.root}: shard runs not finished: {', '.join(missing)}")
    incomplete = [s.root.name for s in shards if s.summary()["status"] != "complete"]
    records = (r for s in shards if any(s.records.glob("*.array_record")) for r in read_records(s.records))
    dropped = collections.Counter()
    if config.dedup != "none":
        records = unique(records, Deduplicator(near=config.dedup == "near"), dropped)
    with hold(out.root, "generate output_dir"):
        written = write_records(records, out.records) if any(s.records.is_dir() for s in shards) else 0
        if any(s.questions.is_file() for s in shards):  # the questions method's
            write_quality([json.loads(line) for s in shards if s.questions.is_file()
                           for line in s.questions.read_text(encoding="utf-8").splitlines()], out.questions)
    return MergeResult(shards=len(shards), records=written, records_dir=str(out.records),
                       incomplete_shards=incomplete, dropped_duplicates=dropped["records"])


def unique(records: Iterable[dict], dedup: Deduplicator, dropped: collections.Counter) -> Iterator[dict]:
    """`records` without those whose training text `dedup` has seen (near) before, counted in `dropped`."""
    for record in records:
        text = train_text(record)
        if text and dedup.check(text)[1]:
            dropped["records"] += 1
            continue
        yield record
