"""QuALITY evaluation: the paper's prompt, answer parsing, voting, scoring, and whole runs."""

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_reference

from entigraph_jax.data import Document, Question, load_source
from entigraph_jax.evaluate.quality import (
    ClosedBookSettings,
    author_first_last,
    closed_book,
    closed_book_prompt,
    few_shot_prefix,
    log_likelihood,
    loglik_prompt,
    majority_vote,
    parse_answer,
)
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.sampling import Sample

ROOT = Path(__file__).parent.parent
DOC = Document("d1", "body", title="The Salt Bells of Quarrowmere", author="Vantablane, Idris", year=1958,
               questions=[Question("Where did Hesper Dunmoyle come from?", ("Carrowby", "Orlenby", "the pans",
                                                                            "a ship"), 1, True)])


def test_prompt_is_the_papers_format():
    expected = ('In the context of "The Salt Bells of Quarrowmere", written by Idris Vantablane in 1958, '
                "where did Hesper Dunmoyle come from? There is only one correct choice.\n"
                "A. Carrowby\nB. Orlenby\nC. the pans\nD. a ship\nThought process:")
    prompt = closed_book_prompt(DOC, DOC.questions[0])
    assert prompt == few_shot_prefix() + expected
    shots = few_shot_prefix().strip().split("\n\n")
    assert len(shots) == 5 and all(s.startswith('In the context of "') for s in shots)
    assert all(s.splitlines()[-1] in ("Answer: A.", "Answer: B.", "Answer: C.", "Answer: D.") for s in shots)
    assert author_first_last("Vantablane, Idris") == "Idris Vantablane"
    assert author_first_last("Le Guin, Ursula K.") == "Ursula K. Le Guin"
    assert author_first_last("Anonymous") == "Anonymous"


@pytest.mark.parametrize("text, letter", [
    (" The bells were salt.\nAnswer: B.", "B"), ("...\nAnswer: (C)", "C"), ("**Answer:** D", "D"),
    ("the answer is A because", "A"), ("Answer:C.", "C"), ("ANSWER: b.", None), ("Answer: E.", None),
    ("no letter here", None), ("Answer: Because", None), ("Answer: A. Answer: B.", "A"), ("", None),
])
def test_answer_parsing_on_messy_outputs(text, letter):
    assert parse_answer(text) == letter


def test_answer_parsing_fuzz():
    rng = random.Random(0)
    alphabet = "ABCDEabcde :.()*\n\t-Answer is answer ANSWER"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert parse_answer(text) in (None, "A", "B", "C", "D")
        letter = rng.choice("ABCD")
        noise = "".join(rng.choice("xyz .,\n") for _ in range(rng.randint(0, 30)))
        assert parse_answer(f"{noise}\nAnswer: {letter}.{noise}") == letter


def test_majority_vote_and_ties():
    assert majority_vote(["A", "B", "B", None]) == "B"
    assert majority_vote(["C", "A", "A", "C"]) == "C"  # tie: the letter sampled first
    assert majority_vote([None, "D", "B", "B", "D"]) == "D"
    assert majority_vote([None, None]) is None


class ScriptedSampler:
    """A test double with prescribed samples, to check the scoring against hand-computed numbers."""

    def __init__(self, answers):
        self.answers = answers  # question text -> list of sample texts

    def generate(self, prompts, params):
        out = []
        for prompt in prompts:
            question = next(q for q in self.answers if q[:1].lower() + q[1:] in prompt)
            out.append([Sample(t, [], "stop") for t in self.answers[question]][: params.n])
        return out


