"""Evaluate's and sweep's figures in TensorBoard and W&B when asked: the event files read back (their
TFRecord framing and tensorboardX's Event protobuf), and a W&B offline run holding the same figures."""


import pytest

from entigraph_jax.evaluate.run import evaluate
from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.scalars import numbers
from tests.helpers.figures import tensorboard_scalars


def test_numbers_keeps_the_finite_figures_by_path():
    figures = {"task": "loglik", "output": "x.json", "overall": {"accuracy": 0.5, "attempted": 12,
                                                                "gone": None, "nan": float("nan")}, "ok": True}
    assert numbers(figures, "eval/") == {"eval/overall/accuracy": 0.5, "eval/overall/attempted": 12.0}


def test_evaluate_logs_its_headline_at_the_runs_step(quickstart_run, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = quickstart_run.run
    config = EvaluateSettings.from_config({
        "model": {"path": str(run.export)}, "tokenizer": run.tokenizer.to_dict(), "task": "perplexity",
        "source": "sample", "tasks": {"perplexity": {"seq_len": 64}}, "output": str(tmp_path / "ppl.json"),
        "log": {"tensorboard": str(tmp_path / "tb"), "wandb_project": "entigraph-tests"}})
    evaluate(config)
    report = read_result(tmp_path / "ppl.json")
    scalars = tensorboard_scalars(tmp_path / "tb")
    assert scalars["eval/perplexity/perplexity"] == [(run.steps, pytest.approx(report.perplexity, rel=1e-6))]
    assert scalars["eval/perplexity/tokens"] == [(run.steps, report.tokens)]
    [wandb_run] = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    assert b"eval/perplexity/perplexity" in wandb_run.read_bytes()  # the figure went into the run's records
