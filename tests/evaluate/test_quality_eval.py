"""QuALITY evaluation: the paper's prompt, answer parsing, voting, scoring, and whole runs."""

import collections
import dataclasses
import json
import random

import numpy as np
import pytest

from entigraph_jax import cli
from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, Question, load_source
from entigraph_jax.data.documents import author_first_last
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.quality import (
    ANSWER_LINES,
    SELECTIONS,
    SamplingSettings,
    closed_book_prompt,
    few_shot_prefix,
    parse_answer,
    read_shots,
    select_answer,
)
from entigraph_jax.evaluate.scores import items, paper_split, summarize
from entigraph_jax.evaluate.task import Context, read_result
from entigraph_jax.evaluate.tasks.closed_book import TASK as closed_book_task
from entigraph_jax.evaluate.tasks.closed_book import ClosedBookSettings, closed_book
from entigraph_jax.evaluate.tasks.loglik import log_likelihood, loglik_prompt
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.sampling import Sample
from tests.helpers import ROOT
from tests.helpers.models import tiny_reference
from tests.helpers.tokenizers import build_bpe_tokenizer

DOC = Document("d1", "body", title="The Salt Bells of Quarrowmere", author="Vantablane, Idris", year=1958,
               questions=[Question("Where did Hesper Dunmoyle come from?", ("Carrowby", "Orlenby", "the pans",
                                                                            "a ship"), 1, difficult=True)])


def test_prompt_is_the_papers_layout():
    expected = ("## Example 6\n"
                "### Question\n"
                'In the context of "The Salt Bells of Quarrowmere", written by Idris Vantablane in 1958, '
                "where did Hesper Dunmoyle come from? There is only one correct choice.\n"
                "### Choices\n"
                "A. Carrowby\nB. Orlenby\nC. the pans\nD. a ship\n"
                "### Thought Process and Answer\n"
                "Thought process:")
    prompt = closed_book_prompt(DOC, DOC.questions[0])
    assert prompt.endswith(expected) and prompt == few_shot_prefix()[: -len("## Example 6\n")] + expected
    shots = prompt.split("\n\n")[:-1]
    assert len(shots) == 5
    for i, shot in enumerate(shots, 1):
        lines = shot.splitlines()
        assert lines[:3] == [f"## Example {i}", "### Question", lines[2]] and lines[2].startswith('In the context of "')
        assert lines[2].endswith("There is only one correct choice.") and lines[3] == "### Choices"
        assert [line[:3] for line in lines[4:8]] == ["A. ", "B. ", "C. ", "D. "]
        assert lines[8] == "### Thought Process and Answer" and lines[9].startswith("Thought process: ")
        assert lines[10] in ("Answer: A.", "Answer: B.", "Answer: C.", "Answer: D.") and len(lines) == 11
    two = closed_book_prompt(DOC, DOC.questions[0], shots=2)  # fewer worked examples for short context windows
    assert two.count("## Example") == 3 and two.endswith(expected.replace("Example 6", "Example 3"))
    assert author_first_last("Vantablane, Idris") == "Idris Vantablane"
    assert author_first_last("Le Guin, Ursula K.") == "Ursula K. Le Guin"
    assert author_first_last("Anonymous") == "Anonymous"


