"""lm-evaluation-harness through our model: tasks defined here over a small local dataset (every request
kind: multiple choice, rolling log-likelihood, generation); our figures against the harness's own `hf`
backend on the same checkpoint; the harness task of `evaluate`; the same task as a training hook."""

import json
from pathlib import Path

import numpy as np
import pytest

from entigraph_jax.data import load_tokenizer
from entigraph_jax.errors import UserError
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.evaluate.tasks.harness import HarnessSettings, harness_model, run_tasks, task_figures
from entigraph_jax.models import from_pretrained_hf
from tests.helpers import ROOT
from tests.helpers.harness import tiny_harness_tasks

pytestmark = pytest.mark.torch  # lm-evaluation-harness needs torch: these run where the dev extra is
pytest.importorskip("lm_eval", reason="the harness extra (lm-eval) is not installed")

TASKS = ("tiny_mc", "tiny_rolling", "tiny_gen")


def logprobs(sample: dict) -> list[float]:
    """A logged sample's log-likelihoods: one per choice ((logprob, greedy) each), or the rolling total."""
    return [r[0][0] if isinstance(r[0], list | tuple) else r[0] for r in sample["resps"]]


@pytest.fixture
def tasks(tmp_path) -> Path:
    return tiny_harness_tasks(tmp_path)


def test_our_figures_equal_the_harness_hf_backend_on_the_same_checkpoint(tmp_path, tasks):
    import torch
    import transformers
    from lm_eval.models.huggingface import HFLM

    from tests.helpers.models import CONFIGS
    from tests.helpers.tokenizers import build_bpe_tokenizer

    folder = tmp_path / "model"
    folder.mkdir()
    build_bpe_tokenizer(folder, ["<|begin|>", "<|end|>"], 384)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**{**CONFIGS["llama3"], "vocab_size": 384, "bos_token_id": 0, "eos_token_id": 1})
    transformers.LlamaForCausalLM(config).eval().save_pretrained(folder)
    settings = HarnessSettings(tasks=TASKS, include_path=str(tasks), batch=4)
    ours = run_tasks(harness_model(from_pretrained_hf(folder), load_tokenizer(folder), 4), settings, log_samples=True)
    theirs = run_tasks(HFLM(pretrained=str(folder), device="cpu", batch_size=4), settings, log_samples=True)
    for task in TASKS:
        mine, reference = ours["samples"][task], theirs["samples"][task]
        assert [s["arguments"] for s in mine] == [s["arguments"] for s in reference]
        if task == "tiny_gen":
            assert [s["resps"] for s in mine] == [s["resps"] for s in reference]
            continue
        np.testing.assert_allclose([logprobs(s) for s in mine], [logprobs(s) for s in reference], rtol=2e-5)
        if task == "tiny_mc":  # whether greedy decoding writes the continuation
            assert [[r[0][1] for r in s["resps"]] for s in mine] == [[r[0][1] for r in s["resps"]] for s in reference]
    figures, reference = task_figures(ours), task_figures(theirs)
    assert set(figures) == set(TASKS) and set(figures["tiny_rolling"]) == {"word_perplexity", "bits_per_byte"}
    for task in TASKS:
        for metric, value in reference[task].items():
            assert figures[task][metric] == pytest.approx(value, rel=1e-4), (task, metric)


def test_the_harness_task_on_the_quickstart_model(quickstart_run, tmp_path, tasks, run_command):
    output = tmp_path / "harness.json"
    done = run_command(evaluate_main.COMMAND, [
        "--config", ROOT / "configs/eval_harness.py", f"--config.model.path={quickstart_run.run.export}",
        f"--config.tasks.harness.include_path={tasks}", "--config.tasks.harness.tasks=tiny_mc,tiny_gen",
        "--config.tasks.harness.limit=4", f"--config.output={output}"])
    assert done.returncode == 0, done.stderr
    report = read_result(output)
    assert report.task == "harness" and set(report.harness) == {"tiny_mc", "tiny_gen"}
    assert 0 <= report.harness["tiny_mc"]["acc"] <= 1 and set(report.harness["tiny_gen"]) == {"exact_match"}
    assert [len(report.details["samples"][t]) for t in ("tiny_mc", "tiny_gen")] == [4, 4]
    assert json.loads(done.stdout)["tiny_mc"] == report.harness["tiny_mc"]
    mc = report.details["samples"]["tiny_mc"]
    assert report.harness["tiny_mc"]["acc"] == pytest.approx(np.mean([s["acc"] for s in mc]))


@pytest.mark.parametrize(("override", "message"), [
    pytest.param("--config.tasks.harness.tasks=no_such_task", "harness tasks: unknown task(s) no_such_task",
                 marks=pytest.mark.slow),  # the harness indexes its ~15k tasks first
    ("--config.tasks.harness.tasks=()", "config: tasks.harness.tasks is empty"),
])
def test_harness_mistakes_are_one_line(quickstart_run, tmp_path, tasks, run_command, override, message):
    done = run_command(evaluate_main.COMMAND, [
        "--config", ROOT / "configs/eval_harness.py", f"--config.model.path={quickstart_run.run.export}",
        f"--config.tasks.harness.include_path={tasks}", override, f"--config.output={tmp_path / 'h.json'}"])
    assert done.returncode == 1 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "h.json").exists()


def test_without_the_harness_installed_it_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lm_eval" else real(name, *a))
    with pytest.raises(UserError, match=r"pip install 'entigraph-jax\[harness\]'"):
        harness_model(None, None)


@pytest.mark.slow
def test_the_harness_hook_writes_its_metrics(tmp_path, tasks):
    from tests.helpers.runs import quickstart, train_in

    """Every 2 steps and after the last; the last figures equal the harness run on the exported weights."""

    config = quickstart(**{"max_steps": 4, "hooks.harness.every_steps": 2, "hooks.harness.tasks": ("tiny_mc",),
                           "hooks.harness.include_path": str(tasks), "hooks.harness.limit": 5, "export.hf": True})
    run = train_in(config, tmp_path / "run")
    scored = [r for r in run.rows() if "harness/tiny_mc/acc" in r]
    assert [r["step"] for r in scored] == [2, 4]
    settings = HarnessSettings(tasks=("tiny_mc",), include_path=str(tasks), limit=5)
    final = task_figures(run_tasks(harness_model(from_pretrained_hf(run.export), load_tokenizer(run.export)), settings))
    assert scored[-1]["harness/tiny_mc/acc"] == pytest.approx(final["tiny_mc"]["acc"])
    assert scored[-1]["harness/tiny_mc/acc_norm"] == pytest.approx(final["tiny_mc"]["acc_norm"])
