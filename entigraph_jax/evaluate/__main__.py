"""`python -m entigraph_jax.evaluate --config configs/eval_quality.py [--config.key=value ...]` and
`python -m entigraph_jax.evaluate report --config configs/report_own_corpus.py`."""

import sys

from entigraph_jax.cli import Command, main

from .defaults import EvaluateSettings
from .report import ReportSettings, build_report, markdown
from .run import evaluate, headline

COMMAND = Command(
    name="evaluate",
    purpose="""Loads a checkpoint and a tokenizer and runs QuALITY closed-book as the paper did (or open-book
RAG, or log-likelihood) on the configured source; prints the accuracies and writes every prompt,
sample and parsed answer to a JSON file next to the checkpoint. mode=perplexity scores any source;
mode=summary writes closed-book summaries and has a judge LLM check them claim by claim;
mode=harness runs lm-evaluation-harness tasks; mode=contamination counts questions found in training text.""",
    settings=EvaluateSettings,
    run=lambda config, invocation: headline(config, evaluate(config)),
)

REPORT = Command(
    name="evaluate report",
    purpose="""The before/after report: the base model and trained checkpoints scored on your own questions
(closed-book, guessable questions apart; open-book; log-likelihood), lm-evaluation-harness tasks and
perplexity on the corpus and held-out text; a table (CSV, JSON, markdown) and a plot. A rerun
scores only what has no report yet.""",
    settings=ReportSettings,
    run=lambda config, invocation: build_report(config),
    show=lambda table: markdown(table) + f"\n(table.csv, table.json, table.md and report.png in {table.output_dir})",
)

COMMANDS = {"evaluate": COMMAND, "report": REPORT}
DEFAULT = "evaluate"  # the command without a subcommand name

if __name__ == "__main__":
    sys.exit(main(COMMANDS, default=DEFAULT))
