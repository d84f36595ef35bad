"""The trainer against references: a single device, an uninterrupted run, one process, one batch."""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from entigraph_jax import cli
from entigraph_jax.config import ConfigError
from entigraph_jax.data import load_source, load_tokenizer, train_sentencepiece, write_records
from entigraph_jax.models import ShardingRules, make_mesh
from entigraph_jax.runs import TrainRun
from entigraph_jax.train import TrainingError
from entigraph_jax.train import __main__ as train_main
from entigraph_jax.train.setup import build_data, model_config
from entigraph_jax.train.step import Trainer
from tests.helpers.runs import QUICKSTART, losses, quickstart, train_in
from tests.helpers.waiting import wait_until


def final_params(workdir):
    with ocp.CheckpointManager(TrainRun(workdir).checkpoints) as manager:
        restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(
            state=ocp.args.StandardRestore()))
    return restored.state["params"]


def assert_trees_equal(a, b):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def run_steps(config, workdir, mesh, steps=10, **optim):
    data = build_data(config, TrainRun(workdir))
    trainer = Trainer(model_config(config, data.tokenizer), dataclasses.replace(config.optim, **optim), steps, mesh,
                      ShardingRules())
    state, iterator, out = trainer.init_state(0), data.train.iterator(), []
    for _ in range(steps):
        batch = {k: jax.device_put(v, trainer.batch_sharding) for k, v in next(iterator).items()}
        state, metrics = trainer.step(state, batch)
        out.append(float(metrics["loss"]))
    return np.array(out), jax.device_get(state["params"])


def test_sharded_training_matches_single_device(tmp_path):
    config = quickstart(tmp_path)
    single, _ = run_steps(config, tmp_path, make_mesh(devices=jax.devices()[:1]))
    sharded, _ = run_steps(config, tmp_path, make_mesh(data=1, fsdp=4, tensor=2))
    assert single[-1] < single[0] - 0.1  # it learns
    np.testing.assert_allclose(sharded, single, rtol=0, atol=2e-5)  # float32 reduction order only


def test_the_tokens_trained_are_counted_from_the_loss_masks(tmp_path):
    """A record per row, its prompt taught nothing (SBP's synthesizer rows): the run counts each text's
    tokens and its EOS, never BOS, the prompt or the padding after it; packed rows train every target."""
    vocabulary = train_sentencepiece((d.text for d in load_source("sample")), tmp_path / "sp" / "tokenizer", 1000)
    tokenizer = load_tokenizer(vocabulary)
    records = [{"kind": "pair", "doc_id": str(i), "prompt": f"Seed {i}: it was a cold morning in the orchard.",
                "text": " ".join(["Nobody came to the gate that day."] * (1 + i % 5))} for i in range(16)]
    write_records(records, tmp_path / "records")
    whole = train_in(quickstart(**{"data.source": f"records:{tmp_path / 'records'}", "data.rows": "whole",
                                   "data.epochs": 1, "tokenizer.path": str(vocabulary)}), tmp_path / "whole")
    assert whole.steps == 2  # 16 records, 8 rows a step: each record once
    assert whole.tokens_trained == sum(len(tokenizer.encode(r["text"])) + 1 for r in records)
    packed = train_in(quickstart(**{"max_steps": 3}), tmp_path / "packed")
    assert [row["tokens_trained"] for row in packed.rows()] == [8 * 128, 2 * 8 * 128, 3 * 8 * 128]


def test_max_steps_past_the_epochs_says_the_epochs_win(tmp_path, capsys):
    run = train_in(quickstart(**{"data.epochs": 1, "max_steps": 1000}), tmp_path)
    assert 0 < run.steps < 1000
    assert (f"train: max_steps=1000 is more than data.epochs=1 give ({run.steps} steps): the data ends first, so "
            f"{run.steps} steps; raise data.epochs to train longer") in capsys.readouterr().err


