"""`python -m entigraph_jax.generate --config configs/X.py [--config.key=value ...] [--dry_run] [--merge]`"""

import sys

from entigraph_jax.cli import Command, Flag, main

from .defaults import GenerateSettings
from .estimate import estimate
from .run import generate, merge


def run(config: GenerateSettings, invocation):
    if invocation.options["merge"]:
        return merge(config)
    return estimate(config) if invocation.options["dry_run"] else generate(config)


COMMAND = Command(
    name="generate",
    purpose="""Synthetic corpus generation (EntiGraph or Rephrase) with any LLM backend. Rerunning the same
command after a crash or Ctrl-C sends only what is missing. --dry_run prints the plan's requests,
tokens and cost and sends nothing; --merge joins the records of num_shards shard runs (dropping
duplicates with dedup=exact or near).""",
    settings=GenerateSettings,
    run=run,
    flags=(Flag("dry_run", "print what the plan would send and cost; send nothing", switch=True),
           Flag("merge", "join the records of the num_shards shard runs in output_dir", switch=True)),
    interrupted="finished requests are journaled and exported; rerun to resume",
)

if __name__ == "__main__":
    sys.exit(main(COMMAND))
