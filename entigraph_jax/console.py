"""`entigraph-jax STAGE [COMMAND] ...`: the console script, every stage's commands as subcommands beside
`python -m entigraph_jax.STAGE` (the same commands, flags and exit codes). A stage is imported only when
named, so `entigraph-jax --help` starts at once."""

from __future__ import annotations

import importlib
import sys

from entigraph_jax import cli
from entigraph_jax.errors import UsageError

STAGES = {
    "data": "inspect a record set or corpus",
    "models": "convert checkpoints, chat with one",
    "generate": "synthetic corpora: EntiGraph, Rephrase, knowledge, Active Reading, questions from your documents",
    "train": "continued pretraining (and `train plan`, the memory planner)",
    "evaluate": "QuALITY closed/open book, log-likelihood, perplexity, summaries, harness, contamination, "
                "faithfulness, report",
    "sweep": "scaling sweeps and their fit (and `sweep compare`: methods side by side on your corpus)",
    "sbp": "Synthetic Bootstrapped Pretraining, step by step or whole (and `sbp plan`)",
    "testing": "a fake LLM server for offline tries",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        shown = cli.say("usage: entigraph-jax STAGE [COMMAND] [--config FILE] [--config.KEY=VALUE ...] [--help]\n\n"
                        + "\n".join(f"  {name:<10}{purpose}" for name, purpose in STAGES.items()))
        return shown if argv else UsageError.exit_code
    if argv[0] not in STAGES:
        print(f"entigraph-jax: error: the first argument must be one of {', '.join(STAGES)} (see --help)",
              file=sys.stderr)
        return UsageError.exit_code
    stage = importlib.import_module(f"entigraph_jax.{argv[0]}.__main__")
    return cli.main(getattr(stage, "COMMANDS", None) or stage.COMMAND, argv[1:], default=getattr(stage, "DEFAULT", ""))
