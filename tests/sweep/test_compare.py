"""`sweep compare`: the methods' corpora generated from the same documents, the same base continued on each for the
same training tokens, one report with every method as a column (paired against the base), and per method its
corpus, cost, quoted price and faithfulness; a rerun asks and trains nothing."""

import json

import pytest

from entigraph_jax.config import load_config_file
from entigraph_jax.runs import TrainRun
from entigraph_jax.sweep.compare import CompareSettings, compare
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT


@pytest.mark.slow
def test_two_methods_and_raw_side_by_side_then_a_rerun_does_nothing(quickstart_run, tmp_path):
    server = FakeLLMServer().start()
    config = CompareSettings.from_config(load_config_file(ROOT / "configs" / "compare_own_corpus.py")).override({
        "workdir": str(tmp_path), "methods": ("raw", "knowledge", "active_reading"), "tokens": 2048,
        "generate.source": "sample", "generate.llm.base_url": f"{server.base_url}/v1",
        "faithfulness.judge.base_url": f"{server.base_url}/v1", "faithfulness.per_document": 1,
        "train.model.path": str(quickstart_run.run.export), "train.tokenizer.path": str(quickstart_run.run.export),
        "report.questions": "sample", "report.corpus": "", "report.heldout": "", "report.tasks": ("loglik",)})
    result = compare(config)
    table = (tmp_path / "report" / "table.md").read_text()
    assert table.splitlines()[0] == "| | base | raw | knowledge | active_reading |"
    loglik = next(line for line in table.splitlines() if line.startswith("| loglik accuracy |"))
    assert loglik.count("no detectable change") + loglik.count("better") + loglik.count("worse") == 3  # each vs base
    corpora = result["corpora"]
    assert corpora["raw"]["source"] == "sample" and corpora["raw"]["cost_usd"] == 0
    assert corpora["knowledge"]["fates"]["texts"] > 0 and corpora["active_reading"]["records"] > 0
    assert all(c["price_as"] > 0 and "gpt-4o-mini" in c["price"] for n, c in corpora.items() if n != "raw")
    for name in ("raw", "knowledge", "active_reading"):  # every model trained the same tokens: 2 steps of 8 x 128
        assert TrainRun(tmp_path / f"{name}_model").tokens_trained == 2 * 8 * 128
    writers = result["faithfulness"]
    assert {"knowledge/knowledge", "active_reading/study"} <= set(writers)
    assert writers["knowledge/knowledge"]["supported"] == 1.0  # the fake's checks removed every unsupported one
    compare_md = (tmp_path / "compare.md").read_text()
    assert "| knowledge | complete |" in compare_md and "| raw | the documents |" in compare_md
    asked, trained = len(server.requests), (tmp_path / "raw_model" / "hf" / "config.json").stat().st_mtime
    assert json.loads((tmp_path / "compare.json").read_text())["corpora"] == json.loads(json.dumps(corpora))
    compare(config)
    assert len(server.requests) == asked
    assert (tmp_path / "raw_model" / "hf" / "config.json").stat().st_mtime == trained
