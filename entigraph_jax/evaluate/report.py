"""One before/after report (`python -m entigraph_jax.evaluate report`): the base model and one or more
trained checkpoints, each scored on the user's own questions (closed-book, with the questions the
generator could answer without the document apart; open-book; log-likelihood), on lm-evaluation-harness
tasks (the forgetting check) and by perplexity on the corpus and on held-out text; a table (CSV, JSON,
markdown, each change against the first model) and a plot. Every score is an evaluate run whose report is
kept in `output_dir/<label>/<measure>.json`: a rerun (after a crash, or with another checkpoint added)
scores only what has no report yet.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.outputs import json_text
from entigraph_jax.runs import EvalReport
from entigraph_jax.settings import SettingError, Settings, section, setting

from .defaults import EvaluateSettings
from .run import evaluate

MEASURES = ("closed_book", "open_book", "loglik", "harness", "perplexity_corpus", "perplexity_heldout")


@dataclasses.dataclass(frozen=True)
class ReportSettings(Settings):
    models: tuple = setting((), "the checkpoints, the base model first (Hugging Face folders, train's exports)")
    labels: tuple = setting((), "a name per model for the table (default: each folder's name, or its parent's "
                            "for a training run's export)")
    questions: str = setting("", "the user's questions (QuALITY JSONL: generate's questions.jsonl)")
    corpus: str = setting("", "the training corpus, for perplexity on it (\"\": skipped)")
    heldout: str = setting("", "text the models never trained on, for perplexity (\"\": skipped)")
    measures: tuple = setting(MEASURES, "what to score: " + ", ".join(MEASURES) + " (a measure without its input "
                              "(questions, corpus, heldout, harness.tasks) is skipped)")
    output_dir: str = setting("", "per-model reports, table.csv / .json / .md and report.png go here")
    evaluate: EvaluateSettings = section(EvaluateSettings, "the settings of every evaluation (sampling, rag, "
                                         "harness, perplexity, ...); mode, source, model.path and output are set "
                                         "per measure")

    def validate(self):
        if self.labels and len(self.labels) != len(self.models):
            raise SettingError("labels", f"{len(self.labels)} labels for {len(self.models)} models")
        unknown = sorted(set(self.measures) - set(MEASURES))
        if unknown:
            raise SettingError("measures", f"unknown {unknown}; known: {', '.join(MEASURES)}")


def model_labels(settings: ReportSettings) -> list[str]:
    if settings.labels:
        return list(settings.labels)
    names = [Path(m).name if Path(m).name not in ("hf", "export") else Path(m).parent.name for m in settings.models]
    return [n if names.count(n) == 1 else f"{n}-{i}" for i, n in enumerate(names)]


def planned(settings: ReportSettings) -> list[tuple[str, dict]]:
    """(measure, the evaluate keys it sets) for each measure that has its input."""
    inputs = {"closed_book": settings.questions, "open_book": settings.questions, "loglik": settings.questions,
              "harness": settings.evaluate.harness.tasks, "perplexity_corpus": settings.corpus,
              "perplexity_heldout": settings.heldout}
    sources = {"perplexity_corpus": settings.corpus, "perplexity_heldout": settings.heldout}
    return [(m, {"mode": m.partition("_")[0] if m.startswith("perplexity") else m,
                 "source": sources.get(m, settings.questions)})
            for m in settings.measures if inputs[m]]


def score(settings: ReportSettings, model: str, folder: Path, measure: str, keys: dict) -> EvalReport:
    """The measure's report for one model: read if a run wrote it before, else evaluated now."""
    path = folder / f"{measure}.json"
    if path.is_file():
        return EvalReport.read(path)
    config = settings.evaluate.override({**keys, "model.path": model, "output": str(path)})
    return evaluate(config)


def figures(measure: str, report: EvalReport) -> dict[str, float | None]:
    """The rows a measure adds to the table."""
    if measure.startswith("perplexity"):
        return {f"{measure.replace('_', ' ')}": report.perplexity}
    if measure == "harness":
        return {f"harness {task} {metric}": value for task, metrics in report.harness.items()
                for metric, value in metrics.items()}
    scores = report.splits["all"]
    name = measure.replace("_", "-")
    return {f"{name} accuracy": scores.overall.accuracy, f"{name} accuracy, not guessable": scores.hard.accuracy,
            f"{name} accuracy, guessable": scores.non_hard.accuracy}


@dataclasses.dataclass(frozen=True)
class ReportTable:
    labels: list[str]
    rows: dict[str, list[float | None]]  # figure -> value per model
    reports: dict[str, dict[str, str]]  # label -> measure -> report path
    output_dir: str


def build_report(settings: ReportSettings) -> ReportTable:
    if not settings.models or not settings.output_dir:
        raise ConfigError("config: models and output_dir are required")
    labels, measures = model_labels(settings), planned(settings)
    if not measures:
        raise ConfigError("config: nothing to score; set questions, corpus, heldout or evaluate.harness.tasks")
    out = Path(settings.output_dir)
    rows: dict[str, list[float | None]] = {}
    reports: dict[str, dict[str, str]] = {}
    for number, (model, label) in enumerate(zip(settings.models, labels, strict=True)):
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for measure, keys in measures:
            report = score(settings, model, folder, measure, keys)
            reports.setdefault(label, {})[measure] = str(folder / f"{measure}.json")
            for name, value in figures(measure, report).items():
                rows.setdefault(name, [None] * len(labels))[number] = value
    table = ReportTable(labels, rows, reports, str(out))
    write_table(table, out)
    plot(table, out / "report.png")
    return table


def _cell(value: float | None, base: float | None, first: bool) -> str:
    """A figure, and after the first model's its change from the first model's."""
    if value is None:
        return "-"
    return f"{value:.4g}" if first or base is None else f"{value:.4g} ({value - base:+.4g})"


def markdown(table: ReportTable) -> str:
    lines = ["| | " + " | ".join(table.labels) + " |", "|---" * (len(table.labels) + 1) + "|"]
    for name, values in table.rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(v, values[0], k == 0) for k, v in enumerate(values)) + " |")
    return "\n".join(lines) + "\n"


def write_table(table: ReportTable, out: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["figure", *table.labels])
    writer.writerows([name, *("" if v is None else v for v in values)] for name, values in table.rows.items())
    (out / "table.csv").write_text(buffer.getvalue())
    (out / "table.json").write_text(json_text(dataclasses.asdict(table), indent=1))
    (out / "table.md").write_text(markdown(table))


def plot(table: ReportTable, path: Path) -> None:
    """Accuracies (bars per model) beside perplexities (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [("accuracy", [n for n in table.rows if not n.startswith("perplexity")], False),
              ("perplexity", [n for n in table.rows if n.startswith("perplexity")], True)]
    groups = [g for g in groups if g[1]]
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups) + 2, 5), squeeze=False)
    width = 0.8 / len(table.labels)
    for ax, (title, names, log) in zip(axes[0], groups, strict=True):
        for k, label in enumerate(table.labels):
            values = [np.nan if table.rows[n][k] is None else table.rows[n][k] for n in names]
            ax.bar(np.arange(len(names)) + k * width, values, width, label=label)
        ax.set_xticks(np.arange(len(names)) + width * (len(table.labels) - 1) / 2, names, rotation=30, ha="right",
                      fontsize=8)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