def test_a_shots_file_replaces_our_worked_examples(tmp_path, evaluate_command):
    """Your own worked examples (the paper's five, or a domain's): read from a JSONL file, shown in the prompt in
    place of ours, as many as `shots` asks; a bad line or too few examples is one line before any model loads."""
    shots = [{"title": "Ledger Notes", "author": "Ops Team", "year": 2024, "question": "Who signs a refund?",
              "options": ["a clerk", "the treasurer", "a customer", "nobody"], "thought": "The notes say the "
              "treasurer signs every refund.", "answer": "B"},
             {"title": "Depot Guide", "author": "", "year": None, "question": "When does the depot open?",
              "options": ["6am", "7am", "8am", "9am"], "thought": "It opens at seven.", "answer": "B"}]
    path = tmp_path / "shots.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in shots))
    settings = ClosedBookSettings().override({"shots_file": str(path), "sampling.shots": 2})
    prompt = closed_book_prompt(DOC, DOC.questions[0], 2, tuple(read_shots(str(path))))
    assert prompt.startswith('## Example 1\n### Question\nIn the context of "Ledger Notes", written by Ops Team in '
                             "2024, who signs a refund? There is only one correct choice.\n")
    assert "Thought process: It opens at seven.\nAnswer: B.\n\n## Example 3\n" in prompt and "Pride" not in prompt
    assert prompt.endswith(closed_book_prompt(DOC, DOC.questions[0]).split("## Example 6\n")[1])
    closed_book_task.check(settings)
    with pytest.raises(ConfigError, match=r"^config: shots=5, but there are only 2 worked examples$"):
        closed_book_task.check(ClosedBookSettings().override({"shots_file": str(path)}))
    path.write_text(json.dumps(shots[0]) + "\n" + json.dumps({**shots[1], "answer": "E"}) + "\n")
    done = evaluate_command("--config.model.path=nowhere", f"--config.tasks.closed_book.shots_file={path}",
                            f"--config.output={tmp_path / 'r.json'}")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        f"evaluate: error: {path}, line 2: needs a title, a question, four options, a thought and an answer A-D")


@pytest.mark.parametrize("text, letter", [
    ("the answer is a matter of interpretation, but the bells were salt.\nAnswer: B.", "B"),
    ("answer: D nor A fits the harbour... so the ship it is.\nAnswer: A.", "A"),
    (' "The Salt Bells" is set in Quarrowmere, making C the correct choice.\nAnswer: C.\n', "C"),  # the paper's
    ("Answer: A. On reflection,\nAnswer: B.", "B"), ("Answer: AB.", "B"), ("Answer:C.", "C"),
    ("ANSWER: b.", None), ("Answer: E.", None), ("Answer: C", None), ("no letter here", None), ("", None),
])
def test_the_final_answer_line_is_parsed(text, letter):
    assert parse_answer(text) == letter


def test_answer_parsing_fuzz():
    rng = random.Random(0)
    alphabet = "ABCDEabcde :.()*\n\t-Answer is answer ANSWER"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert parse_answer(text) in (None, "A", "B", "C", "D")
        letter = rng.choice("ABCD")
        noise = "".join(rng.choice("xyz ,\n") for _ in range(rng.randint(0, 30)))
        assert parse_answer(f"{noise}\nAnswer: {letter}.") == letter
    assert len(ANSWER_LINES) == 4 + 12 + 24 + 24 and "Answer: C.\n" in ANSWER_LINES


def test_each_selection_rule_picks_from_the_parsed_samples_only():
    assert select_answer(["A", None, "B", "B", None], "majority") == "B"
    assert select_answer(["C", "A", "A", "C"], "majority") == "C"  # tie: the letter parsed first
    assert select_answer([None, "D", "B", "B", "D"], "majority") == "D"
    assert select_answer([None, "C", "A", "A"], "first_valid") == "C"  # the released notebook
    for rule in SELECTIONS:
        assert select_answer([None, None], rule) is None
    samples = [None, "A", None, "B", "C", "D"]  # the paper's text: a random valid answer, seeded per question
    picks = [select_answer(samples, "random_valid", seed=3, question=q) for q in range(400)]
    assert picks == [select_answer(samples, "random_valid", seed=3, question=q) for q in range(400)]
    assert picks != [select_answer(samples, "random_valid", seed=4, question=q) for q in range(400)]
    counts = collections.Counter(picks)
    assert set(counts) == {"A", "B", "C", "D"} and min(counts.values()) > 60  # uniform over the 4 valid ones
    # not a majority vote: a letter sampled once of eight is still picked about an eighth of the time
    lone = [select_answer(["B"] * 7 + ["A"], "random_valid", question=q) for q in range(800)].count("A")
    assert 60 < lone < 140


