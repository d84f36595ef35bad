"""What the version before the task registry and the LLM service wrote (commit 6884021, kept in
`tests/earlier/`) still resumes and loads: a training run (with the hooks of then, heldout_loss and
quality_loglik), a generated corpus and its journal, a questions run, the summary judge's journal and an
evaluation report. Made by running that commit's commands (`README.md` in the folder says how)."""

import shutil

from entigraph_jax import cli
from entigraph_jax.data import Document, load_source
from entigraph_jax.evaluate.scores import QuestionScores
from entigraph_jax.evaluate.summary import SummarySettings, judge
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.generate.run import generate
from entigraph_jax.llm import LLMSettings
from entigraph_jax.runs import CorpusRun, TrainRun
from entigraph_jax.testing import FakeLLMServer
from entigraph_jax.train import __main__ as train_main
from tests.helpers import ROOT
from tests.helpers.generate import config_for

EARLIER = ROOT / "tests" / "earlier"
TINY = ["--config.model.hidden_size=32", "--config.model.intermediate_size=64", "--config.model.num_layers=1",
        "--config.model.num_heads=2", "--config.model.num_kv_heads=1", "--config.model.head_dim=16",
        "--config.tokenizer.train_vocab_size=400", "--config.data.epochs=1", "--config.export.hf=false",
        "--config.log.tensorboard=false"]


def test_a_training_run_of_the_earlier_version_resumes(tmp_path, capsys):
    workdir = tmp_path / "run"
    shutil.copytree(EARLIER / "tiny_run", workdir)
    argv = ["--config", ROOT / "configs/quickstart.py", f"--workdir={workdir}", "--config.max_steps=6", *TINY,
            "--config.hooks.perplexity.every_steps=2", "--config.hooks.perplexity.source=sample"]
    assert cli.main(train_main.COMMANDS, [str(a) for a in argv], default="train") == 0, capsys.readouterr().err
    rows = TrainRun(workdir).rows()  # its hooks of then (heldout_loss, quality_loglik) are hooks.*: safe to change
    assert [r["step"] for r in rows] == [2, 4, 6] and "eval_loss" in rows[1]  # the earlier run's rows kept
    assert "perplexity/loss" in rows[2]  # its held-out loss goes on under the task's name


def test_a_corpus_of_the_earlier_version_resumes_asking_nothing(tmp_path):
    shutil.copytree(EARLIER / "entigraph", tmp_path / "out")
    server = FakeLLMServer().start()
    before = CorpusRun(tmp_path / "out").summary()
    again = generate(config_for(server, tmp_path, **{"llm.model": "fake", "budget.max_requests": 24}))
    assert server.requests == [] and (again.status, again.records) == (before["status"], before["records"])
    assert len(load_source(CorpusRun(tmp_path / "out").source)) == before["records"]


def test_questions_a_judge_journal_and_a_report_of_the_earlier_version_load():
    docs = load_source(EARLIER / "questions" / "questions.jsonl")  # they said `difficult` for not guessable
    questions = [q for d in docs for q in d.questions]
    assert questions and all(q.guessable is not None and q.difficult == (not q.guessable) for q in questions)
    report = read_result(EARLIER / "loglik.json")
    assert isinstance(report, QuestionScores) and report.task == "loglik"
    assert report.splits["all"].overall.total == len(report.details["results"]) > 0
    assert report.splits["all"].guessable.total == 0  # a group the report had no word for: empty


def test_the_earlier_judge_journal_answers_every_request(tmp_path):
    server = FakeLLMServer().start()
    canal = Document("a1", "The canal opened in 1802. Barges carried coal from the northern pits to the city. "
                     "The keeper was Priscilla Loame.", title="A Short History of the Drennick Canal")
    entries = [{"doc_id": "a1", "writer": "short", "summary": "The canal opened in 1802. The canal was painted blue."},
               {"doc_id": "a1", "writer": "human0", "summary": "The keeper was Priscilla Loame."}]
    shutil.copytree(EARLIER / "judge", tmp_path / "judge")
    settings = SummarySettings(judge=LLMSettings(model="gpt-4-turbo", base_url=server.base_url + "/v1",
                                                 temperature=0.0, json_mode=False), claims_per_request=2)
    judge(entries, {"a1": canal}, settings, tmp_path / "judge" / "journal.sqlite")
    assert server.requests == [] and [e["verdicts"] for e in entries] == [["cosmetic", "false"], ["cosmetic"]]
