"""`python -m entigraph_jax.sweep --config configs/scaling_quickstart.py [--config.key=value ...]`"""

import sys

from entigraph_jax.cli import Command, Flag, main

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

if __name__ == "__main__":
    sys.exit(main(COMMAND))
