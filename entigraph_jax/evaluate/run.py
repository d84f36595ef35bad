"""Run an evaluation from a config: load the checkpoint and tokenizer, score, write the report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from entigraph_jax.clients.embedders import make_embedder
from entigraph_jax.clients.rerank import HTTPReranker
from entigraph_jax.config import ConfigError
from entigraph_jax.data import SourceError, load_source, load_tokenizer
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler

from .loglik import log_likelihood
from .perplexity import perplexity
from .quality import SPLITS, ClosedBookSettings, closed_book
from .rag import QueryLikelihoodReranker, open_book

MODES = ("closed_book", "open_book", "loglik", "perplexity")
RERANKERS = ("none", "http", "query_likelihood")


@dataclasses.dataclass(frozen=True)
class Score:
    correct: int
    total: int
    accuracy: float  # correct / total: a question without a parsed answer is wrong
    answered: int  # questions with at least one parsed answer
    accuracy_answered: float  # correct / answered: the released code's accuracy
    attempt_rate: float  # share of samples with a parsed answer


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """The headline figures; `output` holds the whole report (every prompt, sample and answer)."""

    mode: str
    output: str
    split: str | None = None  # QuALITY modes: which articles the scores below are over
    overall: Score | None = None  # QuALITY modes
    hard: Score | None = None  # QuALITY modes: the questions marked difficult
    non_hard: Score | None = None  # QuALITY modes: the others
    perplexity: float | None = None  # perplexity mode
    loss: float | None = None  # perplexity mode: nats per token
    tokens: int | None = None  # perplexity mode: tokens scored


def make_reranker(rag, model, tokenizer):
    if rag.rerank not in RERANKERS:
        raise ConfigError(f"config: rag.rerank={rag.rerank!r}; expected one of {RERANKERS}")
    if rag.rerank == "http":
        return HTTPReranker(rag.rerank_base_url, rag.rerank_model, rag.rerank_key_file)
    return QueryLikelihoodReranker(model, tokenizer) if rag.rerank == "query_likelihood" else None


def evaluate(config) -> EvalResult:
    if config.mode not in MODES:
        raise ConfigError(f"config: mode={config.mode!r}; expected one of {MODES}")
    if config.split not in SPLITS:
        raise ConfigError(f"config: split={config.split!r}; expected one of {SPLITS}")
    if not config.model.path or not config.tokenizer:
        raise ConfigError("config: model.path and tokenizer are required")
    checkpoint = Path(config.model.path)
    output = Path(config.output or f"{checkpoint.absolute()}.quality_{config.mode}.json")
    if output.exists():
        raise ConfigError(f"{output}: exists; refusing to overwrite it (set --config.output)")
    docs = load_source(config.source)
    if config.mode != "perplexity":
        docs = [d for d in docs if d.questions]
        if not docs:
            raise SourceError(f"{config.source}: no documents with questions (not a QuALITY source?)")
    tokenizer = load_tokenizer(config.tokenizer)
    model = load(checkpoint, config.model.dtype, compute_dtype=config.model.compute_dtype or None)
    settings = ClosedBookSettings(**config.sampling.to_dict())
    if config.mode == "closed_book":
        report = closed_book(Sampler(model, tokenizer), docs, settings, config.max_questions)
    elif config.mode == "open_book":
        rag = config.rag
        reranker = make_reranker(rag, model, tokenizer)
        embedder = make_embedder(rag.embedder, rag.model, rag.base_url, rag.api_key_file,
                                 rag.cache_dir or str(checkpoint.absolute()) + ".embeddings")
        report = open_book(Sampler(model, tokenizer), docs, embedder, settings, rag.top_k, rag.chunk_size,
                           config.max_questions, reranker, rag.retrieval_max_k)
    elif config.mode == "loglik":
        report = log_likelihood(model, tokenizer, docs, config.max_questions, config.loglik_batch, progress=True)
    else:
        report = perplexity(model, tokenizer, docs, config.perplexity.seq_len, config.perplexity.batch)
    report["checkpoint"], report["source"] = str(checkpoint), config.source
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if config.mode == "perplexity":
        return EvalResult(config.mode, str(output), perplexity=report["perplexity"], loss=report["loss"],
                          tokens=report["tokens"])
    headline = report[config.split]
    return EvalResult(config.mode, str(output), config.split, overall=Score(**headline["overall"]),
                      hard=Score(**headline["hard"]), non_hard=Score(**headline["non_hard"]))
