"""Open-book retrieval: recursive chunking, embedders (offline, OpenAI-compatible, Gemini), cache."""

import random

import numpy as np
import pytest

from entigraph_jax import cli
from entigraph_jax.clients import EmbedderSettings, RerankerSettings
from entigraph_jax.clients.embedders import CachedEmbedder, HashingEmbedder, make_embedder
from entigraph_jax.clients.rerank import HTTPReranker, RerankError
from entigraph_jax.data import Document, load_source
from entigraph_jax.data.documents import author_first_last
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.quality import document_question
from entigraph_jax.evaluate.rag import (
    SHOT_CONTEXTS,
    ChunkIndex,
    QueryLikelihoodReranker,
    open_book_prompt,
    rerank,
    split_recursive,
)
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT
from tests.helpers.models import tiny_reference


def test_recursive_splitting_without_overlap():
    text = "alpha beta.\n\ngamma delta epsilon.\nzeta eta theta iota kappa lambda mu.\n\n" + "x" * 25
    chunks = split_recursive(text, size=20)
    # a piece of exactly 20 is split again, and "\n\n" stays with the x's it precedes (LangChain's rules)
    assert chunks == ["alpha beta.", "gamma delta", "epsilon.", "zeta eta theta iota", "kappa lambda mu.",
                      "x" * 19, "x" * 6]
    article = load_source("sample")[0].text
    pieces = split_recursive(article, 1024)
    assert all(len(p) <= 1024 for p in pieces) and len(pieces) >= 2
    assert "".join(pieces).replace(" ", "").replace("\n", "") == article.replace(" ", "").replace("\n", "")


def test_splitting_equals_langchains_recursive_splitter_on_article_sized_texts():
    splitters = pytest.importorskip("langchain_text_splitters", reason="langchain-text-splitters (the dev extra)")
    docs, rng = load_source("sample"), random.Random(0)
    for _ in range(60):  # 30k-character articles of paragraphs, long lines, unbroken runs and blank stretches
        parts = []
        while sum(map(len, parts)) < 30_000:
            kind = rng.random()
            parts.append(rng.choice(docs).text if kind < 0.5 else "x" * rng.randint(1, 3000) if kind < 0.65
                         else " ".join("word" * rng.randint(1, 5) for _ in range(rng.randint(1, 600))) if kind < 0.85
                         else rng.choice(["\n", "\n\n", "  ", " \n ", "\n\n\n"]) * rng.randint(1, 5))
        text = rng.choice(["", "\n", " ", "\n\n"]).join(parts)
        size = rng.choice([100, 300, 1024])
        reference = splitters.RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=0).split_text(text)
        assert split_recursive(text, size) == reference


def test_retrieval_finds_the_right_chunk():
    docs = load_source("sample")
    planted = Document("planted", "The lighthouse cat of Orlenby was called Pemberton and ate only herring.\n\n"
                       + "Unrelated filler about weather. " * 40)
    index = ChunkIndex.build(docs + [planted], HashingEmbedder(), size=300)
    query = HashingEmbedder().embed(["What was the name of the lighthouse cat, and what did it eat?"])
    best = index.search(query, 1)[0][0]
    assert "Pemberton" in index.chunks[best] and index.doc_ids[best] == "planted"
    questions = [(d.doc_id, f"{d.title}. {q.question} " + " ".join(q.options)) for d in docs for q in d.questions]
    hits = index.search(HashingEmbedder().embed([t for _, t in questions]), 3)
    recall = np.mean([doc_id in {index.doc_ids[j] for j in h} for (doc_id, _), h in zip(questions, hits, strict=True)])
    assert recall > 0.9  # the question's own article is among the top 3 chunks


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_remote_embedders_against_the_fake_server(tmp_path, monkeypatch, kind):
    server = FakeLLMServer().start()
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    base = server.base_url + ("/v1" if kind == "openai" else "")
    settings = EmbedderSettings(backend=kind, model="fake-embedder", base_url=base, cache_dir=str(tmp_path))
    embedder = make_embedder(settings)
    texts = ["salt bells of Quarrowmere", "the ferry at Lantry", "salt bells of Quarrowmere"]
    vectors = embedder.embed(texts)
    np.testing.assert_allclose(vectors, HashingEmbedder(64).embed(texts), atol=1e-6)
    assert isinstance(embedder, CachedEmbedder) and embedder.computed == 2  # duplicates embedded once
    sent = len(server.requests)
    again = make_embedder(settings)
    np.testing.assert_array_equal(again.embed(texts), vectors)
    assert again.computed == 0 and len(server.requests) == sent  # served from the disk cache


def test_chunks_carry_their_articles_title_author_and_year():
    doc = load_source("sample")[0]
    index = ChunkIndex.build([doc], HashingEmbedder(), size=300)
    prefix = f"Title: {doc.title}\nAuthor: {author_first_last(doc.author)}\nYear Written: {doc.year}\n\n"  # the code's
    assert len(index.chunks) > 2 and all(c.startswith(prefix) for c in index.chunks)
    bodies = [c[len(prefix):] for c in index.chunks]
    assert all(len(b) <= 300 for b in bodies) and not bodies[0].startswith('"')  # the header line is not chunked
    assert "".join(bodies).replace(" ", "").replace("\n", "") == doc.body.replace(" ", "").replace("\n", "")


class Scores:
    name = "scripted"

    def __init__(self, scores):
        self.table = scores

    def scores(self, query, chunks):
        return np.array([self.table[c] for c in chunks])


