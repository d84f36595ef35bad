"""Open-book QuALITY (RAG): chunk the articles, embed chunks and questions, retrieve the top k by
cosine similarity, and put the chunks in the prompt, best last, before the closed-book question."""

from __future__ import annotations

import dataclasses

import numpy as np

from entigraph_jax.data import Document

from .quality import (
    ClosedBookSettings,
    answer_questions,
    author_first_last,
    continuation_scores,
    few_shot_prefix,
    items,
    question_block,
    summarize,
)

SEPARATORS = ("\n\n", "\n", " ", "")


def split_recursive(text: str, size: int = 1024, separators: tuple[str, ...] = SEPARATORS) -> list[str]:
    """Recursive character splitting, no overlap: split on the coarsest separator present, merge the
    pieces greedily into chunks of at most `size` characters, and split oversized pieces again with
    the next separator (the paper's RecursiveCharacterTextSplitter settings)."""
    separator = next((s for s in separators if s == "" or s in text), "")
    rest = separators[separators.index(separator) + 1 :]
    pieces = list(text) if separator == "" else text.split(separator)
    chunks, current = [], ""
    for piece in pieces:
        if len(piece) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(split_recursive(piece, size, rest))
            continue
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= size:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]


@dataclasses.dataclass
class ChunkIndex:
    chunks: list[str]
    doc_ids: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, docs: list[Document], embedder, size: int = 1024) -> ChunkIndex:
        chunks, owners = [], []
        for doc in docs:
            for chunk in split_recursive(doc.text, size):
                chunks.append(chunk)
                owners.append(doc.doc_id)
        return cls(chunks, owners, embedder.embed(chunks))

    def search(self, query_vectors: np.ndarray, k: int) -> list[list[int]]:
        """Indices of the k most similar chunks per query, most similar first (rows are unit vectors)."""
        scores = query_vectors @ self.vectors.T
        return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]


class QueryLikelihoodReranker:
    """Reorders retrieved chunks by how likely the evaluated model finds the question after each
    chunk (unsupervised passage reranking, Sachan et al. 2022): no extra model needed."""

    name = "query_likelihood"

    def __init__(self, model, tokenizer, batch: int = 16):
        self.model, self.tokenizer, self.batch = model, tokenizer, batch

    def context(self, chunk: str) -> list[int]:
        bos = [self.tokenizer.bos_id] if self.tokenizer.bos_id is not None else []
        return bos + self.tokenizer.encode(f"Passage: {chunk}\nA question about this passage:")

    def rerank(self, question: str, chunks: list[str]) -> list[int]:
        """Indices into `chunks`, best first."""
        target = self.tokenizer.encode(" " + question.strip())
        scores = continuation_scores(self.model, [(self.context(c), target) for c in chunks], self.batch)
        return list(np.argsort(-scores, kind="stable"))


def open_book_prompt(doc: Document, question, chunks: list[str]) -> str:
    """The retrieved chunks, least similar first and best last, then the closed-book question."""
    excerpts = "\n\n".join(f"Excerpt {i}:\n{c}" for i, c in enumerate(reversed(chunks), 1))
    block = question_block(doc.title, author_first_last(doc.author), doc.year, question.question, question.options)
    return f"{few_shot_prefix()}Relevant excerpts:\n\n{excerpts}\n\n{block}\nThought process:"


def open_book(sampler, docs: list[Document], embedder, settings: ClosedBookSettings, top_k: int = 8,
              chunk_size: int = 1024, max_questions: int = 0, reranker=None, candidates: int = 0) -> dict:
    """With a `reranker`, `candidates` chunks (default 4 x top_k) are retrieved and the best top_k
    of them, in the reranker's order, go into the prompt."""
    index = ChunkIndex.build(docs, embedder, chunk_size)
    todo = items(docs, max_questions)
    queries = embedder.embed([f"{doc.title}. {q.question} " + " ".join(q.options) for doc, q in todo])
    hits = index.search(queries, candidates or 4 * top_k if reranker else top_k)
    if reranker:
        hits = [[found[i] for i in reranker.rerank(q.question, [index.chunks[j] for j in found])[:top_k]]
                for (_, q), found in zip(todo, hits, strict=True)]
    prompt_of = lambda i, doc, q: open_book_prompt(doc, q, [index.chunks[j] for j in hits[i]])  # noqa: E731
    results = answer_questions(sampler, todo, prompt_of, settings, stop=("\n\nIn the context of", "\n\nRelevant"))
    for i, result in enumerate(results):
        result["retrieved_from"] = [index.doc_ids[j] for j in hits[i]]
    recall = np.mean([r["doc_id"] in r["retrieved_from"] for r in results]) if results else float("nan")
    return {"mode": "open_book", "embedder": embedder.name, "reranker": reranker.name if reranker else None,
            "top_k": top_k, "chunk_size": chunk_size,
            "settings": dataclasses.asdict(settings), "article_recall": float(recall), **summarize(results),
            "results": results}
