"""Evaluation questions from the user's own documents (`generate` with method `questions`): a fake server
scripted question by question decides what is kept, dropped and flagged; the output is read by the
QuALITY loader and scored by every evaluation task that reads questions and by the trainer's hook."""

import json
import re

import pytest

from entigraph_jax.config import apply_override, load_config_file
from entigraph_jax.data import Document, Question, load_source, load_tokenizer
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.quality import closed_book_prompt
from entigraph_jax.evaluate.task import metric, read_result
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.questions import answer_letter, quote_found
from entigraph_jax.generate.run import generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.runs import CorpusRun
from entigraph_jax.settings import SettingError
from entigraph_jax.testing import FakeLLMServer
from entigraph_jax.train import hooks
from tests.helpers import ROOT

GUILD = ("Mara Quill founded the lantern guild of Ostrava in the spring of her twentieth year. The guild met every "
         "Thursday in the old mill by the river. Its first master was Tobin Reyes, a glassblower from the coast.")
FERRY = "The ferry to Doskin leaves at dawn. Its captain, Wren Hollis, has never missed a crossing in thirty years."


def question(text, options, answer, quote):
    return {"question": text, "options": options, "answer": answer, "quote": quote}


# What the scripted generator writes about each document, and the fate each question must meet.
GUILD_QUESTIONS = [
    question("Who founded the lantern guild of Ostrava?", ["Tobin Reyes", "Mara Quill", "Ida Venn", "Carl Ost"], "B",
             "mara quill   founded the Lantern guild\nof Ostrava"),  # kept: the quote differs only in case and spaces
    question("When was the guild founded?", ["1802", "1820", "1790", "1900"], "A",
             "The guild was founded in 1802."),  # dropped: the quote is not in the document
    question("On which day did the guild meet?", ["Monday", "Tuesday", "Thursday", "Sunday"], "C",
             "The guild met every Thursday"),  # dropped: answered wrong with the document (ambiguous)
    question("What was Tobin Reyes's trade?", ["glassblower", "smith", "miller", "sailor"], "A",
             "a glassblower from the coast"),  # kept, flagged: answered right without the document
    question("Who founded the lantern guild of Ostrava first?", ["Tobin Reyes", "Mara Quill", "Ida Venn", "Carl Ost"],
             "B", "Mara Quill founded the lantern guild"),  # dropped: a near-duplicate of the first
    question("Where did the guild meet?", ["the old mill", "the church", "the harbour"], "A",
             "in the old mill"),  # dropped: three options
]
FERRY_QUESTION = question("Who captains the ferry to Doskin?", ["Wren Hollis", "Tobin Reyes", "Ida Venn", "Nobody"],
                          "A", "Its captain, Wren Hollis, has never missed a crossing")
WITH_DOCUMENT = {"Who founded the lantern guild of Ostrava?": "The answer is B.", "On which day": "A",
                 "What was Tobin": "(A) glassblower", "Who founded the lantern guild of Ostrava first?": "B",
                 "Who captains": "A."}  # the ferry's is unreadable the first time ("I cannot tell."): asked again
CLOSED_BOOK = {"What was Tobin": "A", "Who captains": "D"}  # any other question: "C"


class Scripted:
    """The generator, scripted: the guild's questions; for the ferry, an answer that is no JSON first, then
    its question; answers by the tables above."""

    def __init__(self):
        self.ferry_asks = self.captain_asks = 0

    def __call__(self, prompt: str, json_mode: bool) -> str:
        if "multiple-choice questions that test" in prompt:
            if "ferry" in prompt:
                self.ferry_asks += 1
                return "Sure! Here are the questions." if self.ferry_asks == 1 else json.dumps(
                    {"questions": [FERRY_QUESTION]})
            return "```json\n" + json.dumps({"questions": GUILD_QUESTIONS}) + "\n```"
        asked = re.search(r"^(.+\?)\nA\. ", prompt, flags=re.M).group(1)
        table = WITH_DOCUMENT if "<document>" in prompt else CLOSED_BOOK
        if asked.startswith("Who captains") and "<document>" in prompt:
            self.captain_asks += 1
            if self.captain_asks == 1:
                return "I cannot tell."
        return next((answer for start, answer in table.items() if asked.startswith(start)), "C")


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": "guild", "text": GUILD, "title": "The Lantern Guild"}) + "\n"
                    + json.dumps({"id": "ferry", "text": FERRY}) + "\n")
    return path


