"""Open-book QuALITY (RAG) as the paper did it (`inference/retrieval.py`, `evaluation.py`).

Each article body is split recursively into 1024-character chunks without overlap, and every chunk
is prefixed with its article's title, author and year. The question block (question and choices)
is embedded and the `retrieval_max_k` most similar chunks are retrieved (the paper: 128); a
reranker scores them (the paper: Cohere `rerank-english-v3.0`; here any Cohere-compatible `/rerank`
server, or the evaluated model's own query likelihood) and the best `top_k` go into the prompt,
best last (`chunk_order=best_first`: the released code's default). The prompt is a five-shot block in
which each worked example shows its own supporting contexts (ours, invented), then the question with its
retrieved chunks; sampling, parsing and the answer selection are the closed-book protocol's (`quality.py`);
the task is `tasks/open_book.py`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document
from entigraph_jax.data.documents import author_first_last

from .likelihood import continuation_scores
from .quality import FEW_SHOT, THOUGHT, document_question, question_block

SEPARATORS = ("\n\n", "\n", " ", "")

# Supporting contexts of the worked examples, one tuple per FEW_SHOT entry: (title, author, year, text).
SHOT_CONTEXTS = [
    [("Elizabeth and Darcy: A Reader's Guide", "Maren Holt", 2016,
      "By the last chapters of Pride and Prejudice, Elizabeth Bennet has set aside her first judgement of "
      "Fitzwilliam Darcy, and the novel closes with their marriage.")],
    [("Whaling Ships in American Fiction", "Tobias Wren", 2011,
      "Ishmael signs on to the Pequod in Nantucket; the ship is commanded by Captain Ahab."),
     ("Ships Met at Sea in Moby-Dick", "Ada Fenwick", 2019,
      "During the voyage the Pequod meets several other whalers, among them the Rachel and the Jeroboam.")],
    [("The Frame of Frankenstein", "Colm Aster", 2014,
      "Mary Shelley's novel opens with Robert Walton's letters from a ship caught in Arctic ice."),
     ("Victor's Last Journey", "Hana Ruiz", 2020,
      "The exhausted Victor Frankenstein is taken aboard Walton's ship and tells his story there."),
     ("Geneva and Ingolstadt", "Pieter Laan", 2008,
      "Victor studies at Ingolstadt, where he builds the creature, before returning to Geneva.")],
    [("East Egg and West Egg", "Rosa Quint", 2013,
      "Gatsby's mansion stands in West Egg, directly across the bay from the house of Daisy Buchanan."),
     ("The Green Light", "Samir Odell", 2018,
      "Jordan Baker explains that Gatsby bought the house so that Daisy would be just across the water.")],
    [("The Empty Pit on Skeleton Island", "Greta Lund", 2015,
      "When Silver's men reach the marked spot in Treasure Island, they find the treasure already gone."),
     ("Ben Gunn's Cave", "Oren Vale", 2012,
      "The marooned Ben Gunn had dug up the treasure years before and hidden it in his cave.")],
]


def split_recursive(text: str, size: int = 1024, separators: tuple[str, ...] = SEPARATORS) -> list[str]:
    """LangChain's `RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=0)`, as the released
    code calls it: split on the coarsest separator the text holds, each piece keeping the separator
    that precedes it; pieces shorter than `size` are merged greedily into chunks of at most `size`
    characters (each stripped of surrounding whitespace, empty ones dropped); a longer piece is split
    again with the finer separators (kept whole where there are none)."""
    found = next((i for i, s in enumerate(separators) if s == "" or s in text), len(separators) - 1)
    separator = separators[found]
    finer = separators[found + 1 :] if separator and found < len(separators) - 1 else ()
    chunks, short = [], []
    for piece in _pieces(text, separator):
        if len(piece) < size:
            short.append(piece)
            continue
        chunks.extend(_merge(short, size))
        short = []
        chunks.extend(split_recursive(piece, size, finer) if finer else [piece])
    return chunks + _merge(short, size)


def _pieces(text: str, separator: str) -> list[str]:
    """`text` cut before each `separator` (into characters for ""), empty pieces left out."""
    if not separator:
        return list(text)
    first, *rest = text.split(separator)
    return [p for p in (first, *(separator + r for r in rest)) if p]


def _merge(pieces: list[str], size: int) -> list[str]:
    """Consecutive pieces joined into chunks of at most `size` characters (a piece is never cut)."""
    chunks, current = [], ""
    for piece in pieces:
        if current and len(current) + len(piece) > size:
            chunks.append(current)
            current = ""
        current += piece
    chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


def chunk_prefix(title: str, author: str, year) -> str:
    """What every chunk of an article starts with, so a retrieved chunk says where it comes from: the
    released code's `Title:`, `Author:`, `Year Written:` lines (a line the document has nothing for is
    left out)."""
    lines = [("Title", title), ("Author", author), ("Year Written", year)]
    return "".join(f"{name}: {value}\n" for name, value in lines if value not in (None, "")) + "\n"


@dataclasses.dataclass
class ChunkIndex:
    chunks: list[str]
    doc_ids: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, docs: list[Document], embedder, size: int = 1024) -> ChunkIndex:
        chunks, owners = [], []
        for doc in docs:
            prefix = chunk_prefix(doc.title, author_first_last(doc.author), doc.year) if doc.title else ""
            for chunk in split_recursive(doc.body, size):
                chunks.append(prefix + chunk)
                owners.append(doc.doc_id)
        return cls(chunks, owners, embedder.embed(chunks))

    def search(self, query_vectors: np.ndarray, k: int) -> list[list[int]]:
        """Indices of the k most similar chunks per query, most similar first (rows are unit vectors)."""
        scores = query_vectors @ self.vectors.T
        return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]


class QueryLikelihoodReranker:
    """Scores retrieved chunks by how likely the evaluated model finds the question after each chunk
    (unsupervised passage reranking, Sachan et al. 2022): no extra model needed."""

    name = "query_likelihood"

    def __init__(self, model, tokenizer, batch: int = 16):
        self.model, self.tokenizer, self.batch = model, tokenizer, batch

    def context(self, chunk: str) -> list[int]:
        return self.tokenizer.bos() + self.tokenizer.encode(f"Passage: {chunk}\nA question about this passage:")

    def scores(self, query: str, chunks: list[str]) -> np.ndarray:
        target = self.tokenizer.encode(" " + query.strip())
        return continuation_scores(self.model, [(self.context(c), target) for c in chunks], self.batch)


def rerank(found: list[int], scores: np.ndarray, top_k: int) -> list[int]:
    """The `top_k` of `found` with the highest scores, best first (ties keep retrieval order)."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:top_k]
    return [found[i] for i in order]


