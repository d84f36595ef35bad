"""`python -m entigraph_jax.sweep --config configs/scaling_quickstart.py [--config.key=value ...]` and
`python -m entigraph_jax.sweep compare --config configs/compare_own_corpus.py`."""

import sys

from entigraph_jax.cli import Command, Flag, main

from .compare import CompareSettings, compare
from .run import sweep
from .settings import SweepSettings

COMMAND = Command(
    name="sweep",
    purpose="""The scaling study: continued pretraining at each synthetic-token budget (nested subsets of the
corpus), each run evaluated after training and skipped on rerun once it has a result; writes
results.csv / results.json, the mixture-of-exponential fit (fit.json) and scaling.png.
launch=print prints one command per missing run instead, for a cluster.""",
    settings=SweepSettings,
    run=lambda config, invocation: sweep(config, invocation.config_path, invocation.overrides),
    flags=(Flag("workdir", "the study's folder", key="workdir", metavar="DIR"),),
    interrupted="finished runs are kept; rerun to continue",
)

COMPARE = Command(
    name="sweep compare",
    purpose="""Which synthetic-data method to pay for, on your corpus: each method's corpus generated up to the
same training tokens, the same base continued on each for those tokens, one before/after report with every
method as a column (intervals, paired verdicts against the base), and per method its corpus, its cost, its
cost at a named model's price and its faithfulness; compare.md and compare.json in workdir. A rerun does
only what has no result yet.""",
    settings=CompareSettings,
    run=lambda config, invocation: compare(config),
    flags=(Flag("workdir", "the comparison's folder", key="workdir", metavar="DIR"),),
    interrupted="finished steps are kept; rerun to continue",
)

COMMANDS = {"sweep": COMMAND, "compare": COMPARE}
DEFAULT = "sweep"  # the command without a subcommand name

if __name__ == "__main__":
    sys.exit(main(COMMANDS, default=DEFAULT))
