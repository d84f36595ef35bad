"""`python -m entigraph_jax.train --config configs/X.py [--config.key=value ...] [--workdir DIR]`
and `python -m entigraph_jax.train plan --config configs/X.py [--hardware=v5p-8] [--model=llama3-8b]`."""

import sys

from entigraph_jax.cli import Command, Flag, main
from entigraph_jax.config import key_comments

from . import hooks
from .defaults import base_config
from .plan import HARDWARE, plan, report
from .run import train


def meanings() -> dict[str, str]:
    return key_comments(base_config) | hooks.meanings()


COMMANDS = {
    "train": Command(
        name="train",
        purpose="""Continued pretraining of a new or pretrained model on a corpus. A (data, fsdp, tensor) mesh, Orbax
checkpoints of state, data position and config (rerunning the same command resumes exactly;
SIGTERM saves and exits 143), metrics to JSONL, TensorBoard and W&B, hooks for periodic
evaluation, and a Hugging Face export at the end.""",
        schema=base_config,
        meanings=meanings,
        run=lambda config, invocation: train(config),
        flags=(Flag("workdir", "the run's folder", key="workdir", metavar="DIR"),),
        interrupted="the last checkpoint is kept; rerun to resume from it",
    ),
    "plan": Command(
        name="train plan",
        purpose="""The memory planner: whether a training config fits a machine, before renting it. Per-device
parameters, optimizer state, gradients and activations on the config's mesh, checked by compiling
the train step on abstract inputs, against the named hardware's memory.""",
        schema=base_config,
        meanings=meanings,
        run=lambda config, invocation: plan(config, invocation.options["hardware"], invocation.options["model"],
                                            not invocation.options["no_compile"]),
        show=report,
        flags=(Flag("hardware", f"plan for this machine ({', '.join(HARDWARE)})", metavar="NAME"),
               Flag("model", "a preset architecture instead of model.path (llama3-8b, llama3.2-1b, ...)",
                    metavar="PRESET"),
               Flag("no_compile", "print the estimate only; do not compile the step", switch=True)),
    ),
}

if __name__ == "__main__":
    sys.exit(main(COMMANDS, default="train"))