def test_scoring_overall_hard_and_per_article():
    docs = load_source("sample")[:2]
    answers, expected = {}, []
    for d, doc in enumerate(docs):
        for k, q in enumerate(doc.questions):
            gold = "ABCD"[q.gold_label - 1]
            wrong = "ABCD"[q.gold_label % 4]
            right = (d + k) % 2 == 0
            answers[q.question] = [f"x\nAnswer: {gold if right else wrong}.", "Answer: ?", f"Answer: {wrong}"][
                : 1 if right else 3]
            expected.append((doc.title, right, q.difficult))
    report = closed_book(ScriptedSampler(answers), docs, ClosedBookSettings(samples=3, batch_questions=3))
    assert report["overall"]["correct"] == sum(r for _, r, _ in expected)
    assert report["overall"]["total"] == len(expected)
    assert report["hard"]["total"] == sum(h for _, _, h in expected)
    assert report["hard"]["correct"] == sum(r for _, r, h in expected if h)
    for doc in docs:
        rows = [r for t, r, _ in expected if t == doc.title]
        assert report["per_article"][doc.title] == {"correct": sum(rows), "total": len(rows),
                                                     "accuracy": sum(rows) / len(rows)}


def test_loglik_mode_matches_transformers(tmp_path):
    docs = load_source("sample")[:2]
    tok, reference, path = tiny_reference(tmp_path)
    report = log_likelihood(from_pretrained_hf(path), tok, docs, batch=5)
    for row, (doc, q) in zip(report["results"], [(d, q) for d in docs for q in d.questions], strict=True):
        context = [tok.bos_id] + tok.encode(loglik_prompt(doc, q))
        expected = []
        for option in q.options:
            cont = tok.encode(" " + option.strip())
            with torch.no_grad():
                logp = torch.log_softmax(reference(torch.tensor([context + cont])).logits[0], -1).numpy()
            expected.append(np.mean([logp[len(context) - 1 + i, t] for i, t in enumerate(cont)]))
        np.testing.assert_allclose(row["scores"], expected, atol=1e-4)
        assert row["vote"] == "ABCD"[int(np.argmax(expected))]


def test_closed_book_command_on_the_sample_corpus(tmp_path):
    train = subprocess.run([sys.executable, "-m", "entigraph_jax.train",
                            "--config", str(ROOT / "configs/quickstart.py"),
                            "--workdir", str(tmp_path / "run"), "--config.data.epochs=2"],
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    args = [sys.executable, "-m", "entigraph_jax.evaluate", "--config", str(ROOT / "configs/eval_quality.py"),
            f"--config.model.path={tmp_path / 'run' / 'hf'}",
            f"--config.tokenizer={tmp_path / 'run' / 'tokenizer' / 'sp.model'}",
            "--config.closed_book.samples=2", "--config.closed_book.max_new_tokens=16"]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(f"{tmp_path / 'run' / 'hf'}.quality_closed_book.json").read_text())
    assert report["overall"]["total"] == 45 and len(report["per_article"]) == 10
    assert all(len(r["samples"]) == 2 and r["prompt"].endswith("Thought process:") for r in report["results"])
    again = subprocess.run(args, capture_output=True, text=True)  # never overwrites a result
    assert again.returncode == 1 and "exists; refusing to overwrite" in again.stderr


def test_perplexity_is_lower_on_trained_text(tmp_path):
    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "entigraph_jax.train",
                            "--config", str(ROOT / "configs/quickstart.py"),
                            "--workdir", str(run)], capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text("".join(json.dumps({"text": t}) + "\n" for t in [
        "Kettles of brass hum on the stoves of Virelle while the miners sleep through the grey noon. " * 6,
        "Seven lanterns swing above the ferry at Doskin, and nobody remembers who lit the first of them. " * 6]))

    def ppl(source, name):
        done = subprocess.run([sys.executable, "-m", "entigraph_jax.evaluate",
                               "--config", str(ROOT / "configs/eval_quality.py"),
                               f"--config.model.path={run / 'hf'}",
                               f"--config.tokenizer={run / 'tokenizer' / 'sp.model'}", "--config.mode=perplexity",
                               f"--config.source={source}", "--config.perplexity.seq_len=64",
                               f"--config.output={tmp_path / name}"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads((tmp_path / name).read_text())["perplexity"]

    seen, fresh = ppl("sample", "seen.json"), ppl(f"jsonl:{unseen}", "unseen.json")
    assert seen < fresh / 2, (seen, fresh)
