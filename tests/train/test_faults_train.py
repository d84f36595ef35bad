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
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorstore

from entigraph_jax.data.cache import check_cache
from entigraph_jax.runs import TrainRun
from entigraph_jax.train import TrainingError
from entigraph_jax.train import __main__ as train_main
from tests.helpers.runs import QUICKSTART, losses, quickstart, train_in
from tests.helpers.waiting import wait_until


def train_command(workdir, *overrides):
    return [sys.executable, "-m", "entigraph_jax.train", "--config", str(QUICKSTART), "--workdir", str(workdir),
            "--config.log.every_steps=1", "--config.log.tensorboard=false", *overrides]


SHORT = ("--config.data.epochs=4", "--config.checkpoint.every_steps=5", "--config.checkpoint.keep=3")


def run(workdir, *overrides, **kwargs):
    """The command in a process of its own (where signals, locks or limits are the point)."""
    return subprocess.run(train_command(workdir, *overrides), capture_output=True, text=True, **kwargs)


@pytest.fixture
def run_here(run_command):
    """The command as `run` gives it, in this process: (exit code, stdout, stderr)."""
    return lambda workdir, *overrides: run_command(train_main.COMMANDS, train_command(workdir, *overrides)[3:],
                                                   default="train")


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
    assert sorted(int(p.name) for p in TrainRun(workdir).checkpoints.iterdir()) == [5, 10, 15]
    return TrainRun(workdir)


