"""Recipes, starting from Hugging Face weights, and held-out evaluation during training."""

import numpy as np
import pytest

from entigraph_jax.cli import main
from entigraph_jax.config import flatten, load_config_file
from entigraph_jax.data import load_source, load_tokenizer
from entigraph_jax.evaluate.grid import GridSettings
from entigraph_jax.evaluate.report import ReportSettings
from entigraph_jax.evaluate.run import evaluate
from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.evaluate.task import metric
from entigraph_jax.evaluate.tasks.loglik import log_likelihood
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.__main__ import COMMANDS as MODELS
from entigraph_jax.runs import TrainRun
from entigraph_jax.sbp.settings import SBPSettings
from entigraph_jax.sweep.compare import CompareSettings
from entigraph_jax.sweep.settings import SweepSettings
from entigraph_jax.train import TrainSettings
from entigraph_jax.train.setup import build_data
from tests.helpers import ROOT
from tests.helpers.runs import quickstart, train_in


@pytest.mark.parametrize("recipe", sorted((ROOT / "configs").glob("*.py")), ids=lambda p: p.stem)
def test_every_recipe_is_the_settings_of_one_command(recipe):
    """Each recipe is a train, generate, evaluate (or its report or grid), sweep (or its compare) or sbp config with
    exactly that command's keys, and every value passes that command's checks."""
    config = load_config_file(recipe)
    commands = (TrainSettings, GenerateSettings, EvaluateSettings, ReportSettings, GridSettings, SweepSettings,
                CompareSettings, SBPSettings)
    owners = [s for s in commands if sorted(flatten(config)) == sorted(s().leaves())]
    assert len(owners) == 1
    assert owners[0].from_config(config).leaves() == flatten(config)


REPLAY = "hf:togethercomputer/RedPajama-Data-1T-Sample"  # the released code's replay corpus


def test_paper_recipe_values():
    c = load_config_file(ROOT / "configs" / "cpt_llama3_8b_quality.py")
    assert (c.optim.lr, c.optim.warmup_fraction, c.optim.weight_decay) == (5e-6, 0.05, 0.01)
    assert (c.data.global_batch, c.data.seq_len, c.data.epochs, c.data.replay_rate) == (16, 2048, 2, 0.1)
    assert (c.model.path, c.model.param_dtype, c.model.dtype) == ("/ckpt/Meta-Llama-3-8B", "float32", "bfloat16")
    assert (c.optim.b1, c.optim.b2, c.optim.eps) == (0.9, 0.999, 1e-8)  # the Hugging Face Trainer's AdamW
    instruct = load_config_file(ROOT / "configs" / "instruct_llama3_8b_ultrachat.py")
    assert (instruct.data.global_batch, instruct.data.epochs, instruct.data.loss_on) == (128, 2, "all")
    assert instruct.data.replay_rate == 0.0 and instruct.optim.lr == 5e-6
    paper = load_config_file(ROOT / "configs" / "instruct_llama3_8b_ultrachat_paper.py")  # Appendix D's text
    assert (paper.data.global_batch, paper.data.epochs) == (512, 1)
    assert c.data.replay_source == REPLAY
    for arm in ("raw", "rephrase", "qa_sft", "released_corpus"):  # the EntiGraph arm's optimizer and replay
        other = load_config_file(ROOT / "configs" / f"cpt_llama3_8b_{arm}.py")
        assert other.optim == c.optim and other.data.replay_rate == 0.1 and other.data.replay_source == REPLAY
    assert load_config_file(ROOT / "configs" / "cpt_llama3_8b_raw.py").data.epochs == 4  # Appendix D


@pytest.mark.torch
def test_first_loss_from_hf_weights_equals_transformers(tmp_path):
    """Step 1 reports the loss of the starting weights: transformers must agree on that batch."""
    import torch
    import transformers

    scratch = quickstart(**{"max_steps": 1, "data.mask_documents": False})
    tokenizer = train_in(scratch, tmp_path / "tok").tokenizer  # the 1000-token tokenizer the HF model is built for
    torch.manual_seed(0)
    reference = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1)).eval()
    reference.save_pretrained(tmp_path / "hf")
    config = quickstart(**{"max_steps": 2, "data.mask_documents": False, "model.path": str(tmp_path / "hf"),
                           "tokenizer.path": tokenizer.path})
    first = train_in(config, tmp_path / "run").rows()[0]
    batch = next(build_data(config, TrainRun(tmp_path / "run")).train.iterator())
    with torch.no_grad():
        logits = reference(torch.as_tensor(batch["inputs"], dtype=torch.long)).logits
        expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 1000),
                                                     torch.as_tensor(batch["targets"], dtype=torch.long).reshape(-1))
    assert first["step"] == 1 and abs(first["loss"] - float(expected)) < 1e-4

    # the same weights through `convert` to Orbax start the same run
    assert main(MODELS, ["convert", str(tmp_path / "hf"), str(tmp_path / "orbax")]) == 0
    train_in(config.override({"model.path": str(tmp_path / "orbax")}), tmp_path / "from_orbax")

    def trajectory(run):
        return [(r["loss"], r["grad_norm"], r["param_norm"]) for r in TrainRun(tmp_path / run).rows()]

    assert trajectory("from_orbax") == trajectory("run")


def test_evaluation_tasks_run_as_hooks_and_equal_the_command_on_the_final_weights(tmp_path):
    """The perplexity task (the held-out loss: the run's own packed batches and sharded loss) and the loglik
    task, each named as a hook; at the last step each equals the evaluate command's on the exported weights."""
    config = quickstart(**{"max_steps": 6, "hooks.perplexity.source": "sample", "hooks.perplexity.every_steps": 3,
                           "hooks.loglik.source": "sample", "hooks.loglik.every_steps": 6,
                           "hooks.loglik.max_questions": 12, "export.hf": True})
    run = train_in(config, tmp_path / "run")
    loss, ppl, accuracy = metric("perplexity", "loss"), metric("perplexity", "perplexity"), metric("loglik", "accuracy")
    evaluated = [r for r in run.rows() if loss in r]
    assert [r["step"] for r in evaluated] == [3, 6]
    assert evaluated[1][loss] < evaluated[0][loss]  # it trains on the same text
    assert np.isclose(evaluated[1][ppl], np.exp(evaluated[1][loss]))
    assert [r["step"] for r in run.rows() if accuracy in r] == [6]  # the task, called in training
    docs = [d for d in load_source("sample") if d.questions]
    final = log_likelihood(from_pretrained_hf(run.export), load_tokenizer(run.tokenizer.path), docs, 12)
    assert run.last(accuracy)[accuracy] == final.splits["all"].overall.accuracy
    command = evaluate(EvaluateSettings().override({
        "model.path": str(run.export), "tokenizer": run.tokenizer.to_dict(), "task": "perplexity", "source": "sample",
        "tasks.perplexity.seq_len": config.data.seq_len, "tasks.perplexity.batch": config.data.global_batch,
        "output": str(tmp_path / "perplexity.json")}))
    assert (command.loss, command.tokens) == (pytest.approx(evaluated[1][loss], rel=1e-5),
                                              evaluated[1][metric("perplexity", "tokens")])
