"""`python -m entigraph_jax.evaluate --config configs/eval_quality.py [--config.key=value ...]`"""

import sys

from entigraph_jax.cli import Command, main

from .defaults import EvaluateSettings
from .run import evaluate, headline

COMMAND = Command(
    name="evaluate",
    purpose="""Loads a checkpoint and a tokenizer and runs QuALITY closed-book as the paper did (or open-book
RAG, or log-likelihood) on the configured source; prints the accuracies and writes every prompt,
sample and parsed answer to a JSON file next to the checkpoint. mode=perplexity scores any source;
mode=summary writes closed-book summaries and has a judge LLM check them claim by claim.""",
    settings=EvaluateSettings,
    run=lambda config, invocation: headline(config, evaluate(config)),
)

if __name__ == "__main__":
    sys.exit(main(COMMAND))