@pytest.mark.parametrize("damage", ["truncated tensor file", "missing _METADATA"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(short_run, tmp_path,
                                                                                          damage, run_here):
    workdir = tmp_path / "run"
    shutil.copytree(short_run.root, workdir)
    checkpoints = Path(TrainRun(workdir).checkpoints)
    state = checkpoints / "15" / "state"
    if damage == "missing _METADATA":
        (state / "_METADATA").unlink()
    else:
        largest = max((p for p in state.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        os.truncate(largest, largest.stat().st_size // 3)
    done = run_here(workdir, *SHORT, "--config.export.hf=true")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in error_lines(done) if line.startswith("train: checkpoint step 15")]
    assert len(warnings) == 1 and warnings[0].endswith(f"set aside as {checkpoints / '15.damaged'}")
    assert "resuming from step 10" in done.stdout
    assert (checkpoints / "15.damaged").is_dir()  # never deleted
    assert losses(workdir) == losses(short_run.root)  # steps 11-15 again, exactly as the first time


def test_resuming_with_another_config_names_the_keys(short_run, tmp_path, run_here):
    workdir = tmp_path / "run"
    shutil.copytree(short_run.root, workdir)
    done = run_here(workdir, *SHORT, "--config.data.epochs=10", "--config.model.num_layers=2")  # the README's example
    assert done.returncode == 1
    lines = error_lines(done)
    assert len(lines) == 1 and lines[0].startswith(f"train: error: {workdir}: its checkpoints were written with "
                                                   "another config: data.epochs (4 -> 10), model.num_layers (4 -> 2)")
    assert "--workdir" in lines[0]
    safe = run_here(workdir, *SHORT, "--config.max_steps=12", "--config.log.every_steps=3",
                    "--config.hooks.perplexity.max_batches=2")
    assert safe.returncode == 0, safe.stderr  # keys safe on resume


def stored_config(workdir) -> dict:
    """The settings the newest checkpoint was written with, as stored (JSON)."""
    path = max(TrainRun(workdir).checkpoints.glob("*/config/metadata"), key=lambda p: int(p.parent.parent.name))
    return json.loads(path.read_text())


def test_a_run_written_before_a_setting_existed_resumes_with_its_default(short_run, tmp_path, run_here):
    """An upgrade adds a setting: checkpoints written by the version before lack it. At its default the
    run resumes (said once); set to something else it is a changed config, refused by name."""
    workdir = tmp_path / "run"
    shutil.copytree(short_run.root, workdir)
    shutil.rmtree(Path(TrainRun(workdir).checkpoints) / "15")  # stopped after step 10: steps 11-15 are left
    for path in TrainRun(workdir).checkpoints.glob("*/config/metadata"):  # as the previous version wrote them
        stored = json.loads(path.read_text())
        del stored["tokenizer"]["add_bos"]
        stored["data"]["retired_setting"] = 1
        path.write_text(json.dumps(stored))
    changed = run_here(workdir, *SHORT, "--config.tokenizer.add_bos=never")
    assert changed.returncode == 1 and error_lines(changed) == [
        f"train: error: {workdir}: its checkpoints were written with another config: tokenizer.add_bos (None -> "
        "'never'); train in a new --workdir, or change only keys safe on resume (max_steps, log.*, hooks.*, "
        "checkpoint.*, export.*)"]
    done = run_here(workdir, *SHORT, "--config.data.epochs=5")
    assert done.returncode == 1 and "data.epochs (4 -> 5)" in done.stderr  # other changes are still refused
    done = run_here(workdir, *SHORT)
    assert done.returncode == 0, done.stderr
    notes = [line for line in error_lines(done) if line.startswith("train: ") and "error" not in line]
    assert notes == ["train: resuming checkpoints written before these settings existed; taking their defaults: "
                     "tokenizer.add_bos='auto'",
                     "train: the stored settings have keys this version no longer uses, ignored: data.retired_setting"]
    assert "resuming from step 10" in done.stdout and TrainRun(workdir).steps == 15
    assert losses(workdir) == losses(short_run.root)  # the settings it resumed with are the ones it ran with
    assert "add_bos" in stored_config(workdir)["tokenizer"]  # written again with every current setting


def test_a_failed_save_stops_the_run_with_one_line(tmp_path):
    def small_files():  # writes past 2 MiB fail, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

    workdir = tmp_path / "run"
    done = run(workdir, *SHORT, preexec_fn=small_files)
    assert done.returncode == 1
    lines = error_lines(done)
    assert len(lines) == 1, "\n".join(lines)  # in full: a repr of the list would cut the middle
    assert lines[0].startswith(f"train: error: {workdir / 'checkpoints'}: saving the checkpoint of step 5 failed (")
    assert lines[0].endswith("no checkpoint was written yet") and "File too large" in lines[0]
    assert not list(TrainRun(workdir).checkpoints.glob("*tmp*"))  # no half-written folder left


def test_only_errors_raised_in_orbax_are_dropped(monkeypatch, caplog):
    """Orbax echoes a failed save from its threads, finalizers, abandoned tasks, logs and the late
    callbacks of its tensorstore writes; errors from other code still reach each of those channels."""
    import orbax.checkpoint._src.serialization.serialization as orbax_module

    from entigraph_jax.train.checkpoints import silence_orbax

    def raised_in(filename: str) -> BaseException:
        try:
            exec(compile("raise OSError('File too large')", filename, "exec"))
        except OSError as e:
            return e

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(("unraisable", unraisable.err_msg)))
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(("thread", args.thread)))
    for name in ("asyncio", "absl", "orbax"):
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    silence_orbax.__wrapped__()
    for where in (orbax_module.__file__, __file__):
        error = raised_in(where)
        sys.unraisablehook(SimpleNamespace(exc_type=OSError, exc_value=error, exc_traceback=error.__traceback__,
                                           err_msg=where, object=None))
        threading.excepthook(SimpleNamespace(exc_type=OSError, exc_value=error, exc_traceback=error.__traceback__,
                                             thread=where))
        logging.getLogger("asyncio").error(f"Task exception was never retrieved ({where})",
                                           exc_info=(OSError, error, error.__traceback__))
    for value in (tensorstore.Promise.new()[1], "a callback of anyone else's"):  # tensorstore finishing late
        try:
            call_soon_threadsafe(None, print, value)
        except RuntimeError as error:
            sys.unraisablehook(SimpleNamespace(exc_type=RuntimeError, exc_value=error, object=None,
                                               exc_traceback=error.__traceback__, err_msg=type(value).__name__))
    for text in ("Failed to write 4075520 bytes to file 6: File too large [os_error_code='27']",  # tensorstore's
                 "a future of anyone else's failed"):  # set on a future from a thread: no traceback
        error = ValueError(text)
        logging.getLogger("asyncio").error(f"Future exception was never retrieved ({text[:9]})",
                                           exc_info=(ValueError, error, None))
    logging.getLogger("orbax.checkpoint").error("a line of Orbax's own logger")
    logging.getLogger("absl").warning("a line of anyone else's")
    assert seen == [("unraisable", __file__), ("thread", __file__), ("unraisable", "str")]
    assert [r.getMessage() for r in caplog.records] == [f"Task exception was never retrieved ({__file__})",
                                                        "Future exception was never retrieved (a future )",
                                                        "a line of anyone else's"]


def call_soon_threadsafe(loop, callback, *args):
    """As asyncio's event loop answers a callback from another thread once it is closed."""
    raise RuntimeError("Event loop is closed")


THREAD_DURING_TRAINING = """
import sys, threading
from entigraph_jax.config import load_config_file
from entigraph_jax.train import TrainSettings, run, train

write = run.MetricWriter.write
def write_and_fail_elsewhere(self, step, scalars):
    write(self, step, scalars)
    if step == 2:  # training is under way (checkpoints opened): another thread of the program fails
        worker = threading.Thread(target=lambda: 1 / 0, name="user-worker")
        worker.start()
        worker.join()
run.MetricWriter.write = write_and_fail_elsewhere
config = TrainSettings.from_config(load_config_file(sys.argv[1]))
train(config.override({"workdir": sys.argv[2], "max_steps": 3, "log.every_steps": 1, "log.tensorboard": False,
                       "export.hf": False}))
"""


def test_a_background_threads_error_during_training_is_reported(tmp_path):
    done = subprocess.run([sys.executable, "-c", THREAD_DURING_TRAINING, str(QUICKSTART), str(tmp_path / "run")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'Exception in thread user-worker' in done.stderr and "ZeroDivisionError" in done.stderr, done.stderr


@pytest.mark.slow
def test_one_train_per_workdir_and_ctrl_c_saves_like_sigterm(tmp_path, run_here):
    workdir = tmp_path / "run"
    first = subprocess.Popen(train_command(workdir, "--config.checkpoint.every_steps=1000"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(TrainRun(workdir).rows()) >= 3, first, what="three logged steps")
    second = run_here(workdir)
    assert second.returncode == 1
    assert error_lines(second)[-1].startswith(f"train: error: train workdir {workdir}: in use by pid {first.pid}")
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate()
    assert first.returncode == 130, stderr
    saved = [int(p.name) for p in TrainRun(workdir).checkpoints.iterdir() if p.name.isdigit()]
    assert len(saved) == 1 and f"train: interrupted: saved a checkpoint at step {saved[0]} and stopped" in stderr
    assert "Traceback" not in stderr
    again = run_here(workdir, "--config.checkpoint.every_steps=1000")
    assert again.returncode == 0 and f"resuming from step {saved[0]}" in again.stdout


def test_bad_workdirs_and_architectures_are_one_line(tmp_path, run_here):
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
        done = run_here(workdir)
        lines = error_lines(done)
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith(f"train: error: train workdir {workdir}") and message in lines[0]
    heads = run_here(tmp_path / "heads", "--config.model.num_heads=3", "--config.model.num_kv_heads=2")
    assert heads.returncode == 1 and error_lines(heads) == [
        "train: error: config: model.num_heads=3 is not a multiple of model.num_kv_heads=2"]


def test_a_truncated_token_cache_is_rebuilt(short_run, tmp_path, run_here):
    workdir = tmp_path / "run"
    shutil.copytree(short_run.root, workdir)
    cache = next(Path(TrainRun(workdir).cache).glob("tokens-*"))
    shard = next(cache.glob("*.array_record"))
    os.truncate(shard, shard.stat().st_size // 2)
    done = run_here(workdir, *SHORT)
    assert done.returncode == 0, done.stderr
    assert any(line.startswith(f"token cache {cache}: {shard.name} is ") and line.endswith("rebuilding it")
               for line in error_lines(done))
    assert check_cache(cache) == ""


def test_nan_before_any_checkpoint_says_so(tmp_path):
    config = quickstart(**{"optim.lr": 1e30, "optim.clip_norm": 1e30, "optim.warmup_fraction": 0.0,
                           "checkpoint.every_steps": 1000})
    with pytest.raises(TrainingError, match=r"non-finite .* at step \d+; stopped without checkpointing it; "
                                            r"no checkpoint was written yet"):
        train_in(config, tmp_path / "run")


def test_exported_weights_are_readable_like_other_outputs(short_run):
    mask = os.umask(0)
    os.umask(mask)
    hf = short_run.export
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


def test_a_heldout_source_smaller_than_one_batch_is_scored_and_the_export_carries_the_tokenizer(short_run, tmp_path,
                                                                                               run_here):
    from entigraph_jax.data import load_source
    from entigraph_jax.evaluate.task import metric

    heldout = tmp_path / "heldout.jsonl"  # one article: a few rows of 128 tokens, fewer than the batch of 8
    heldout.write_text(json.dumps({"text": load_source("sample")[0].text[:2000]}) + "\n")
    workdir = tmp_path / "run"
    done = run_here(workdir, "--config.max_steps=2", "--config.hooks.perplexity.every_steps=2",
                    f"--config.hooks.perplexity.source=jsonl:{heldout}")
    assert done.returncode == 0, done.stderr
    loss = metric("perplexity", "loss")
    scored = [r for r in TrainRun(workdir).rows() if loss in r]
    assert [r["step"] for r in scored] == [2] and np.isfinite(scored[0][loss]) and scored[0][loss] > 0
    assert (short_run.export / "tokenizer.model").is_file()  # the export loads alone
