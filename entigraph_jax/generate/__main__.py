"""`python -m entigraph_jax.generate --config configs/X.py [--config.key=value ...] [--dry_run] [--merge]
[--cancel] [--push_to_hub ORG/NAME [--public]]`"""

import sys

from entigraph_jax.cli import Command, Flag, main

from .estimate import estimate
from .publish import push_corpus
from .run import cancel, generate, merge
from .settings import GenerateSettings


def run(config: GenerateSettings, invocation):
    if invocation.options["push_to_hub"]:
        return push_corpus(config, invocation.options["push_to_hub"], private=not invocation.options["public"])
    if invocation.options["merge"]:
        return merge(config)
    if invocation.options["cancel"]:
        return cancel(config)
    return estimate(config) if invocation.options["dry_run"] else generate(config)


COMMAND = Command(
    name="generate",
    purpose="""Synthetic corpus generation (EntiGraph or Rephrase) with any LLM backend. Rerunning the same
command after a crash or Ctrl-C sends only what is missing. --dry_run prints the run's requests,
tokens and cost and sends nothing; --merge joins the records of num_shards shard runs (dropping
duplicates with dedup=exact or near); --cancel stops the provider batches a batch-mode run left
open (keeping what they answered); --push_to_hub publishes the corpus as a Hugging Face dataset
(parquet and a dataset card; a new repository is private unless --public).""",
    settings=GenerateSettings,
    run=run,
    flags=(Flag("dry_run", "print what the run would send and cost; send nothing", switch=True),
           Flag("merge", "join the records of the num_shards shard runs in output_dir", switch=True),
           Flag("cancel", "cancel the provider batches output_dir's journal holds open; keep their answers",
                switch=True),
           Flag("push_to_hub", "upload output_dir's corpus to this Hub dataset repository", metavar="ORG/NAME"),
           Flag("public", "with --push_to_hub: create the repository public", switch=True)),
    interrupted="finished requests are journaled and exported; rerun to resume",
)

if __name__ == "__main__":
    sys.exit(main(COMMAND))
