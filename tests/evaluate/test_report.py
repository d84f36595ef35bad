"""The before/after report on two tiny checkpoints: the quickstart model (trained on the sample corpus)
and a random one of the same shape; the trained one must come out ahead on the corpus's own questions
and perplexity, and the table must say what each evaluate report says."""

import csv
import json

import pytest
from flax import nnx

from entigraph_jax.config import apply_override, load_config_file
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.generate.run import generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.models import from_pretrained_hf, save_pretrained_hf
from entigraph_jax.models.llama import Llama
from entigraph_jax.runs import CorpusRun
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT

UNSEEN = "Seven lanterns swing above the ferry at Doskin, and nobody remembers who lit the first of them. " * 8


@pytest.fixture
def checkpoints(quickstart_run, tmp_path):
    """(the trained export, a random model of its shape with its tokenizer, the corpus's questions)."""
    trained = quickstart_run.run.export
    untrained = tmp_path / "random"
    save_pretrained_hf(Llama(from_pretrained_hf(trained).config, rngs=nnx.Rngs(3)), untrained,
                       tokenizer=trained)  # the export carries its tokenizer
    server = FakeLLMServer().start()
    config = load_config_file(ROOT / "configs/questions_own_corpus.py")
    for key, value in {"source": "sample", "output_dir": tmp_path / "q", "llm.base_url": server.base_url + "/v1",
                       "llm.model": "fake-model", "questions.per_document": 6}.items():
        apply_override(config, key, str(value))
    generate(GenerateSettings.from_config(config))
    return trained, untrained, CorpusRun(tmp_path / "q").questions


def test_the_trained_model_is_ahead_and_the_table_says_what_the_reports_say(checkpoints, tmp_path, run_command):
    trained, untrained, questions = checkpoints
    (tmp_path / "unseen.jsonl").write_text(json.dumps({"text": UNSEEN}) + "\n")
    out = tmp_path / "report"
    argv = ["report", "--config", ROOT / "configs/report_own_corpus.py", f"--config.models={untrained},{trained}",
            "--config.labels=base,cpt", f"--config.questions={questions}", "--config.corpus=sample",
            f"--config.heldout=jsonl:{tmp_path / 'unseen.jsonl'}", f"--config.output_dir={out}",
            "--config.tasks=loglik,perplexity", "--config.evaluate.tasks.perplexity.seq_len=64"]
    done = run_command(evaluate_main.COMMANDS, argv, default="evaluate")
    assert done.returncode == 0, done.stderr
    table = json.loads((out / "table.json").read_text())
    rows = {name: [cell["value"] for cell in cells] for name, cells in table["rows"].items()}
    assert table["labels"] == ["base", "cpt"]
    for label, column in (("base", 0), ("cpt", 1)):
        loglik = read_result(out / label / "loglik.json").splits["all"]
        cell = table["rows"]["loglik accuracy"][column]
        assert (cell["value"], cell["n"], cell["interval"]) == (loglik.overall.accuracy, loglik.overall.total,
                                                                loglik.overall.interval)
        assert cell["interval"][0] <= cell["value"] <= cell["interval"][1]
        assert rows["loglik accuracy, not guessable"][column] == loglik.not_guessable.accuracy
        perplexity = read_result(out / label / "perplexity_corpus.json")
        assert table["rows"]["perplexity corpus"][column]["n"] == perplexity.documents == 10
        assert rows["perplexity corpus"][column] == perplexity.perplexity
    assert not any("hard" in name for name in rows)  # the user's questions say nothing of QuALITY's hard subset
    assert rows["loglik accuracy"][1] > rows["loglik accuracy"][0]  # the trained model knows its corpus better
    assert rows["perplexity corpus"][1] < rows["perplexity corpus"][0] / 10
    assert rows["perplexity corpus"][1] < rows["perplexity heldout"][1]  # and it knows it better than new text
    corpus = table["rows"]["perplexity corpus"][1]["change"]  # paired on the same documents
    assert corpus["verdict"] == "better" and corpus["interval"][1] < 0
    assert corpus["change"] == pytest.approx(rows["perplexity corpus"][1] - rows["perplexity corpus"][0])
    accuracy = table["rows"]["loglik accuracy"][1]["change"]  # paired on the same questions
    assert accuracy["units"] == table["rows"]["loglik accuracy"][0]["n"]
    with open(out / "table.csv") as f:
        lines = list(csv.DictReader(f))
    assert [(line["figure"], line["model"]) for line in lines][:2] == [("loglik accuracy", "base"),
                                                                       ("loglik accuracy", "cpt")]
    assert lines[1]["verdict"] == accuracy["verdict"] and float(lines[1]["change"]) == accuracy["change"]
    text = (out / "table.md").read_text()
    assert f"; {accuracy['change']:+.4g} [" in text and (out / "report.png").stat().st_size > 10_000
    assert "| loglik accuracy |" in done.stdout
    written = {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")}
    again = run_command(evaluate_main.COMMANDS, argv, default="evaluate")  # every report is there: nothing rescored
    assert again.returncode == 0 and {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")} == written
    assert json.loads((out / "table.json").read_text()) == table
