"""Closed-book summaries (the paper's Appendix I.2): the prompts, the claim judge through the fake
server's fixed rule (a claim is true when the article contains it, salient at six words or more),
counts checked by hand, the normalizer, resume, and the command on the quickstart model."""

import json
from pathlib import Path

import pytest

from entigraph_jax.data import Document, load_source
from entigraph_jax.errors import UserError
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.summary import (
    SummaryScore,
    SummarySettings,
    judge,
    parse_claims,
    parse_verdicts,
    prompt_text,
    scores,
)
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.llm import LLMSettings
from entigraph_jax.testing.fake_llm import FakeLLMServer
from tests.helpers import ROOT

CANAL = Document("a1", "The canal opened in 1802. Barges carried coal from the northern pits to the city. "
                 "The keeper was Priscilla Loame.", title="A Short History of the Drennick Canal")
COMET = Document("a2", "Comet Tesk returned in the winter of 1911 after ninety years away.", title="Comet Tesk")


@pytest.fixture
def server():
    return FakeLLMServer().start()


def settings_for(server, **changes) -> SummarySettings:
    judge_llm = LLMSettings(model="gpt-4-turbo", base_url=server.base_url + "/v1", temperature=0.0,
                            json_mode=False, backoff_initial_s=0.0)
    return SummarySettings(judge=judge_llm, **changes)


def chats(server) -> int:
    return sum(r["path"].endswith("/chat/completions") for r in server.requests)


def test_prompts_are_the_papers():
    doc = Document("s1", "...", title="The Salt Bells of Quarrowmere", author="Vantablane, Idris")
    assert prompt_text("short", doc) == ("Summarize the article The Salt Bells of Quarrowmere by Idris Vantablane "
                                         "for me.")
    assert prompt_text("long", doc) == ("Write an extremely long and detailed article regarding the book "
                                        "The Salt Bells of Quarrowmere by Idris Vantablane.")
    assert prompt_text("short", Document("s2", "...", title="Untold")) == "Summarize the article Untold for me."


def test_claims_and_verdicts_parse_as_judges_write_them():
    assert parse_claims("Here are the claims:\n- One thing.\n* Another.\n3) A third.") == [
        "One thing.", "Another.", "A third."]
    assert parse_claims("Only a line.\nAnd another.") == ["Only a line.", "And another."]
    assert parse_claims(None) is None
    answer = "1. TRUE - SALIENT\n**2.** FALSE\n3: true (cosmetic)\n2. TRUE SALIENT\n9. FALSE\n5. TRUE"
    assert parse_verdicts(answer, 5) == ["salient", "false", "cosmetic", None, "true"]  # the first verdict counts


