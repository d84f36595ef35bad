"""The training loop: resume or initialize, step, log, run hooks, checkpoint, export.

Running the same command again resumes from the latest checkpoint, if the config still agrees with
the one stored there (keys safe to change on resume aside). SIGTERM (a TPU preemption) and Ctrl-C
save a checkpoint and exit with 143 and 130 (with several processes, all of them at the same step,
whichever host got the signal first); a non-finite loss stops the run before it can be
checkpointed, so the last checkpoint on disk is always a good one. One run holds a workdir at a
time (process 0 takes its lock).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from tqdm import tqdm

from entigraph_jax.errors import Stopped, UserError
from entigraph_jax.models import ShardingRules, load, save_pretrained_hf
from entigraph_jax.outputs import hold, prepare
from entigraph_jax.publish import push
from entigraph_jax.runs import TrainRun

from . import setup
from .card import write_card
from .checkpoints import RunCheckpoints
from .hooks import RunContext, active_hooks
from .metrics import MetricWriter, peak_flops_per_device, raised_cpu_peak
from .settings import TrainSettings
from .step import Trainer
from .storage import Mirror, scratch_path, workdir_path


class TrainingError(UserError):
    """The run cannot go on (a non-finite loss)."""


class Preempted(Stopped):
    """SIGTERM or Ctrl-C: a checkpoint was saved; exit with 128 + the signal's number."""

    def __init__(self, step: int, signum: int):
        name = "SIGTERM" if signum == signal.SIGTERM else "interrupted"
        super().__init__(f"{name}: saved a checkpoint at step {step} and stopped; rerun to resume", 128 + signum)
        self.step = step


def initial_state(config: TrainSettings, trainer: Trainer, mesh, rules) -> dict:
    model = config.model
    if not model.path:
        return trainer.init_state(config.seed)
    loaded = load(model.path, model.param_dtype, mesh=mesh, rules=rules)
    return trainer.state_from_params(nnx.to_pure_dict(nnx.state(loaded, nnx.Param)))


@contextlib.contextmanager
def stop_signals():
    """SIGTERM and SIGINT recorded (not acted on) while the loop runs: it saves, then stops."""
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: received.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def agreed_stop(received: list[int]) -> int:
    """The signal the run stops on at this step (0: none), the same on every process: each host gets
    its SIGTERM at its own moment, and the checkpoint they save together must be of one step."""
    mine = received[0] if received else 0
    if jax.process_count() == 1:
        return mine
    return int(np.max(multihost_utils.process_allgather(np.int32(mine))))


def train(config: TrainSettings) -> TrainRun:
    """Train as `config` says in `config.workdir` (resuming from its checkpoints); returns the run folder."""
    workdir = workdir_path(config.workdir)
    scratch = scratch_path(workdir, config.log.local_dir)
    setup.initialize_distributed(config.distributed)
    if jax.process_index() == 0:
        with hold(scratch, "train workdir"):
            _train(config, TrainRun(workdir), TrainRun(scratch))
    else:
        _train(config, TrainRun(workdir), TrainRun(prepare(scratch, "train workdir")))
    return TrainRun(workdir)


