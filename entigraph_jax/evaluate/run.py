"""Run an evaluation from a config: load the checkpoint and tokenizer, score, write the report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from entigraph_jax.clients.embedders import make_embedder
from entigraph_jax.config import ConfigError
from entigraph_jax.data import SourceError, load_source, load_tokenizer
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler

from .perplexity import perplexity
from .quality import ClosedBookSettings, closed_book, log_likelihood
from .rag import QueryLikelihoodReranker, open_book

MODES = ("closed_book", "open_book", "loglik", "perplexity")


@dataclasses.dataclass(frozen=True)
class Score:
    correct: int
    total: int
    accuracy: float


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """The headline figures; `output` holds the whole report (every prompt, sample and answer)."""

    mode: str
    output: str
    overall: Score | None = None  # QuALITY modes
    hard: Score | None = None  # QuALITY modes: the questions marked difficult
    perplexity: float | None = None  # perplexity mode
    loss: float | None = None  # perplexity mode: nats per token
    tokens: int | None = None  # perplexity mode: tokens scored


def evaluate(config) -> EvalResult:
    if config.mode not in MODES:
        raise ConfigError(f"config: mode={config.mode!r}; expected one of {MODES}")
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
    if config.mode == "closed_book":
        settings = ClosedBookSettings(**config.closed_book.to_dict())
        report = closed_book(Sampler(model, tokenizer), docs, settings, config.max_questions)
    elif config.mode == "open_book":
        rag = config.rag
        embedder = make_embedder(rag.embedder, rag.model, rag.base_url, rag.api_key_file,
                                 rag.cache_dir or str(checkpoint.absolute()) + ".embeddings")
        settings = ClosedBookSettings(**config.closed_book.to_dict())
        if rag.rerank not in ("none", "query_likelihood"):
            raise ConfigError(f"config: rag.rerank={rag.rerank!r}; expected none or query_likelihood")
        reranker = QueryLikelihoodReranker(model, tokenizer) if rag.rerank == "query_likelihood" else None
        report = open_book(Sampler(model, tokenizer), docs, embedder, settings, rag.top_k, rag.chunk_size,
                           config.max_questions, reranker, rag.candidates)
    elif config.mode == "loglik":
        report = log_likelihood(model, tokenizer, docs, config.max_questions, config.loglik_batch)
    else:
        report = perplexity(model, tokenizer, docs, config.perplexity.seq_len, config.perplexity.batch)
    report["checkpoint"], report["source"] = str(checkpoint), config.source
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if config.mode == "perplexity":
        return EvalResult(config.mode, str(output), perplexity=report["perplexity"], loss=report["loss"],
                          tokens=report["tokens"])
    return EvalResult(config.mode, str(output), overall=Score(**report["overall"]), hard=Score(**report["hard"]))
