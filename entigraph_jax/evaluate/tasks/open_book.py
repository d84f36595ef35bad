"""open_book: QuALITY open-book (RAG) as the paper did it: the articles cut into chunks and embedded, the
question's nearest chunks retrieved, reranked, and the best ones put in a five-shot prompt (`rag.py`);
sampling, parsing and answer selection are closed-book's."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from entigraph_jax.clients import EmbedderSettings, RerankerSettings
from entigraph_jax.clients.rerank import HTTPReranker
from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document
from entigraph_jax.models.embedding import make_embedder
from entigraph_jax.settings import Settings, at_least, positive, section, setting

from ..quality import SamplingSettings, answer_questions, document_question
from ..rag import CHUNK_ORDERS, ChunkIndex, QueryLikelihoodReranker, open_book_prompt, rerank, retrieval_few_shot
from ..scores import QuestionScores, items, summarize
from ..task import Context, Task

RERANKERS = ("none", "http", "query_likelihood")
RECALL_AT = 8  # Table 3's Recall@8: is the question's article among the 8 best chunks after reranking


def _paper_embedder() -> EmbedderSettings:
    return EmbedderSettings(backend="openai", model="text-embedding-3-large")


@dataclasses.dataclass(frozen=True)
class OpenBookSettings(Settings):
    sampling: SamplingSettings = section(SamplingSettings, "as closed_book's (the paper: temperature 0.1 for the "
                                         "base model, 0.3 after CPT)")
    max_questions: int = setting(0, "questions answered (0: every question)", check=at_least(0))
    embedder: EmbedderSettings = section(_paper_embedder, "what embeds chunks and questions (the paper: OpenAI's "
                                         "text-embedding-3-large; its cache: <checkpoint>.embeddings unless "
                                         "embedder.cache_dir is set)")
    chunk_size: int = setting(1024, "characters per chunk (recursive splitting, no overlap; the paper: 1024)",
                              check=positive)
    retrieval_max_k: int = setting(128, "chunks retrieved by similarity per question (the paper: 128)",
                                   check=positive)
    rerank: str = setting("none", "none | http (a Cohere-compatible /rerank server: reranker.*) | "
                          "query_likelihood (the evaluated model)", choices=RERANKERS)
    reranker: RerankerSettings = section(RerankerSettings, "rerank=http: the /rerank server")
    top_k: int = setting(8, "chunks put in the prompt (the paper: 16 for the base model, 8 after CPT)",
                         check=positive)
    chunk_order: str = setting("best_last", "best_last: the best chunk right before the question | best_first (the "
                               "released code's default; App. F.3 picks on the tune split)", choices=CHUNK_ORDERS)


def make_reranker(settings: OpenBookSettings, context: Context):
    if settings.rerank == "http":
        return HTTPReranker(settings.reranker)
    if settings.rerank == "query_likelihood":
        if context.served:
            raise ConfigError("config: tasks.open_book.rerank=query_likelihood scores with the model itself; with "
                              "served.backend set, rerank with none or http")
        return QueryLikelihoodReranker(context.model, context.tokenizer)
    return None


def retrieve(docs: list[Document], todo, embedder, settings: OpenBookSettings, reranker) -> tuple[ChunkIndex, list]:
    """The chunk index and, per question, the indices of the chunks its prompt shows (best first)."""
    print(f"embedding the {len(docs)} articles' chunks ({settings.chunk_size} characters) and {len(todo)} questions "
          f"with {embedder.name}", file=sys.stderr)
    index = ChunkIndex.build(docs, embedder, settings.chunk_size)
    queries = [document_question(doc, q, sep="\n\n") for doc, q in todo]
    shown = max(settings.top_k, RECALL_AT)  # ranked this far (of those retrieved): the prompt's chunks, Recall@8
    hits = index.search(embedder.embed(queries), max(settings.retrieval_max_k, settings.top_k))
    pairs = zip(queries, hits, strict=True)
    if reranker:
        pairs = tqdm(pairs, total=len(queries), desc=f"rerank ({reranker.name})", unit="question", dynamic_ncols=True)
    return index, [rerank(found, reranker.scores(query, [index.chunks[j] for j in found]), shown)
                   if reranker else found[:shown] for query, found in pairs]


def open_book(settings: OpenBookSettings, context: Context) -> QuestionScores:
    """Retrieve `retrieval_max_k` chunks per question, rerank them (else keep the similarity order) and
    prompt with the best `top_k`."""
    docs = context.questions()
    todo = items(docs, settings.max_questions)
    embedder = make_embedder(settings.embedder,
                             f"{Path(context.checkpoint).absolute()}.embeddings" if context.checkpoint else "")
    reranker = make_reranker(settings, context)
    index, chosen = retrieve(docs, todo, embedder, settings, reranker)
    prompt_of = lambda i, doc, q: open_book_prompt(  # noqa: E731
        doc, q, [index.chunks[j] for j in chosen[i][: settings.top_k]], settings.sampling.shots, settings.chunk_order)
    results = answer_questions(context.sampler, todo, prompt_of, settings.sampling)
    for i, result in enumerate(results):
        result["retrieved_from"] = [index.doc_ids[j] for j in chosen[i][: settings.top_k]]
        result["ranked_from"] = [index.doc_ids[j] for j in chosen[i][:RECALL_AT]]
    recall = float(np.mean([r["doc_id"] in r["retrieved_from"] for r in results])) if results else None
    at_8 = float(np.mean([r["doc_id"] in r["ranked_from"] for r in results])) if results else None
    return summarize("open_book", results, docs, embedder=embedder.name, reranker=reranker.name if reranker else None,
                     settings=settings.to_dict(), article_recall=recall, recall_at_8=at_8)


TASK = Task("open_book", "QuALITY open-book (RAG) as the paper did it: retrieved chunks in the prompt, then "
            "closed-book's sampling", OpenBookSettings, needs="sampler", reads="questions", result=QuestionScores,
            run=open_book, check=lambda settings: retrieval_few_shot(settings.sampling.shots))