def test_judged_counts_and_the_normalizer_by_hand(server, tmp_path):
    entries = [
        {"doc_id": "a1", "writer": "short", "summary": "The canal opened in 1802. Barges carried coal from the "
         "northern pits to the city. The canal was painted blue."},  # cosmetic (5 words), salient, false
        {"doc_id": "a1", "writer": "human0", "summary": "Barges carried coal from the northern pits to the city. "
         "The keeper was Priscilla Loame."},  # salient, cosmetic
        {"doc_id": "a1", "writer": "human1", "summary": "The keeper was a giant."},  # false
        {"doc_id": "a2", "writer": "short", "summary": ""},  # nothing written: no claims
        {"doc_id": "a2", "writer": "human0", "summary": "Comet Tesk returned in the winter of 1911 after ninety "
         "years away."},  # salient
    ]
    settings = settings_for(server, claims_per_request=2)
    journal = tmp_path / "judge" / "journal.sqlite"
    judge(entries, {"a1": CANAL, "a2": COMET}, settings, journal)
    assert [e["verdicts"] for e in entries] == [["cosmetic", "salient", "false"], ["salient", "cosmetic"],
                                                ["false"], [], ["salient"]]
    assert chats(server) == 4 + 5  # four summaries split; the first one's three claims judged two at a time
    # human means: a1 (claims 1.5, false 0.5, salient 0.5), a2 (1, 0, 1); short: a1 (3, 1, 1), a2 (0, 0, 0)
    paper = scores(entries, ("short",))  # per article, then the mean: a2's humans made no false claim, so a2 has
    assert paper["human"] == SummaryScore(  # no false ratio and is left out of that mean (and counted)
        articles=2, claims=1.25, false=0.25, salient=0.75, false_normalized=1.0, salient_normalized=1.0, unjudged=0,
        left_out={"false": 1})
    assert paper["short"] == SummaryScore(  # false: a1 1/0.5; salient: (a1 1/0.5 + a2 0/1) / 2
        articles=2, claims=1.5, false=0.5, salient=0.5, false_normalized=2.0, salient_normalized=1.0, unjudged=0,
        left_out={"false": 1})
    sums = scores(entries, ("short",), "ratio_of_sums")  # (1 + 0) / (0.5 + 0) and (1 + 0) / (0.5 + 1)
    assert sums["human"] == SummaryScore(articles=2, claims=1.25, false=0.25, salient=0.75, false_normalized=1.0,
                                         salient_normalized=1.0, unjudged=0)
    assert sums["short"] == SummaryScore(articles=2, claims=1.5, false=0.5, salient=0.5, false_normalized=2.0,
                                         salient_normalized=1 / 1.5, unjudged=0)
    again = [{k: e[k] for k in ("doc_id", "writer", "summary")} for e in entries]
    cost = judge(again, {"a1": CANAL, "a2": COMET}, settings, journal)  # a rerun: every answer is in the journal
    assert chats(server) == 9 and [e["verdicts"] for e in again] == [e["verdicts"] for e in entries]
    batch = [{k: e[k] for k in ("doc_id", "writer", "summary")} for e in entries]  # the provider's batch API
    batch_settings = settings.override({"judge.mode": "batch", "judge.poll_s": 0.01})
    batch_cost = judge(batch, {"a1": CANAL, "a2": COMET}, batch_settings, tmp_path / "batch" / "journal.sqlite")
    assert chats(server) == 9 and len(server.batches.submitted()) == 9  # each request once, in batches
    assert [e["verdicts"] for e in batch] == [e["verdicts"] for e in entries]
    assert cost > 0 and batch_cost == pytest.approx(cost / 2)  # priced as gpt-4-turbo, at the batch discount


def test_a_judge_that_keeps_failing_stops_with_one_line(server, tmp_path):
    server.fail_always("500")
    settings = settings_for(server)
    settings = settings.override({"judge.max_retries": 0})
    with pytest.raises(UserError, match=r"^tasks.summary.judge: 1 of 1 claim-splitting requests failed .*rerun to "
                                        r"ask them again"):
        judge([{"doc_id": "a2", "writer": "short", "summary": "Comet Tesk came back."}], {"a2": COMET}, settings,
              tmp_path / "journal.sqlite")
    server.fail_always("echo401")  # a key the provider refuses: the error names the judge's own settings
    with pytest.raises(UserError, match=r"^tasks.summary.judge: http://127.0.0.1:\d+/v1: HTTP 401 .*check the key"):
        judge([{"doc_id": "a2", "writer": "short", "summary": "Comet Tesk came back."}], {"a2": COMET}, settings,
              tmp_path / "again.sqlite")