class ScriptedSampler:
    """A test double with prescribed samples, to check the scoring against hand-computed numbers:
    a sample that reached an answer line ends with it as its stop string, like the real sampler's."""

    def __init__(self, answers):
        self.answers = answers  # question text -> list of sample texts

    def generate(self, prompts, params):
        assert params.stop == ANSWER_LINES
        out = []
        for prompt in prompts:
            question = next(q for q in self.answers if q[:1].lower() + q[1:] in prompt)
            samples = []
            for text in self.answers[question][: params.n]:
                head, sep, line = text.rpartition("\nAnswer: ")
                stop = f"Answer: {line}" if sep and f"Answer: {line}" in params.stop else None
                samples.append(Sample(head + "\n" if stop else text, [], "stop" if stop else "length", stop))
            out.append(samples)
        return out


def test_scoring_counts_attempts_and_unanswered_questions_as_wrong():
    docs = load_source("sample")[:2]
    answers, expected = {}, []
    for d, doc in enumerate(docs):
        for k, q in enumerate(doc.questions):
            gold, wrong = "ABCD"[q.gold_label - 1], "ABCD"[q.gold_label % 4]
            case = (d + k) % 3  # 0: right (one of two samples parsed), 1: wrong, 2: no sample parsed
            answers[q.question] = {0: [f"x\nAnswer: {gold}.\n", "ran out of tokens"],
                                   1: [f"x\nAnswer: {wrong}.\n", f"y\nAnswer: {wrong}.\n"],
                                   2: ["no answer line", "Answer: maybe"]}[case]
            expected.append((doc.title, case, q.difficult))
    report = closed_book(ClosedBookSettings(sampling=SamplingSettings(samples=2, batch_questions=3)),
                         Context(load_documents=lambda: docs, load_sampler=lambda: ScriptedSampler(answers)))
    overall = report.splits["all"].overall
    assert overall.correct == sum(c == 0 for _, c, _ in expected) and overall.total == len(expected)
    assert overall.answered == sum(c != 2 for _, c, _ in expected)
    assert overall.accuracy == pytest.approx(overall.correct / len(expected))
    assert overall.accuracy_answered == pytest.approx(overall.correct / overall.answered)
    parsed = sum({0: 1, 1: 2, 2: 0}[c] for _, c, _ in expected)
    assert overall.attempt_rate == pytest.approx(parsed / (2 * len(expected)))
    assert report.splits["all"].hard.total == sum(h for _, _, h in expected)
    assert report.splits["all"].hard.correct == sum(c == 0 for _, c, h in expected if h)
    assert report.splits["all"].non_hard.total == sum(not h for _, _, h in expected)
    for doc in docs:
        rows = [c for t, c, _ in expected if t == doc.title]
        assert report.per_article[doc.title].correct == rows.count(0)


def test_the_papers_split_sorts_titles_and_keeps_the_last_80_percent():
    rng = random.Random(0)
    titles = [f"Article {i:02d}" for i in range(25)]
    rng.shuffle(titles)
    docs = [Document(f"id{t}", t, title=t, author="A", year=2000,
                     questions=[Question(f"What is in {t}?", ("a", "b", "c", "d"), 1, difficult=False)])
            for t in titles]
    split = paper_split(docs)
    assert [d.title for d in split["tune"]] == [f"Article {i:02d}" for i in range(5)]  # int(0.2 * 25) = 5
    assert [d.title for d in split["test"]] == [f"Article {i:02d}" for i in range(5, 25)]
    answers = {d.questions[0].question: ["\nAnswer: A.\n"] for d in docs}
    report = closed_book(ClosedBookSettings(sampling=SamplingSettings(samples=1)),
                         Context(load_documents=lambda: docs, load_sampler=lambda: ScriptedSampler(answers)))
    assert (report.splits["tune"].overall.total, report.splits["test"].overall.total) == (5, 20)
    assert report.splits["all"].overall.total == 25 and report.splits["test"].overall.accuracy == 1.0


