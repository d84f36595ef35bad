"""Training broken on purpose: each fault ends with one line naming the thing at fault, the right exit
code, and nothing already written lost."""

import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_train import QUICKSTART, losses, quickstart, train_in

from entigraph_jax.data.cache import check_cache
from entigraph_jax.train import TrainingError


def train_command(workdir, *overrides):
    return [sys.executable, "-m", "entigraph_jax.train", "--config", str(QUICKSTART), "--workdir", str(workdir),
            "--config.log.every_steps=1", "--config.log.tensorboard=false", *overrides]


SHORT = ("--config.data.epochs=4", "--config.checkpoint.every_steps=5", "--config.checkpoint.keep=3")


def run(workdir, *overrides, **kwargs):
    return subprocess.run(train_command(workdir, *overrides), capture_output=True, text=True, **kwargs)


def error_lines(done) -> list[str]:
    """stderr without progress bars and blank lines."""
    return [line for line in done.stderr.replace("\r", "\n").splitlines()
            if line.strip() and not re.match(r"\s*\d+%\|", line)]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A finished short quickstart run with checkpoints at steps 5, 10 and 15, and its hf export."""
    workdir = tmp_path_factory.mktemp("short") / "run"
    done = run(workdir, *SHORT, "--config.export.hf=true")
    assert done.returncode == 0, done.stderr
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [5, 10, 15]
    return workdir


@pytest.mark.parametrize("damage", ["truncated tensor file", "missing _METADATA"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(short_run, tmp_path,
                                                                                          damage):
    workdir = tmp_path / "run"
    shutil.copytree(short_run, workdir)
    state = workdir / "checkpoints" / "15" / "state"
    if damage == "missing _METADATA":
        (state / "_METADATA").unlink()
    else:
        largest = max((p for p in state.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        os.truncate(largest, largest.stat().st_size // 3)
    done = run(workdir, *SHORT, "--config.export.hf=true")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in error_lines(done) if line.startswith("train: checkpoint step 15")]
    assert len(warnings) == 1 and warnings[0].endswith(f"set aside as {workdir / 'checkpoints' / '15.damaged'}")
    assert "resuming from step 10" in done.stdout
    assert (workdir / "checkpoints" / "15.damaged").is_dir()  # never deleted
    assert losses(workdir) == losses(short_run)  # steps 11-15 again, exactly as the first time


def test_resuming_with_another_config_names_the_keys(short_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(short_run, workdir)
    done = run(workdir, *SHORT, "--config.data.epochs=10", "--config.model.num_layers=2")  # the README's example
    assert done.returncode == 1
    lines = error_lines(done)
    assert len(lines) == 1 and lines[0].startswith(f"train: error: {workdir}: its checkpoints were written with "
                                                   "another config: data.epochs (4 -> 10), model.num_layers (4 -> 2)")
    assert "--workdir" in lines[0]
    safe = run(workdir, *SHORT, "--config.max_steps=12", "--config.log.every_steps=3",
               "--config.hooks.heldout_loss.batches=2")
    assert safe.returncode == 0, safe.stderr  # keys safe on resume


def test_a_failed_save_stops_the_run_with_one_line(tmp_path):
    def small_files():  # writes past 2 MiB fail, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

    workdir = tmp_path / "run"
    done = run(workdir, *SHORT, preexec_fn=small_files)
    assert done.returncode == 1
    lines = error_lines(done)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"train: error: {workdir / 'checkpoints'}: saving the checkpoint of step 5 failed (")
    assert lines[0].endswith("no checkpoint was written yet") and "File too large" in lines[0]
    assert not list((workdir / "checkpoints").glob("*tmp*"))  # no half-written folder left


def test_after_a_failed_save_only_errors_raised_in_orbax_are_dropped(monkeypatch, caplog):
    """Orbax's abandoned writes echo a failed save until the process exits, through any of three
    channels; errors from other code still reach each one."""
    import orbax.checkpoint._src.serialization.serialization as orbax_module

    from entigraph_jax.train.checkpoints import CheckpointSaveError, quiet_background_errors

    def raised_in(filename: str) -> BaseException:
        try:
            exec(compile("raise OSError('File too large')", filename, "exec"))
        except OSError as e:
            return e

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(("unraisable", unraisable.err_msg)))
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(("thread", args.thread)))
    monkeypatch.setattr(logging.getLogger("asyncio"), "filters", [])
    with pytest.raises(CheckpointSaveError), quiet_background_errors():
        raise CheckpointSaveError("checkpoints: saving the checkpoint of step 5 failed")
    for where in (orbax_module.__file__, __file__):
        error = raised_in(where)
        sys.unraisablehook(SimpleNamespace(exc_type=OSError, exc_value=error, exc_traceback=error.__traceback__,
                                           err_msg=where, object=None))
        threading.excepthook(SimpleNamespace(exc_type=OSError, exc_value=error, exc_traceback=error.__traceback__,
                                             thread=where))
        logging.getLogger("asyncio").error(f"Task exception was never retrieved ({where})",
                                           exc_info=(OSError, error, error.__traceback__))
    assert seen == [("unraisable", __file__), ("thread", __file__)]
    assert [r.getMessage() for r in caplog.records] == [f"Task exception was never retrieved ({__file__})"]


def test_one_train_per_workdir_and_ctrl_c_saves_like_sigterm(tmp_path):
    workdir = tmp_path / "run"
    first = subprocess.Popen(train_command(workdir, "--config.checkpoint.every_steps=1000"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    metrics = workdir / "metrics.jsonl"
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 3):
        assert first.poll() is None, first.communicate()[1]
        time.sleep(0.05)
    second = run(workdir)
    assert second.returncode == 1
    assert error_lines(second)[-1].startswith(f"train: error: train workdir {workdir}: in use by pid {first.pid}")
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate()
    assert first.returncode == 130, stderr
    saved = [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and f"train: interrupted: saved a checkpoint at step {saved[0]} and stopped" in stderr
    assert "Traceback" not in stderr
    again = run(workdir, "--config.checkpoint.every_steps=1000")
    assert again.returncode == 0 and f"resuming from step {saved[0]}" in again.stdout


def test_bad_workdirs_and_architectures_are_one_line(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    if os.geteuid() == 0:  # root writes through file modes; /sys is a folder it cannot create anything in
        unwritable = Path("/sys/entigraph-test")
    else:
        (tmp_path / "locked").mkdir(mode=0o555)
        unwritable = tmp_path / "locked" / "run"
    cases = [(tmp_path / "a_file", "is a file, not a folder"),
             (tmp_path / "a_file" / "run", f"{tmp_path / 'a_file'} is a file, not a folder"),
             (unwritable, "cannot write there")]
    for workdir, message in cases:
        done = run(workdir)
        lines = error_lines(done)
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith(f"train: error: train workdir {workdir}") and message in lines[0]
    heads = run(tmp_path / "heads", "--config.model.num_heads=3", "--config.model.num_kv_heads=2")
    assert heads.returncode == 1 and error_lines(heads) == [
        "train: error: config: model.num_heads=3 is not a multiple of model.num_kv_heads=2"]


def test_a_truncated_token_cache_is_rebuilt(short_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(short_run, workdir)
    cache = next((workdir / "cache").glob("tokens-*"))
    shard = next(cache.glob("*.array_record"))
    os.truncate(shard, shard.stat().st_size // 2)
    done = run(workdir, *SHORT)
    assert done.returncode == 0, done.stderr
    assert any(line.startswith(f"token cache {cache}: {shard.name} is ") and line.endswith("rebuilding it")
               for line in error_lines(done))
    assert check_cache(cache) == ""


def test_nan_before_any_checkpoint_says_so(tmp_path):
    config = quickstart(tmp_path, **{"optim.lr": "1e30", "optim.clip_norm": "1e30", "optim.warmup_fraction": "0.0",
                                     "checkpoint.every_steps": 1000})
    with pytest.raises(TrainingError, match=r"non-finite .* at step \d+; stopped without checkpointing it; "
                                            r"no checkpoint was written yet"):
        train_in(config, tmp_path / "run")


def test_exported_weights_are_readable_like_other_outputs(short_run):
    mask = os.umask(0)
    os.umask(mask)
    hf = short_run / "hf"
    assert hf.stat().st_mode & 0o777 == 0o777 & ~mask
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in hf.iterdir())


def test_inspect_into_head_ends_quietly(tmp_path):
    from entigraph_jax.data import RecordWriter

    with RecordWriter(tmp_path / "records") as writer:
        for i in range(2000):
            writer.write({"text": f"record {i} " * 20, "kind": "pair"})
    inspect = f"{sys.executable} -m entigraph_jax.data inspect {tmp_path / 'records'} --samples 2000"
    done = subprocess.run(f"{inspect} | head -1", shell=True, capture_output=True, text=True)
    assert done.stdout.strip() == str(tmp_path / "records") and "Traceback" not in done.stderr, done.stderr


def test_a_heldout_source_smaller_than_one_batch_is_scored_and_the_export_carries_the_tokenizer(short_run, tmp_path):
    from entigraph_jax.data import load_source

    heldout = tmp_path / "heldout.jsonl"  # one article: a few rows of 128 tokens, fewer than the batch of 8
    heldout.write_text(json.dumps({"text": load_source("sample")[0].text[:2000]}) + "\n")
    workdir = tmp_path / "run"
    done = run(workdir, "--config.max_steps=2", "--config.hooks.heldout_loss.every_steps=2",
               f"--config.hooks.heldout_loss.source=jsonl:{heldout}")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in rows if "eval_loss" in r]
    assert scored and all(np.isfinite(r["eval_loss"]) and r["eval_loss"] > 0 for r in scored)
    assert (short_run / "hf" / "tokenizer.model").is_file()  # the export loads alone