def settings(server, out, source, **changes) -> GenerateSettings:
    config = load_config_file(ROOT / "configs" / "questions_own_corpus.py")
    for key, value in {"source": f"jsonl:{source}", "output_dir": out, "llm.base_url": server.base_url + "/v1",
                       "llm.model": "fake-model", "llm.backoff_initial_s": 0.01, "llm.poll_s": 0.01,
                       **changes}.items():
        apply_override(config, key, str(value))
    return GenerateSettings.from_config(config)


@pytest.mark.parametrize("mode", ["online", "batch"])
def test_questions_are_kept_dropped_and_flagged_as_scripted(tmp_path, corpus, mode):
    script = Scripted()
    server = FakeLLMServer(answer=script).start()
    summary = generate(settings(server, tmp_path / "out", corpus, **{"llm.mode": mode}))
    assert summary.status == "complete" and script.ferry_asks == 2  # the answer without JSON was asked again
    assert script.captain_asks == 2  # and the answer without a readable letter
    assert summary.fates == {
        "asked": 7, "documents": 2, "kept": 3, "guessable": 1, "gold_letters": {"A": 2, "B": 1},
        "dropped: quote not a clause of the document (at least 4 words, found whole)": 1,
        "dropped: not four options": 1, "dropped: ambiguous (answered wrong with the document)": 1,
        "dropped: near-duplicate": 1,
        "guessable_rule": "right in more than half of 3 answers without the document"}
    # Answers were asked only for questions whose quote is in the document: once with it, three times without.
    assert summary.requests["answer"] == {"done": 5 * (1 + 3)}
    docs = {d.doc_id: d for d in load_source(CorpusRun(tmp_path / "out").questions)}
    guild, ferry = docs["guild"], docs["ferry"]
    assert [(q.question, q.gold_label, q.guessable, q.difficult) for q in guild.questions] == [
        ("Who founded the lantern guild of Ostrava?", 2, False, None), ("What was Tobin Reyes's trade?", 1, True, None)]
    assert [(q.question, q.options, q.gold_label, q.guessable) for q in ferry.questions] == [
        ("Who captains the ferry to Doskin?", tuple(FERRY_QUESTION["options"]), 1, False)]
    assert guild.text == f'"The Lantern Guild".\n{GUILD}' and guild.author == "" and guild.year is None
    assert ferry.title == "ferry"  # a document without a title is named by its id
    line = json.loads(CorpusRun(tmp_path / "out").questions.read_text().splitlines()[0])
    assert [(q["guessable"], q["closed_book_right"]) for q in line["questions"]] == [(False, 0), (True, 3)]
    assert line["questions"][0]["quote"] == GUILD_QUESTIONS[0]["quote"]


def test_a_rerun_asks_nothing_and_only_the_questions_are_written(tmp_path, corpus):
    server = FakeLLMServer(answer=Scripted()).start()
    config = settings(server, tmp_path / "out", corpus)
    first = generate(config)
    sent = len(server.requests)
    again = generate(config)
    assert len(server.requests) == sent and again.fates == first.fates
    out = CorpusRun(tmp_path / "out")
    assert not out.records.exists()  # evaluation questions are no corpus: questions.jsonl is the output
    assert first.records == first.fates["kept"] == 3 and first.records_dir == str(out.questions)


def test_prompts_without_author_or_year():
    doc = Document("d", '"The Lantern Guild".\nbody', title="The Lantern Guild")
    q = Question("Who founded the guild?", ("a", "b", "c", "d"), 1)
    prompt = closed_book_prompt(doc, q)
    assert 'In the context of "The Lantern Guild", who founded' in prompt and "None" not in prompt
    dated = Document("d", "body", title="T", author="Quill, Mara", year=1931)
    assert 'In the context of "T", written by Mara Quill in 1931, who founded' in closed_book_prompt(dated, q)
    anonymous = Document("d", "b", title="T", year=1931)
    assert 'In the context of "T", written in 1931, who' in closed_book_prompt(anonymous, q)


@pytest.mark.parametrize(("text", "letter"), [
    ("B", "B"), ("B.", "B"), (" (C) the mill", "C"), ("The answer is D.", "D"), ("Answer: a", "A"),
    ("A good question; the answer is C", "C"), ("I cannot tell.", None), ("Both", None)])
