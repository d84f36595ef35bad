"""One before/after report (`python -m entigraph_jax.evaluate report`): the base model and one or more
trained checkpoints, each scored with the same evaluation tasks — those reading questions on the user's own
questions (closed-book, with the questions the generator could answer without the document apart;
open-book; log-likelihood), those reading text on the corpus and on held-out text (perplexity), the others
on their own inputs (lm-evaluation-harness tasks: the forgetting check); a table (CSV, JSON, markdown:
every figure with its n and 95% interval, each change against the first model tested on the same questions
or documents — its paired interval and a verdict, better, worse or no detectable change; a figure worse
beyond its interval flagged) and a plot (error bars, the chance line). Every score is an evaluate run whose
result is kept in `output_dir/<label>/<task>[_<corpus|heldout>].json`: a rerun (after a crash, or with
another checkpoint added) scores only what has no result yet.
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
from .scores import CHANCE
from .settings import EvaluateSettings
from .task import Result, Row, read_result, tasks
from .uncertainty import WORSE, Change, Units, paired_change

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
class Cell:
    """One model's figure: its value, what it is over, its 95% interval, a word the number would hide, and
    (after the first model) its change from the first model's on the same units, with a verdict."""

    value: float | None
    n: int | None = None
    interval: list[float] | None = None
    note: str = ""
    change: Change | None = None


@dataclasses.dataclass(frozen=True)
class ReportTable:
    labels: list[str]
    rows: dict[str, list[Cell | None]]  # figure -> a cell per model (None: not scored)
    results: dict[str, dict[str, str]]  # label -> result name -> its file
    output_dir: str
    worse: list[str] = dataclasses.field(default_factory=list)  # "figure: label", worse beyond its interval


def build_report(settings: ReportSettings) -> ReportTable:
    if not settings.models or not settings.output_dir:
        raise ConfigError("config: models and output_dir are required")
    labels, results = model_labels(settings), planned(settings)
    if not results:
        raise ConfigError("config: nothing to score; set questions, corpus or heldout for the tasks named")
    out = Path(settings.output_dir)
    rows: dict[str, list[Row | None]] = {}
    units: dict[str, list[Units | None]] = {}
    files: dict[str, dict[str, str]] = {}
    for number, (model, label) in enumerate(zip(settings.models, labels, strict=True)):
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for result_name, role, keys in results:
            path = folder / f"{result_name}.json"
            result = score(settings, model, path, keys)
            files.setdefault(label, {})[result_name] = str(path)
            made_of = result.units()
            for name, row in result.rows().items():
                figure = f"{name} {role}".strip()
                rows.setdefault(figure, [None] * len(labels))[number] = row
                units.setdefault(figure, [None] * len(labels))[number] = made_of.get(name)
    cells = {figure: [paired(row, units[figure], k) for k, row in enumerate(values)]
             for figure, values in rows.items()}
    worse = [f"{figure}: {labels[k]}" for figure, values in cells.items() for k, cell in enumerate(values)
             if cell and cell.change and cell.change.verdict == WORSE]
    table = ReportTable(labels, cells, files, str(out), worse)
    write_table(table, out)
    plot(table, out / "report.png")
    return table


def paired(row: Row | None, units: list[Units | None], k: int) -> Cell | None:
    """The cell of model `k`: its row, and after the first model the paired change from the first's."""
    if row is None:
        return None
    change = paired_change(units[0], units[k]) if k and units[0] and units[k] else None
    return Cell(row.value, row.n, row.interval, row.note, change)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _span(span: list[float] | None) -> str:
    return f" [{_number(span[0])}, {_number(span[1])}]" if span else ""


def _cell(cell: Cell | None) -> str:
    """A figure with its interval and n, a note, and after the first model its change, interval and verdict."""
    if cell is None:
        return "-"
    text = _number(cell.value) + _span(cell.interval) + (f" n={cell.n}" if cell.n else "")
    text += f" ({cell.note})" if cell.note else ""
    if cell.change:
        verdict = f"**{cell.change.verdict}**" if cell.change.verdict == WORSE else cell.change.verdict
        text += f"; {cell.change.change:+.4g}{_span(cell.change.interval)} {verdict}"
    return text


def markdown(table: ReportTable) -> str:
    lines = ["| | " + " | ".join(table.labels) + " |", "|---" * (len(table.labels) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(map(_cell, cells)) + " |" for name, cells in table.rows.items()]
    notes = [f"worse than {table.labels[0]} beyond its 95% interval: {w}" for w in table.worse]
    return "\n".join(lines) + "\n" + "".join(f"\n{n}" for n in notes) + ("\n" if notes else "")


CSV_COLUMNS = ("figure", "model", "value", "n", "low", "high", "note", "change", "change_low", "change_high",
               "verdict")


def write_table(table: ReportTable, out: Path) -> None:
    """table.json (every cell), table.csv (a line per figure and model) and table.md."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for name, cells in table.rows.items():
        for label, cell in zip(table.labels, cells, strict=True):
            if cell is None:
                continue
            low, high = cell.interval or ("", "")
            change = cell.change
            c_low, c_high = (change.interval if change and change.interval else ("", ""))
            writer.writerow([name, label, "" if cell.value is None else cell.value, cell.n or "", low, high,
                             cell.note, change.change if change else "", c_low, c_high,
                             change.verdict if change else ""])
    (out / "table.csv").write_text(buffer.getvalue())
    (out / "table.json").write_text(json_text(dataclasses.asdict(table), indent=1))
    (out / "table.md").write_text(markdown(table))


def plot(table: ReportTable, path: Path) -> None:
    """Figures between 0 and 1 (accuracies; bars per model with their 95% intervals, the chance line) beside
    the others (perplexities: log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def share(name):
        return all(c is None or c.value is None or 0 <= c.value <= 1 for c in table.rows[name])

    groups = [("accuracy", [n for n in table.rows if share(n)], False),
              ("other figures", [n for n in table.rows if not share(n)], True)]
    groups = [g for g in groups if g[1]]
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups) + 2, 5), squeeze=False)
    width = 0.8 / len(table.labels)
    for ax, (title, names, log) in zip(axes[0], groups, strict=True):
        for k, label in enumerate(table.labels):
            cells = [table.rows[n][k] for n in names]
            values = np.array([np.nan if c is None or c.value is None else c.value for c in cells])
            spans = np.array([c.interval if c and c.interval else [np.nan, np.nan] for c in cells]).T
            errors = np.abs(spans - values)  # below and above the value; none where there is no interval
            ax.bar(np.arange(len(names)) + k * width, values, width, label=label,
                   yerr=np.nan_to_num(errors), capsize=3)
        if not log:
            ax.axhline(CHANCE, color="grey", linestyle="--", linewidth=1, label=f"chance ({CHANCE:g})")
        ax.set_xticks(np.arange(len(names)) + width * (len(table.labels) - 1) / 2, names, rotation=30, ha="right",
                      fontsize=8)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
