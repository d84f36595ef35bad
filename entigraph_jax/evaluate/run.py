"""Run an evaluation from its settings: load the checkpoint and tokenizer, score, write the report."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from entigraph_jax.clients.embedders import make_embedder
from entigraph_jax.clients.rerank import HTTPReranker
from entigraph_jax.config import ConfigError
from entigraph_jax.data import SourceError, check_vocabulary, load_source, unique_documents
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.runs import EvalReport, TrainRun
from entigraph_jax.scalars import log_figures, numbers

from .contamination import contamination
from .defaults import SAMPLED, EvaluateSettings
from .harness import harness_model, harness_samples, run_tasks, task_figures
from .loglik import log_likelihood
from .perplexity import perplexity
from .quality import closed_book
from .rag import QueryLikelihoodReranker, open_book
from .served import ServedSampler
from .summary import summary_articles, summary_eval


def make_reranker(config: EvaluateSettings, model, tokenizer):
    if config.rag.rerank == "http":
        return HTTPReranker(config.rag.reranker)
    return QueryLikelihoodReranker(model, tokenizer) if config.rag.rerank == "query_likelihood" else None


def report_path(config: EvaluateSettings) -> Path:
    """Where the report goes: `output`, else beside the checkpoint."""
    return Path(config.output or f"{Path(config.model.path).absolute()}.quality_{config.mode}.json")


def evaluate(config: EvaluateSettings) -> EvalReport:
    """Score the checkpoint as the settings say; the report is written to `report_path(config)`, and
    its headline figures to TensorBoard and W&B where `log.*` asks (at the step the checkpoint was
    trained to, when it is a train run's export)."""
    report = contamination_report(config) if config.mode == "contamination" else score(config)
    trained = TrainRun(Path(config.model.path).parent) if config.model.path else None
    step = trained.steps if trained and Path(trained.metrics).is_file() else 0
    log_figures(config.log, [(step, numbers(headline(config, report), f"eval/{config.mode}/"))], config.to_dict(),
                report_path(config).parent, job="evaluate")
    return report


def check_served(config: EvaluateSettings) -> None:
    """A served model samples; scoring with the model's own likelihoods needs it here."""
    if config.mode not in SAMPLED:
        raise ConfigError(f"config: served.backend={config.served.backend} samples answers ({', '.join(SAMPLED)}); "
                          f"mode={config.mode} scores with the model itself (served.backend=\"\")")
    if config.mode == "open_book" and config.rag.rerank == "query_likelihood":
        raise ConfigError("config: rag.rerank=query_likelihood scores with the model itself; with served.backend "
                          "set, rerank with none or http")


def make_sampler(config: EvaluateSettings, model, tokenizer, log_dir: Path):
    """Our own sampler, or the served model's (which stops a server it started on leaving the `with`)."""
    if config.served.backend:
        return ServedSampler(config.served, config.model.path, tokenizer, log_dir)
    return contextlib.nullcontext(Sampler(model, tokenizer))


def score(config: EvaluateSettings) -> EvalReport:
    """The report of every mode but contamination, written beside the checkpoint or to `output`."""
    if not config.model.path:
        raise ConfigError("config: model.path is required")
    checkpoint, output = Path(config.model.path), report_path(config)
    if output.exists():
        raise ConfigError(f"{output}: exists; refusing to overwrite it (set --config.output)")
    docs = [] if config.mode == "harness" else unique_documents(load_source(config.source), config.source)
    if config.mode in ("closed_book", "open_book", "loglik"):
        docs = [d for d in docs if d.questions]
        if not docs:
            raise SourceError(f"{config.source}: no documents with questions (not a QuALITY source?)")
    if config.mode == "summary":
        articles = summary_articles(docs, config.split, config.summary)
    served = config.served.backend
    if served:
        check_served(config)
    tokenizer = config.tokenizer.load(checkpoint) if not served or config.mode == "summary" else None
    model = None if served else load(checkpoint, config.model.param_dtype, compute_dtype=config.model.dtype or None)
    if model is not None:
        check_vocabulary(tokenizer, model.config.vocab_size)
    if config.mode in SAMPLED:
        with make_sampler(config, model, tokenizer, output.parent) as sampler:
            if config.mode == "closed_book":
                report = closed_book(sampler, docs, config.sampling, config.max_questions)
            elif config.mode == "open_book":
                rag = config.rag
                embedder = make_embedder(rag.embedder, str(checkpoint.absolute()) + ".embeddings")
                report = open_book(sampler, docs, embedder, config.sampling, rag.top_k, rag.chunk_size,
                                   config.max_questions, make_reranker(config, model, tokenizer), rag.retrieval_max_k)
            else:
                report = summary_eval(sampler, str(checkpoint), *articles, config.summary, output)
    elif config.mode == "harness":
        lm = harness_model(model, tokenizer, config.harness.batch)
        results = run_tasks(lm, config.harness, log_samples=True)
        report = EvalReport("harness", harness=task_figures(results),
                            details={"settings": dataclasses.asdict(config.harness),
                                     "samples": harness_samples(results)})
    elif config.mode == "loglik":
        report = log_likelihood(model, tokenizer, docs, config.max_questions, config.loglik_batch, progress=True)
    else:
        report = perplexity(model, tokenizer, docs, config.perplexity.seq_len, config.perplexity.batch)
    report = dataclasses.replace(report, checkpoint=str(checkpoint), source=config.source)
    report.write(output)
    return report


def contamination_report(config: EvaluateSettings) -> EvalReport:
    """The source's questions against the training sources: no model."""
    if not config.output:
        raise ConfigError("config: mode=contamination needs output (there is no checkpoint to write beside)")
    if not config.contamination.sources:
        raise ConfigError("config: contamination.sources is empty; name the training sources to check")
    output = Path(config.output)
    if output.exists():
        raise ConfigError(f"{output}: exists; refusing to overwrite it (set --config.output)")
    docs = [d for d in unique_documents(load_source(config.source), config.source) if d.questions]
    if not docs:
        raise SourceError(f"{config.source}: no documents with questions (not a QuALITY source?)")
    report = EvalReport("contamination", source=config.source, contamination=contamination(docs, config.contamination),
                        details={"settings": dataclasses.asdict(config.contamination)})
    report.write(output)
    return report


def headline(config: EvaluateSettings, report: EvalReport) -> dict:
    """What the command prints: the configured split's scores (or the perplexity) and the report's path."""
    if report.mode == "perplexity":
        figures = {"perplexity": report.perplexity, "loss": report.loss, "tokens": report.tokens}
    elif report.mode == "summary":
        figures = {"split": config.split, **{k: dataclasses.asdict(v) for k, v in report.summaries.items()}}
    elif report.mode == "harness":
        figures = report.harness
    elif report.mode == "contamination":
        figures = {source: {k: v for k, v in found.items() if k != "examples"}
                   for source, found in report.contamination.items()}
    else:
        figures = {"split": config.split, **dataclasses.asdict(report.splits[config.split])}
    return {"mode": report.mode, "output": str(report_path(config)), **figures}