def test_answer_letters(text, letter):
    assert answer_letter(text) == letter


def test_quotes_are_clauses_of_the_document_case_and_whitespace_aside():
    text = "Then Mara Quill founded the guild of Ostrava."
    assert quote_found('"Mara  QUILL founded\nthe guild..."', text)
    assert not quote_found("Mara Quill founded the city", text)
    assert not quote_found(' "" ', "anything") and not quote_found("a", "Mara")  # no word, or too few
    assert not quote_found("Quill founded the guild", text, words=5)  # a clause is at least `words` words
    assert not quote_found("ara Quill founded the", text)  # found whole: not inside a word
    assert quote_found("the guild of Ostrava", text)


def test_dry_run_counts_and_prices_the_questions(tmp_path, corpus):
    server = FakeLLMServer().start()
    plan = estimate(settings(server, tmp_path / "out", corpus, **{"questions.per_document": 4,
                                                                  "llm.model": "gpt-4o-mini"}))
    assert plan.by_kind["question"]["requests"] == 2 and plan.by_kind["answer"]["requests"] == 2 * 4 * (1 + 3)
    assert plan.by_kind["question"]["output_tokens"] == 2 * 4 * 120 and plan.train_tokens == 0
    assert plan.cost_usd >= 0 and "gpt-4o-mini" in plan.price and not server.requests  # nothing sent
    with_document = plan.by_kind["answer"]["input_tokens"]
    assert with_document > 8 * (len(GUILD) + len(FERRY)) / 4 / 2  # a quarter of the answers carry their document


def test_generated_questions_score_under_every_evaluation(quickstart_run, tmp_path, run_command):
    """The sample corpus's questions written by the fake server's rule, then closed-book, open-book and
    log-likelihood evaluation, and the trainer's hook, on the quickstart model."""
    server = FakeLLMServer().start()
    config = load_config_file(ROOT / "configs" / "questions_own_corpus.py")
    for key, value in {"source": "sample", "output_dir": tmp_path / "q", "llm.base_url": server.base_url + "/v1",
                       "llm.model": "fake-model", "questions.per_document": 2}.items():
        apply_override(config, key, str(value))
    summary = generate(GenerateSettings.from_config(config))
    questions = CorpusRun(tmp_path / "q").questions
    assert summary.fates["kept"] == 20 and summary.fates["guessable"] == 10  # gold at A then B; closed: A
    export = quickstart_run.run.export
    reports = {}
    short = ["sampling.samples=1", "sampling.max_new_tokens=8"]
    for task, extra in (("closed_book", short),
                        ("open_book", [*short, "sampling.shots=1", "embedder.backend=hashing",
                                       f"embedder.cache_dir={tmp_path / 'cache'}", "rerank=none", "top_k=2"]),
                        ("loglik", [])):
        done = run_command(evaluate_main.COMMAND, [
            "--config", ROOT / "configs/eval_quality.py", f"--config.model.path={export}", f"--config.task={task}",
            f"--config.source={questions}", f"--config.output={tmp_path / task}.json",
            *(f"--config.tasks.{task}.{key}" for key in extra)])
        assert done.returncode == 0, done.stderr
        reports[task] = read_result(tmp_path / f"{task}.json")
        scores = reports[task].splits["all"]
        assert scores.overall.total == 20 and scores.not_guessable.total == scores.guessable.total == 10
        assert scores.hard.total == 0  # QuALITY's own flag: these questions do not have it
    model = from_pretrained_hf(export)
    context = hooks.RunContext(config=None, tokenizer=load_tokenizer(export), model=lambda params: model,
                               eval_loss=None, pipeline=None)
    loglik = hooks.registered()["loglik"]
    hook = loglik.make(loglik.settings(every_steps=1, source=str(questions)), context)
    assert hook(1, {})[metric("loglik", "accuracy")] == pytest.approx(reports["loglik"].splits["all"].overall.accuracy)


def test_a_prompt_version_without_the_methods_templates_is_one_line(tmp_path, corpus):
    server = FakeLLMServer().start()
    with pytest.raises(SettingError, match=r"prompt_version='paper': no question, answer_with_document, "
                                           r"answer_closed_book template\(s\), which method 'questions' needs"):
        generate(settings(server, tmp_path / "out", corpus, prompt_version="paper"))
    assert not server.requests and not (tmp_path / "out").exists()