def test_retrieval_then_rerank_then_top_k_best_last():
    assert rerank([7, 3, 9, 1], np.array([0.1, 0.9, 0.5, 0.9]), 3) == [3, 1, 9]  # ties keep retrieval order
    doc = load_source("sample")[0]
    question = doc.questions[0]
    chunks = ["Title: t\nAuthor: a\nYear: 1\n\nbest chunk", "Title: t\nAuthor: a\nYear: 1\n\nsecond chunk"]
    prompt = open_book_prompt(doc, question, chunks)
    final = prompt[prompt.rindex("## Example 6"):]
    assert final.index("*Context 1*\n" + chunks[1]) < final.index("*Context 2*\n" + chunks[0])  # best last
    assert final.startswith("## Example 6\n\n### Instructions\n") and "the 2 supporting contexts" in final
    assert final.endswith(document_question(doc, question, sep="\n\n") + "### Thought Process and Answer\n"
                          "Thought process:")
    first = open_book_prompt(doc, question, chunks, order="best_first")  # the released code's default
    final = first[first.rindex("## Example 6"):]
    assert final.index("*Context 1*\n" + chunks[0]) < final.index("*Context 2*\n" + chunks[1])
    shots = prompt.split("## Example ")[1:6]
    assert [s.count("*Context ") for s in shots] == [len(c) for c in SHOT_CONTEXTS]
    assert all("### Question\n" in s and "\n\n### Choices\n" in s and s.rstrip().endswith(".") for s in shots)


def test_http_reranker_against_the_fake_server():
    server = FakeLLMServer().start()
    reranker = HTTPReranker(RerankerSettings(model="rerank-test", base_url=server.base_url + "/v1"))
    docs = ["the salt bells ring in the harbour", "a ferry crosses at dawn", "bells of salt in Quarrowmere harbour"]
    scores = reranker.scores("salt bells of the harbour", docs)
    vectors = HashingEmbedder(64).embed(["salt bells of the harbour", *docs])
    np.testing.assert_allclose(scores, vectors[1:] @ vectors[0], atol=1e-6)
    assert server.requests[-1]["path"] == "/v1/rerank" and server.requests[-1]["body"]["model"] == "rerank-test"
    with pytest.raises(RerankError, match="rerank request failed"):
        HTTPReranker(RerankerSettings(model="m", base_url="http://127.0.0.1:9/v1")).scores("q", ["d"])


def test_open_book_command(quickstart_run, tmp_path, capsys):
    server = FakeLLMServer().start()
    output = tmp_path / "open_book.json"
    argv = ["--config", str(ROOT / "configs/eval_quality.py"), "--config.source=sample",
            f"--config.model.path={quickstart_run.run.export}",
            "--config.task=open_book", "--config.tasks.open_book.top_k=2",
            "--config.tasks.open_book.embedder.backend=hashing",
            f"--config.tasks.open_book.embedder.cache_dir={tmp_path / 'cache'}",
            "--config.tasks.open_book.chunk_size=256",
            "--config.tasks.open_book.retrieval_max_k=4", "--config.tasks.open_book.rerank=http",
            f"--config.tasks.open_book.reranker.base_url={server.base_url}/v1",
            "--config.tasks.open_book.sampling.samples=1", "--config.tasks.open_book.sampling.max_new_tokens=8",
            "--config.tasks.open_book.max_questions=6",
            "--config.tasks.open_book.sampling.shots=1",  # the tiny model's 2048 positions
            f"--config.output={output}"]
    assert cli.main(evaluate_main.COMMAND, argv) == 0, capsys.readouterr().err
    report = read_result(output)
    assert report.splits["all"].overall.total == 6 and report.details["article_recall"] >= 0.5
    ranked = [r["ranked_from"] for r in report.details["results"]]  # Recall@8 over the reranked 4 retrieved
    assert [len(r) for r in ranked] == [4] * 6 and report.details["recall_at_8"] == np.mean(
        [r["doc_id"] in k for r, k in zip(report.details["results"], ranked, strict=True)])
    assert report.details["recall_at_8"] >= report.details["article_recall"]  # the prompt's 2 are among them
    assert report.details["reranker"] == "rerank:rerank-english-v3.0"
    assert report.details["settings"]["retrieval_max_k"] == 4
    assert sum(r["path"] == "/v1/rerank" for r in server.requests) == 6
    first = report.details["results"][0]
    final = first["prompt"][first["prompt"].rindex("## Example 2"):]
    assert final.count("*Context ") == 2 and final.endswith("Thought process:")
    assert (tmp_path / "cache" / "embeddings.sqlite").is_file()


@pytest.mark.torch
def test_query_likelihood_reranker_orders_by_the_models_likelihood(tmp_path):
    import torch

    tok, reference, path = tiny_reference(tmp_path)
    reranker = QueryLikelihoodReranker(from_pretrained_hf(path), tok, batch=3)
    chunks = split_recursive(load_source("sample")[0].text, 200)[:5]
    question = "Which bell in the harbour tower still contains salt?"
    target = tok.encode(" " + question)
    expected = []
    for chunk in chunks:
        context = reranker.context(chunk)
        with torch.no_grad():
            logp = torch.log_softmax(reference(torch.tensor([context + target])).logits[0], -1).numpy()
        expected.append(np.mean([logp[len(context) - 1 + i, t] for i, t in enumerate(target)]))
    np.testing.assert_allclose(reranker.scores(question, chunks), expected, atol=1e-4)