@pytest.mark.torch
def test_loglik_task_matches_transformers(tmp_path):
    import torch

    docs = load_source("sample")[:2]
    tok, reference, path = tiny_reference(tmp_path)
    report = log_likelihood(from_pretrained_hf(path), tok, docs, batch=5)
    for row, (doc, q) in zip(report.details["results"], items(docs), strict=True):  # the paper's order
        context = [tok.bos_id] + tok.encode(loglik_prompt(doc, q))
        expected = []
        for option in q.options:
            cont = tok.encode(" " + option.strip())
            with torch.no_grad():
                logp = torch.log_softmax(reference(torch.tensor([context + cont])).logits[0], -1).numpy()
            expected.append(np.mean([logp[len(context) - 1 + i, t] for i, t in enumerate(cont)]))
        np.testing.assert_allclose(row["scores"], expected, atol=1e-4)
        assert row["selected"] == "ABCD"[int(np.argmax(expected))]


@pytest.fixture
def evaluate_command(run_command):
    """`python -m entigraph_jax.evaluate --config configs/eval_quality.py ARGS`, in this process."""
    return lambda *args: run_command(evaluate_main.COMMAND, ["--config", ROOT / "configs/eval_quality.py",
                                                             "--config.source=sample", *args])


def test_closed_book_command_on_the_sample_corpus(quickstart_run, tmp_path, evaluate_command):
    output = tmp_path / "closed_book.json"
    args = [f"--config.model.path={quickstart_run.run.export}", f"--config.output={output}",
            "--config.tasks.closed_book.sampling.samples=2",  # the export's own tokenizer
            "--config.tasks.closed_book.sampling.max_new_tokens=16"]
    done = evaluate_command(*args)
    assert done.returncode == 0, done.stderr
    report = read_result(output)
    test_articles = paper_split(load_source("sample"))["test"]
    assert report.splits["all"].overall.total == 45 and len(report.per_article) == 10
    assert report.splits["test"].overall.total == sum(len(d.questions) for d in test_articles) < 45
    printed = json.loads(done.stdout)
    assert printed["task"] == "closed_book" and printed["split"] == "test"
    assert {k: printed[k] for k in dataclasses.asdict(report.splits["test"].overall)} == dataclasses.asdict(
        report.splits["test"].overall) and printed["hard_total"] == report.splits["test"].hard.total
    assert "45 questions x 2 samples of at most 16 new tokens" in done.stderr  # how much work, first
    results = report.details["results"]
    assert len(results) == 45 and all(len(r["samples"]) == 2 and r["prompt"].endswith("Thought process:")
                                      for r in results)
    again = evaluate_command(*args)  # never overwrites a result
    assert again.returncode == 1 and "exists; refusing to overwrite" in again.stderr


def test_perplexity_is_lower_on_trained_text(quickstart_run, tmp_path, evaluate_command):
    run = quickstart_run.run
    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text("".join(json.dumps({"text": t}) + "\n" for t in [
        "Kettles of brass hum on the stoves of Virelle while the miners sleep through the grey noon. " * 6,
        "Seven lanterns swing above the ferry at Doskin, and nobody remembers who lit the first of them. " * 6]))

    def ppl(source, name):
        done = evaluate_command(f"--config.model.path={run.export}", "--config.task=perplexity",
                                f"--config.tokenizer.path={run.tokenizer.path}", f"--config.source={source}",
                                "--config.tasks.perplexity.seq_len=64", f"--config.output={tmp_path / name}")
        assert done.returncode == 0, done.stderr
        return read_result(tmp_path / name).perplexity

    seen, fresh = ppl("sample", "seen.json"), ppl(f"jsonl:{unseen}", "unseen.json")
    assert seen < fresh / 2, (seen, fresh)


