"""`python -m entigraph_jax.evaluate --config configs/eval_quality.py [--config.key=value ...]` and
`python -m entigraph_jax.evaluate report --config configs/report_own_corpus.py` and
`python -m entigraph_jax.evaluate grid --config configs/eval_quality_rag_grid.py`."""

import sys

from entigraph_jax.cli import Command, Flag, main

from .grid import GridSettings, run_grid
from .grid import show as show_grid
from .report import ReportSettings, build_report, markdown
from .run import evaluate, headline
from .settings import EvaluateSettings
from .task import tasks

COMMAND = Command(
    name="evaluate",
    purpose="""Scores a checkpoint with one task (`task`, its settings `tasks.<name>.*`) on the configured
source; prints the headline figures and writes the result, with every prompt, sample and answer behind
it, to a JSON file next to the checkpoint. The tasks:
""" + "\n".join(f"  {name}: {t.purpose}" for name, t in tasks().items()),
    settings=EvaluateSettings,
    run=lambda config, invocation: headline(config, evaluate(config)),
)

REPORT = Command(
    name="evaluate report",
    purpose="""The before/after report: the base model and trained checkpoints scored with the same tasks
(`tasks`): those reading questions on your own questions (closed-book, open-book, log-likelihood; the
questions the generator could guess apart), those reading text on the corpus and on held-out text
(perplexity), the others on their own inputs (lm-evaluation-harness tasks); a table (CSV, JSON,
markdown) and a plot. A rerun scores only what has no result yet.""",
    settings=ReportSettings,
    run=lambda config, invocation: build_report(config),
    show=lambda table: markdown(table) + f"\n(table.csv, table.json, table.md and report.png in {table.output_dir})",
)

GRID = Command(
    name="evaluate grid",
    purpose="""One evaluation at every combination of the settings in `grid`, the best picked on `pick_split`
and reported on `report_split` (the paper's App. F.3: RAG tuned on the tune split, reported on test); every
point's result kept in workdir, grid.json the table; a rerun scores only what has no result yet.""",
    settings=GridSettings,
    run=lambda config, invocation: run_grid(config),
    show=show_grid,
    flags=(Flag("workdir", "every point's result and grid.json", key="workdir", metavar="DIR"),),
)

COMMANDS = {"evaluate": COMMAND, "report": REPORT, "grid": GRID}
DEFAULT = "evaluate"  # the command without a subcommand name

if __name__ == "__main__":
    sys.exit(main(COMMANDS, default=DEFAULT))