def test_gradient_accumulation_4x2_equals_a_batch_of_8(tmp_path):
    config = quickstart(tmp_path)
    mesh = make_mesh(data=2, fsdp=1, tensor=1, devices=jax.devices()[:2])
    whole, params_whole = run_steps(config, tmp_path, mesh)
    accumulated, params_acc = run_steps(config, tmp_path, mesh, microbatches=4)
    np.testing.assert_allclose(accumulated, whole, rtol=0, atol=2e-6)
    for a, b in zip(jax.tree.leaves(params_acc), jax.tree.leaves(params_whole), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


@pytest.mark.slow
def test_resume_is_exact_even_on_a_new_machine(tmp_path):
    """Resuming equals an uninterrupted run, here along a gs:// workdir's path through the same code:
    checkpoints written into the workdir, the local
    files (metrics, trained tokenizer, plot) in `log.local_dir` and copied into the workdir at each
    checkpoint. A rerun with an empty local folder (a recreated VM) resumes exactly from the workdir."""
    settings = {"max_steps": 20, "data.epochs": 7, "checkpoint.every_steps": 10}
    train_in(quickstart(**settings), tmp_path / "straight")
    run = TrainRun(tmp_path / "bucket" / "run")
    first = train_in(quickstart(**settings, **{"log.local_dir": str(tmp_path / "vm1")}), run.root)
    assert first == run and first.steps == 20
    for path in (run.checkpoints, run.metrics, run.tokenizer_dir, run.loss_plot):
        assert path.exists(), path
    assert TrainRun(tmp_path / "vm1").cache.is_dir() and not run.cache.exists()  # the token cache stays local
    shutil.rmtree(run.checkpoints / "20")  # preempted after the step-10 checkpoint
    again = train_in(quickstart(**settings, **{"log.local_dir": str(tmp_path / "vm2")}), run.root)
    assert again.steps == 20 and load_tokenizer(TrainRun(tmp_path / "vm2").tokenizer.path).vocab_size == 1000
    assert losses(run.root) == losses(tmp_path / "straight")
    assert again.tokens_trained == 20 * 8 * 128  # counted on from the checkpoint's step
    assert_trees_equal(final_params(run.root), final_params(tmp_path / "straight"))


def command(workdir, *overrides, env=None):
    return [sys.executable, "-m", "entigraph_jax.train", "--config", str(QUICKSTART), "--workdir", str(workdir),
            "--config.log.every_steps=1", "--config.log.tensorboard=false", "--config.export.hf=false",
            *overrides]


@pytest.mark.slow
def test_sigterm_saves_and_the_rerun_matches_an_uninterrupted_run(tmp_path):
    args = ["--config.data.epochs=30", "--config.checkpoint.every_steps=1000"]
    train_in(quickstart(**{"data.epochs": 30, "checkpoint.every_steps": 1000}), tmp_path / "straight")
    process = subprocess.Popen(command(tmp_path / "run", *args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    run = TrainRun(tmp_path / "run")
    wait_until(lambda: len(run.rows()) >= 5, process, what="five logged steps")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate()
    assert process.returncode == 143, stderr
    saved = [int(p.name) for p in run.checkpoints.iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and 5 <= saved[0] < 90 and "rerun to resume" in stderr
    done = subprocess.run(command(tmp_path / "run", *args), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert losses(tmp_path / "run") == losses(tmp_path / "straight")
    assert TrainRun(tmp_path / "run").tokens_trained == TrainRun(tmp_path / "straight").tokens_trained
    assert_trees_equal(final_params(tmp_path / "run"), final_params(tmp_path / "straight"))


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_like_one_and_stop_together_when_one_is_preempted(tmp_path):
    """Two processes of 4 devices each against one of 8; SIGTERM reaches one host only (each host gets
    its own at its own moment): both save the same step and stop, and rerunning both resumes exactly."""
    args = ["--config.max_steps=14", "--config.checkpoint.every_steps=1000"]  # a longer run drifts past 2e-5
    one = train_in(quickstart(**{"max_steps": 14, "checkpoint.every_steps": 1000}), tmp_path / "one")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}

    def start_both():
        port = free_port()
        return [subprocess.Popen(command(tmp_path / "two", *args, f"--config.tokenizer.path={one.tokenizer.path}",
                                         "--config.distributed.initialize=true",
                                         f"--config.distributed.coordinator_address=localhost:{port}",
                                         "--config.distributed.num_processes=2",
                                         f"--config.distributed.process_id={i}"),
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(2)]

    procs, run = start_both(), TrainRun(tmp_path / "two")
    wait_until(lambda: len(run.rows()) >= 3, *procs, what="both hosts in the loop")
    procs[1].send_signal(signal.SIGTERM)
    stderrs = [p.communicate(timeout=600)[1] for p in procs]  # a deadlock guard, not a speed limit
    assert [p.returncode for p in procs] == [143, 143], stderrs
    saved = [int(p.name) for p in run.checkpoints.iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and 3 <= saved[0] < one.steps, saved
    procs = start_both()
    stderrs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], stderrs
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(one.root), rtol=0, atol=2e-5)


def test_non_finite_loss_stops_without_checkpointing_it(tmp_path):
    config = quickstart(**{"optim.lr": 1e30, "optim.clip_norm": 1e30, "optim.warmup_fraction": 0.0,
                           "checkpoint.every_steps": 1})
    stopped = r"non-finite (loss|param_norm).* at step \d+; .*last good checkpoint is step \d+"
    with pytest.raises(TrainingError, match=stopped):
        train_in(config, tmp_path / "run")
    params = final_params(tmp_path / "run")  # the latest checkpoint on disk is a good one
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(params))


def stored_phases(workdir):
    with ocp.CheckpointManager(TrainRun(workdir).checkpoints) as manager:
        config = manager.restore(manager.latest_step(), args=ocp.args.Composite(config=ocp.args.JsonRestore())).config
    return config["mixture"]


def test_mixture_shares_change_on_resume_from_the_resumed_step(tmp_path, capsys):
    """A run resumed with new shares of data.sources says so once, keeps its steps so far, and stores
    the phases with its checkpoints so later resumes rebuild the same rows; other sources are refused."""
    (tmp_path / "extra.jsonl").write_text("".join(json.dumps({"text": f"Extra text {i}. " * 40}) + "\n"
                                                  for i in range(6)))
    spec = f"jsonl:{tmp_path / 'extra.jsonl'}"
    workdir = tmp_path / "run"
    settings = {"checkpoint.every_steps": 3, "data.sources": ((spec, 0.25),)}
    assert train_in(quickstart(max_steps=6, **settings), workdir).steps == 6
    first = losses(workdir)
    assert "shares of data.sources change" not in capsys.readouterr().err
    resumed = train_in(quickstart(max_steps=9, **{**settings, "data.sources": ((spec, 0.5),)}), workdir)
    err = capsys.readouterr().err
    assert resumed.steps == 9 and f"from step 6 the shares of data.sources change: {spec} 0.25 -> 0.5" in err
    assert losses(workdir)[:6] == first and stored_phases(workdir) == [[0, [0.25]], [6, [0.5]]]
    train_in(quickstart(max_steps=12, **{**settings, "data.sources": ((spec, 0.5),)}), workdir)
    assert "change" not in capsys.readouterr().err and stored_phases(workdir) == [[0, [0.25]], [6, [0.5]]]
    with pytest.raises(ConfigError, match=r"written with data.sources \[.*extra.jsonl'\]; on resume only their"):
        train_in(quickstart(max_steps=15, **{"data.sources": (("sample", 0.5),)}), workdir)


@pytest.mark.parametrize("override, message, code", [
    ("--config.optim.lrr=1", "config: unknown key 'optim.lrr' (known here: b1, b2, clip_norm", 2),
    ("--config.mesh.tensor=3", "config: mesh (data, fsdp, tensor) = (1, -1, 3) is impossible on 8 devices", 1),
    ("--config.data.global_batch=12", "a microbatch of 12 rows (data.global_batch / optim.microbatches) "
                                      "is not divisible by the data axes data x fsdp = 8", 1),
    ("--config.optim.lr=fast", "config: bad value for 'optim.lr'", 2),
    ("--config.optim.lr=-0.01", "config: optim.lr=-0.01: must be positive", 1),
    ("--config.model.remat=some", "config: model.remat='some': expected one of none, full, save_dots", 1),
    ("--config.model.attention=cudnn", "config: model.attention='cudnn': cuDNN attention needs an NVIDIA GPU", 1),
    ("--config.model.logits_chunk=100", "config: model.logits_chunk: 100 does not divide data.seq_len=128", 1),
])
def test_bad_config_is_one_line(tmp_path, capsys, override, message, code):
    """Usage errors (unknown keys, values of the wrong type) exit 2, bad values exit 1, before any work."""
    argv = ["--config", str(QUICKSTART), "--workdir", str(tmp_path / "run"), override]
    assert cli.main(train_main.COMMANDS, argv, default="train") == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train: error: ") and message in lines[0], lines
    assert not TrainRun(tmp_path / "run").checkpoints.exists()


def test_quickstart_end_to_end(quickstart_run, tmp_path, capsys):
    """The README's main job as typed (the session's run): every output in place, and a rerun resumes."""
    run = quickstart_run.run
    for path in (run.loss_plot, run.metrics, run.export / "config.json", run.export / "model.safetensors"):
        assert path.is_file(), path
    assert list(run.tensorboard.iterdir()) and load_tokenizer(run.tokenizer.path).vocab_size == 1000
    printed = json.loads(quickstart_run.stdout[quickstart_run.stdout.index("\n{") :])
    assert [printed[k] for k in ("hf_export", "tokenizer", "tensorboard", "loss_plot")] == [
        str(run.export), str(run.tokenizer_dir), str(run.tensorboard), str(run.loss_plot)]
    shutil.copytree(run.root, tmp_path / "qs")
    assert cli.main(train_main.COMMANDS, command(tmp_path / "qs")[3:], default="train") == 0
    assert "resuming from step 150" in capsys.readouterr().out


def test_cpu_peak_is_measured_once_and_stored(tmp_path, monkeypatch):
    """MFU on CPU divides by one stored figure per machine, not a measurement that moves with the load."""
    from entigraph_jax.train import metrics

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first, source = metrics.stored_cpu_peak()
    assert first > 0 and str(tmp_path / "entigraph_jax" / "cpu_peak.json") in source

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(metrics, "measured_matmul_flops", no_measuring)
    assert metrics.stored_cpu_peak()[0] == first


def test_a_cpu_peak_measured_under_load_is_raised_and_mfu_stays_at_most_one(tmp_path, monkeypatch):
    from entigraph_jax.train import metrics

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache, key, _ = metrics._cpu_peak_file()
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({key: 1e3}))  # a figure no step can stay under
    run = train_in(quickstart(max_steps=3), tmp_path / "run")
    assert all(0 < row["mfu"] <= 1 for row in run.rows()), [row["mfu"] for row in run.rows()]
    assert json.loads(cache.read_text())[key] > 1e3