def strict_json(text: str):
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_figures_over_nothing_are_null_in_the_report_and_on_stdout(tmp_path, capsys):
    """One article, all in the test split: the tune split is empty; no sample parsed: no answered accuracy."""
    doc = paper_split(load_source("sample"))["test"][0]
    results = [{"title": doc.title, "doc_id": doc.doc_id, "question": q.question, "selected": None, "correct": False,
                "difficult": q.difficult, "guessable": None, "answers": [None, None], "loss": float("nan")}
               for q in doc.questions]
    report = summarize("closed_book", results, [doc])
    report.write(tmp_path / "report.json")
    written = strict_json((tmp_path / "report.json").read_text())
    assert written["splits"]["tune"]["overall"] == {"correct": 0, "total": 0, "accuracy": None, "answered": 0,
                                                    "accuracy_answered": None, "attempt_rate": None, "interval": None}
    assert written["splits"]["test"]["overall"]["accuracy_answered"] is None
    assert written["details"]["results"][0]["loss"] is None
    assert strict_json(cli.result_text({"loss": float("nan"), "ppl": float("inf")})) == {"loss": None, "ppl": None}


def test_a_tokenizer_larger_than_the_checkpoints_vocabulary_is_one_line(quickstart_run, tmp_path, evaluate_command):
    (tmp_path / "big").mkdir()
    big = build_bpe_tokenizer(tmp_path / "big", ["<s>", "</s>"], 2000)  # the quickstart model has 1000 embeddings
    done = evaluate_command(f"--config.model.path={quickstart_run.run.export}", f"--config.tokenizer.path={big}",
                            "--config.task=loglik", f"--config.output={tmp_path / 'loglik.json'}")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        f"evaluate: error: {big}: the tokenizer has 2000 tokens but the model only 1000 embeddings; use the "
        "checkpoint's own tokenizer (tokenizer.path=\"\")")
    assert not (tmp_path / "loglik.json").exists()


def test_a_split_that_selects_no_question_is_one_line(quickstart_run, tmp_path, evaluate_command):
    """One article with questions: the tune split (the first 20% by title) holds none of it."""
    one = tmp_path / "one.jsonl"
    one.write_text((ROOT / "entigraph_jax/data/sample/quality_sample.jsonl").read_text().splitlines()[0] + "\n")
    done = evaluate_command(f"--config.model.path={quickstart_run.run.export}", f"--config.source=quality:{one}",
                            "--config.task=loglik", "--config.split=tune", f"--config.output={tmp_path / 'r.json'}")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        f"evaluate: error: quality:{one}: split=tune selects no question: of the 1 articles with questions it "
        "holds, tune (the first 20% by title) has 0 and test 1; set split=all")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("task", ["loglik", "closed_book"])
def test_a_missing_model_folder_is_named(tmp_path, evaluate_command, task):
    done = evaluate_command(f"--config.model.path={tmp_path / 'none'}", f"--config.task={task}")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (f"evaluate: error: {tmp_path / 'none'}: not a checkpoint "
                                                    "(no such folder)")


def test_the_paper_recipe_scores_only_what_it_names(tmp_path, run_command, monkeypatch):
    """Neither a checkpoint nor QuALITY's files given: one line naming both, never the sample scored instead."""
    monkeypatch.chdir(tmp_path)
    done = run_command(evaluate_main.COMMAND, ["--config", ROOT / "configs/eval_quality.py"])
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        "evaluate: error: config: model.path is required (the checkpoint to score); source=quality:QuALITY.v1.0.1."
        "htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev names QuALITY.v1.0.1.htmlstripped.train, "
        "QuALITY.v1.0.1.htmlstripped.dev: no such file or folder")