def instructions(n: int) -> str:
    return f"### Instructions\nAnswer the question below with the help of the {n} supporting " \
           f"context{'s' if n > 1 else ''} that follow.\n\n"


def contexts_block(chunks: list[str]) -> str:
    """Numbered contexts in the order given."""
    return "".join(f"*Context {i}*\n{chunk}\n\n" for i, chunk in enumerate(chunks, 1))


def retrieval_few_shot(shots: int = 5) -> str:
    """The first `shots` worked examples, each with its supporting contexts, then the next heading."""
    if shots > len(FEW_SHOT):
        raise ConfigError(f"config: shots={shots}, but open-book has only {len(FEW_SHOT)} worked examples")
    examples = []
    for i, ((t, a, y, q, o, why, gold), contexts) in enumerate(zip(FEW_SHOT[:shots], SHOT_CONTEXTS, strict=False), 1):
        chunks = [chunk_prefix(*c[:3]) + c[3] for c in contexts]
        examples.append(f"## Example {i}\n\n{instructions(len(chunks))}{contexts_block(chunks)}"
                        f"{question_block(t, a, y, q, o, sep=chr(10) * 2)}{THOUGHT} {why}\nAnswer: {gold}.\n\n")
    return "".join(examples) + f"## Example {len(examples) + 1}\n\n"


CHUNK_ORDERS = ("best_last", "best_first")  # where the best chunk goes: next to the question, or first


def open_book_prompt(doc: Document, question, chunks: list[str], shots: int = 5, order: str = "best_last") -> str:
    """`chunks` best first; the prompt lists them best last (right before the question) or best first."""
    ordered = chunks[::-1] if order == "best_last" else list(chunks)
    return (retrieval_few_shot(shots) + instructions(len(ordered)) + contexts_block(ordered)
            + document_question(doc, question, sep="\n\n") + THOUGHT)