def squality(path: Path, stories: dict[str, list[str]]) -> Path:
    """A sQuALITY-format file: the plot question first among five, each with its human responses."""
    lines = []
    for passage, responses in stories.items():
        questions = [{"question_number": n, "question_text": "What is the plot of the story?" if n == 1 else "Why?",
                      "responses": [{"response_text": r if n == 1 else "Because.", "worker_id": str(i)}
                                    for i, r in enumerate(responses)]} for n in (2, 1, 3, 4, 5)]
        lines.append(json.dumps({"metadata": {"passage_id": passage, "uid": f"u{passage}"}, "document": "...",
                                 "questions": questions}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_summary_command_on_the_quickstart_model(quickstart_run, server, tmp_path, run_command):
    docs = {d.doc_id: d for d in load_source("sample")}
    first = {doc_id: docs[doc_id].text.splitlines()[-1].split(". ")[0] + "." for doc_id in ("s004", "s009")}
    assert all(len(s.split()) >= 6 for s in first.values())
    human = squality(tmp_path / "squality.jsonl", {
        "s004": [first["s004"] + " The moon is made of cheese.", first["s004"]],
        "s009": [first["s009"]], "g123": ["A story the corpus does not have."]})
    output = tmp_path / "summary.json"
    args = ["--config", ROOT / "configs/eval_quality.py", "--config.source=sample",
            f"--config.model.path={quickstart_run.run.export}",
            "--config.task=summary", "--config.split=all", f"--config.tasks.summary.human={human}",
            "--config.tasks.summary.max_new_tokens=12", "--config.tasks.summary.temperature=0",
            f"--config.tasks.summary.judge.base_url={server.base_url}/v1", "--config.tasks.summary.judge.model=judge",
            f"--config.output={output}"]
    done = run_command(evaluate_main.COMMAND, args)
    assert done.returncode == 0, done.stderr
    report = read_result(output)
    # humans: s004 (claims 1.5, false 0.5, salient 1), s009 (1, 0, 1)
    assert report.summaries["human"] == SummaryScore(articles=2, claims=1.25, false=0.25, salient=1.0,
                                                     false_normalized=1.0, salient_normalized=1.0, unjudged=0,
                                                     left_out={"false": 1})  # s009's humans: no false claim
    results = report.details["results"]
    written = [r for r in results if r["writer"] in ("short", "long")]
    assert sorted((r["writer"], r["doc_id"]) for r in written) == [
        ("long", "s004"), ("long", "s009"), ("short", "s004"), ("short", "s009")]
    assert {r["prompt"] for r in written if r["doc_id"] == "s004"} == {
        "Summarize the article A Short History of the Drennick Canal by Priscilla Loame for me.",
        "Write an extremely long and detailed article regarding the book A Short History of the Drennick Canal "
        "by Priscilla Loame."}
    for writer in ("short", "long"):
        rows = [r["counts"] for r in written if r["writer"] == writer]
        assert report.summaries[writer].claims == sum(c["claims"] for c in rows) / 2
        [s004] = [r["counts"] for r in written if r["writer"] == writer and r["doc_id"] == "s004"]
        assert report.summaries[writer].false_normalized == s004["false"] / 0.5  # the only article with a ratio
    printed = json.loads(done.stdout)
    assert printed["task"] == "summary" and printed["human"]["salient"] == 1.0
    asked = chats(server)
    output.unlink()
    again = run_command(evaluate_main.COMMAND, args)  # the same summaries: the judge's answers are reused
    assert again.returncode == 0 and chats(server) == asked
    assert read_result(output).summaries == report.summaries
    missing = run_command(evaluate_main.COMMAND, [*args[:-1], f"--config.output={tmp_path / 'other.json'}",
                                                  f"--config.tasks.summary.human={tmp_path / 'nope.jsonl'}"])
    assert missing.returncode == 1 and "nope.jsonl: no sQuALITY .jsonl file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_the_recipe_is_the_papers():
    from entigraph_jax.config import load_config_file
    from entigraph_jax.evaluate.settings import EvaluateSettings

    recipe = EvaluateSettings.from_config(load_config_file(ROOT / "configs" / "eval_summary.py"))
    assert (recipe.task, recipe.split, recipe.tasks.summary.prompts) == ("summary", "all", ("short", "long"))
    assert (recipe.tasks.summary.judge.model, recipe.tasks.summary.judge.temperature) == ("gpt-4-turbo", 0.0)
    assert recipe.source == "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"