def _train(config: TrainSettings, run: TrainRun, local: TrainRun) -> None:
    """`run` is the workdir (checkpoints go there); `local` holds the files written as training goes
    (the same folder unless the workdir is remote or log.local_dir is set)."""
    mesh, rules = setup.validate(config), ShardingRules()
    checkpoints = RunCheckpoints(run.checkpoints, config.checkpoint.keep, config.checkpoint.async_save)
    stored = checkpoints.stored_config()
    setup.check_resume(config, stored, run.root)
    phases = setup.mixture_phases(config, stored, checkpoints.latest_step(), run.root)
    config_json = {**config.to_dict(), setup.MIXTURE: phases}
    is_main = jax.process_index() == 0
    mirror = Mirror(run, local)
    if is_main:
        mirror.pull()
    data = setup.build_data(config, local, phases)
    model_config = setup.model_config(config, data.tokenizer)
    num_steps = min(config.max_steps or data.train.num_steps, data.train.num_steps)
    if config.max_steps > num_steps and jax.process_index() == 0:
        print(f"train: max_steps={config.max_steps} is more than data.epochs={config.data.epochs} give ({num_steps} "
              f"steps): the data ends first, so {num_steps} steps; raise data.epochs to train longer", file=sys.stderr)
    trainer = Trainer(model_config, config.optim, num_steps, mesh, rules)
    hooks = active_hooks(config, RunContext(
        config, data.tokenizer, trainer.model, lambda params, batch: trainer.eval_loss(params, trainer.place(batch)),
        lambda docs, seed: setup.scoring_pipeline(config, local, data.tokenizer, docs, seed)))
    iterator = data.train.iterator()
    restored = checkpoints.restore(trainer.abstract_state, iterator)
    start, state = restored if restored else (0, initial_state(config, trainer, mesh, rules))
    writer = MetricWriter(local, config.log.tensorboard, config.log.wandb_project, config_json)
    writer.truncate_after(start)
    # target tokens trained so far, counted from the loss masks of the rows trained (padding and masked prompts
    # excluded); a resumed run goes on from the count logged at its checkpoint (None: logged by no earlier run)
    trained = local.tokens_trained if start else 0
    counted = []  # this stretch's per-step counts, still on the device until the next logged step

    peak, peak_source = peak_flops_per_device()
    flops_per_step = model_config.train_flops_per_token(config.data.seq_len) * (
        config.data.global_batch * config.data.seq_len)
    if is_main:
        print(f"{model_config.num_params() / 1e6:.1f}M parameters on {mesh.devices.size} devices "
              f"{dict(mesh.shape)}; {num_steps} steps ({data.train.steps_per_epoch:.3g}/epoch), "
              f"{data.num_tokens} training tokens; peak {peak / 1e12:.3g} TFLOP/s/device ({peak_source})"
              + (f"; resuming from step {start}" if start else "")
              + (f"; {mirror.describe()}" if mirror.active else ""))
    last_good, loss = (start if restored else None), float("nan")
    progress = tqdm(total=num_steps, initial=start, disable=not is_main, unit="step", dynamic_ncols=True)
    try:
        with stop_signals() as stop:
            tick = time.perf_counter()
            for step in range(start + 1, num_steps + 1):
                state, metrics = trainer.step(state, trainer.place(next(iterator)))
                counted.append(metrics["tokens"])
                checkpoints.check()  # a save that failed in the background stops the run here
                final, stopping = step == num_steps, agreed_stop(stop)
                saving = final or stopping or step % config.checkpoint.every_steps == 0
                due = [hook for hook in hooks if hook.due(step, final)]
                if saving or due or step % config.log.every_steps == 0:
                    scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
                    if trained is not None:
                        trained += sum(round(float(n)) for n in jax.device_get(counted))
                        scalars[TrainRun.TOKENS_TRAINED] = trained
                    counted.clear()
                    loss = scalars["loss"]
                    bad = [k for k in ("loss", "param_norm") if not np.isfinite(scalars[k])]
                    if bad:
                        kept = f"the last good checkpoint is step {last_good}" if last_good is not None else \
                            "no checkpoint was written yet"
                        raise TrainingError(f"non-finite {' and '.join(bad)} at step {step}; stopped without "
                                            f"checkpointing it; {kept}")
                    elapsed = (time.perf_counter() - tick) / (step - progress.n)
                    tick = time.perf_counter()
                    achieved = flops_per_step / elapsed / mesh.devices.size  # FLOP/s per device
                    if achieved > peak and mesh.devices.flat[0].platform == "cpu":
                        peak = raised_cpu_peak(achieved)
                    scalars.update(step_time=elapsed, tokens_per_s=scalars.pop("tokens") / elapsed,
                                   mfu=achieved / peak)
                    for hook in due:
                        scalars.update(hook.run(step, state["params"]))
                    if due:
                        tick = time.perf_counter()
                    writer.write(step, scalars)
                    progress.set_postfix(loss=f"{loss:.4f}", mfu=f"{scalars['mfu']:.1%}")
                    progress.update(step - progress.n)
                if saving:
                    checkpoints.save(step, state, iterator, config_json)
                    last_good = step
                    if is_main:
                        mirror.push(TrainRun.RESUMED)
                    if stopping and not final:
                        checkpoints.wait()
                        raise Preempted(step, stopping)
            checkpoints.wait()
    finally:
        progress.close()
        checkpoints.close()
        writer.close()

    writer.plot_loss()
    if config.export.hf and not local.export.exists():
        save_pretrained_hf(trainer.model(state["params"]), local.export, dtype=config.export.dtype or None,
                           tokenizer=data.tokenizer.path)
    if config.export.hf and is_main:
        write_card(config, local, local.export, data.num_tokens, local.steps)
    if is_main:
        mirror.push()
    if config.export.hub_repo and is_main:
        url = push(local.export, config.export.hub_repo, repo_type="model", private=config.export.hub_private,
                   message=f"entigraph-jax: {local.steps} steps of {run.root}")
        print(f"train: uploaded {local.export} to {url}")
