"""Open-book retrieval: recursive chunking, embedders (offline, OpenAI-compatible, Gemini), cache."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_reference

from entigraph_jax.clients.embedders import CachedEmbedder, HashingEmbedder, make_embedder
from entigraph_jax.data import Document, load_source
from entigraph_jax.evaluate.rag import ChunkIndex, QueryLikelihoodReranker, split_recursive
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.testing import FakeLLMServer

ROOT = Path(__file__).parent.parent


def test_recursive_splitting_without_overlap():
    text = "alpha beta.\n\ngamma delta epsilon.\nzeta eta theta iota kappa lambda mu.\n\n" + "x" * 25
    chunks = split_recursive(text, size=20)
    assert chunks == ["alpha beta.", "gamma delta epsilon.", "zeta eta theta iota", "kappa lambda mu.",
                      "x" * 20, "x" * 5]
    assert all(len(c) <= 20 for c in chunks)
    article = load_source("sample")[0].text
    pieces = split_recursive(article, 1024)
    assert all(len(p) <= 1024 for p in pieces) and len(pieces) >= 2
    assert "".join(pieces).replace(" ", "").replace("\n", "") == article.replace(" ", "").replace("\n", "")


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
    embedder = make_embedder(kind, "fake-embedder", base, cache_dir=str(tmp_path))
    texts = ["salt bells of Quarrowmere", "the ferry at Lantry", "salt bells of Quarrowmere"]
    vectors = embedder.embed(texts)
    np.testing.assert_allclose(vectors, HashingEmbedder(64).embed(texts), atol=1e-6)
    assert isinstance(embedder, CachedEmbedder) and embedder.computed == 2  # duplicates embedded once
    sent = len(server.requests)
    again = make_embedder(kind, "fake-embedder", base, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.embed(texts), vectors)
    assert again.computed == 0 and len(server.requests) == sent  # served from the disk cache


def test_open_book_command(tmp_path):
    train = subprocess.run([sys.executable, "-m", "entigraph_jax.train",
                            "--config", str(ROOT / "configs/quickstart.py"),
                            "--workdir", str(tmp_path / "run"), "--config.data.epochs=1"],
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.evaluate",
                           "--config", str(ROOT / "configs/eval_quality.py"),
                           f"--config.model.path={tmp_path / 'run' / 'hf'}", "--config.mode=open_book",
                           f"--config.tokenizer={tmp_path / 'run' / 'tokenizer' / 'sp.model'}", "--config.rag.top_k=2",
                           "--config.rag.chunk_size=256", "--config.closed_book.samples=1",
                           "--config.rag.rerank=query_likelihood", "--config.rag.candidates=4",
                           "--config.closed_book.max_new_tokens=8", "--config.max_questions=6"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(f"{tmp_path / 'run' / 'hf'}.quality_open_book.json").read_text())
    assert report["overall"]["total"] == 6 and report["article_recall"] >= 0.5
    assert report["reranker"] == "query_likelihood"
    first = report["results"][0]
    assert first["prompt"].count("Excerpt ") == 2 and first["prompt"].endswith("Thought process:")
    assert (tmp_path / "run" / "hf.embeddings" / "embeddings.sqlite").is_file()


def test_query_likelihood_reranker_orders_by_the_models_likelihood(tmp_path):
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
    assert reranker.rerank(question, chunks) == list(np.argsort(-np.asarray(expected), kind="stable"))
