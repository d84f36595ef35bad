"""`python -m entigraph_jax.train --config configs/X.py [--config.key=value ...] [--workdir DIR]`
and `python -m entigraph_jax.train plan --config configs/X.py [--hardware=v5p-8] [--model=llama3-8b] [--search]`."""

import sys

from entigraph_jax.cli import Command, Flag, main, result_text

from .plan import HARDWARE, plan, report
from .run import train
from .search import SearchResult
from .search import report as search_report
from .search import search as search_configs
from .settings import TrainSettings


def run_plan(config, hardware, model, no_compile, search):
    if search:
        return search_configs(config, hardware, model)
    return plan(config, hardware, model, not no_compile)


DEFAULT = "train"  # the command without a subcommand name
COMMANDS = {
    "train": Command(
        name="train",
        purpose="""Continued pretraining of a new or pretrained model on a corpus. A (data, fsdp, tensor) mesh, Orbax
checkpoints of state, data position and config (rerunning the same command resumes exactly;
SIGTERM saves and exits 143), metrics to JSONL, TensorBoard and W&B, hooks for periodic
evaluation, and a Hugging Face export at the end.""",
        settings=TrainSettings,
        run=lambda config, invocation: train(config),
        show=lambda run: result_text(run.summary()),
        flags=(Flag("workdir", "the run's folder", key="workdir", metavar="DIR"),),
        interrupted="the last checkpoint is kept; rerun to resume from it",
    ),
    "plan": Command(
        name="train plan",
        purpose="""The memory planner: whether a training config fits a machine, before renting it. Per-device
parameters, optimizer state, gradients and activations on the config's mesh, checked by compiling
the train step on abstract inputs, against the named hardware's memory.""",
        settings=TrainSettings,
        run=lambda config, invocation: run_plan(config, **invocation.options),
        show=lambda result: (search_report if isinstance(result, SearchResult) else report)(result),
        flags=(Flag("hardware", f"plan for this machine ({', '.join(HARDWARE)})", metavar="NAME"),
               Flag("model", "a preset architecture instead of model.path (llama3-8b, llama3.2-1b, ...)",
                    metavar="PRESET"),
               Flag("no_compile", "print the estimate only; do not compile the step", switch=True),
               Flag("search", "find the fastest-looking remat, microbatches and fsdp x tensor split that fits "
                    "--hardware, each candidate compiled for it", switch=True)),
    ),
}

if __name__ == "__main__":
    sys.exit(main(COMMANDS, default=DEFAULT))
