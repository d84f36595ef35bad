"""One before/after report (`python -m entigraph_jax.evaluate report`): the base model and one or more
trained checkpoints, each scored with the same evaluation tasks — those reading questions on the user's own
questions (closed-book, with the questions the generator could answer without the document apart;
open-book; log-likelihood), those reading text on the corpus and on held-out text (perplexity), the others
on their own inputs (lm-evaluation-harness tasks: the forgetting check); a table (CSV, JSON, markdown, each
change against the first model) and a plot. Every score is an evaluate run whose result is kept in
`output_dir/<label>/<task>[_<corpus|heldout>].json`: a rerun (after a crash, or with another checkpoint
added) scores only what has no result yet.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.data import spec_problem
from entigraph_jax.outputs import json_text
from entigraph_jax.settings import SettingError, Settings, section, setting

from .run import evaluate
from .settings import EvaluateSettings
from .task import Result, read_result, tasks

TASKS = ("closed_book", "open_book", "loglik", "perplexity")


@dataclasses.dataclass(frozen=True)
class ReportSettings(Settings):
    renamed = {"measures": "tasks (perplexity_corpus and perplexity_heldout are now perplexity, scored on corpus "
                           "and heldout)"}

    models: tuple = setting((), "the checkpoints, the base model first (Hugging Face folders, train's exports)")
    labels: tuple = setting((), "a name per model for the table (default: each folder's name, or its parent's "
                            "for a training run's export)")
    questions: str = setting("", "the user's questions (QuALITY JSONL: generate's questions.jsonl): what the tasks "
                             "reading questions score", check=spec_problem)
    corpus: str = setting("", "the training corpus: the tasks reading text score it (\"\": skipped)",
                          check=spec_problem)
    heldout: str = setting("", "text the models never trained on: the tasks reading text score it (\"\": skipped)",
                           check=spec_problem)
    tasks: tuple = setting(TASKS, "the evaluation tasks to score each model with (any task that uses the model: "
                           "harness for the forgetting check, with evaluate.tasks.harness.tasks); a task without its "
                           "input (questions, corpus, heldout) is skipped")
    output_dir: str = setting("", "per-model results, table.csv / .json / .md and report.png go here")
    evaluate: EvaluateSettings = section(EvaluateSettings, "the settings of every evaluation (tasks.*, served, ...); "
                                         "task, source, model.path and output are set per result")

    def validate(self):
        if self.labels and len(self.labels) != len(self.models):
            raise SettingError("labels", f"{len(self.labels)} labels for {len(self.models)} models")
        usable = [name for name, t in tasks().items() if t.needs != "nothing"]
        unknown = sorted(set(self.tasks) - set(usable))
        if unknown:
            raise SettingError("tasks", f"{unknown} score no model here; known: {', '.join(usable)}")


def model_labels(settings: ReportSettings) -> list[str]:
    if settings.labels:
        return list(settings.labels)
    names = [Path(m).name if Path(m).name not in ("hf", "export") else Path(m).parent.name for m in settings.models]
    return [n if names.count(n) == 1 else f"{n}-{i}" for i, n in enumerate(names)]


def planned(settings: ReportSettings) -> list[tuple[str, str, dict]]:
    """(result name, the suffix of its rows, the evaluate keys it sets) for each task and input it has: a
    task reading questions once on `questions`, a task reading text on `corpus` and on `heldout`, a task
    reading neither once."""
    inputs = {"questions": {"": settings.questions}, "text": {"corpus": settings.corpus, "heldout": settings.heldout}}
    out = []
    for name in settings.tasks:
        reads = tasks()[name].reads
        if reads == "nothing":
            out.append((name, "", {"task": name}))
        for role, source in inputs.get(reads, {}).items():
            if source:
                out.append((f"{name}_{role}" if role else name, role, {"task": name, "source": source}))
    return out


def score(settings: ReportSettings, model: str, path: Path, keys: dict) -> Result:
    """One result of one model: read if a run wrote it before, else evaluated now."""
    if path.is_file():
        return read_result(path)
    return evaluate(settings.evaluate.override({**keys, "model.path": model, "output": str(path)}))


@dataclasses.dataclass(frozen=True)
class ReportTable:
    labels: list[str]
    rows: dict[str, list[float | None]]  # figure -> value per model
    results: dict[str, dict[str, str]]  # label -> result name -> its file
    output_dir: str


def build_report(settings: ReportSettings) -> ReportTable:
    if not settings.models or not settings.output_dir:
        raise ConfigError("config: models and output_dir are required")
    labels, results = model_labels(settings), planned(settings)
    if not results:
        raise ConfigError("config: nothing to score; set questions, corpus or heldout for the tasks named")
    out = Path(settings.output_dir)
    rows: dict[str, list[float | None]] = {}
    files: dict[str, dict[str, str]] = {}
    for number, (model, label) in enumerate(zip(settings.models, labels, strict=True)):
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for result_name, role, keys in results:
            path = folder / f"{result_name}.json"
            result = score(settings, model, path, keys)
            files.setdefault(label, {})[result_name] = str(path)
            for name, value in result.rows().items():
                rows.setdefault(f"{name} {role}".strip(), [None] * len(labels))[number] = value
    table = ReportTable(labels, rows, files, str(out))
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
    """Figures between 0 and 1 (accuracies; bars per model) beside the others (perplexities: log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def share(name):
        return all(v is None or 0 <= v <= 1 for v in table.rows[name])

    groups = [("accuracy", [n for n in table.rows if share(n)], False),
              ("other figures", [n for n in table.rows if not share(n)], True)]
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
