"""Scoring a model, one task at a time (big_vision's evaluators, lm-evaluation-harness's tasks).

A `Task` is its name, its settings (`tasks.<name>.*` of the evaluate command; `hooks.<name>.*` of a
training run, with `every_steps` and `source` beside them), what it needs of the model (`sampler`: text
sampled from it, ours or a served one; `model`: its likelihoods; `nothing`), what it reads (`questions`: a
QuALITY-format source, articles and their multiple-choice questions; `text`: any source; `nothing`: inputs
of its own settings), its result type, `run(settings, context) -> Result`, and a `check` of its settings run before any
work.

Tasks are found by name: every module of `evaluate/tasks/` that defines `TASK`, then the entry points of
the group `entigraph_jax.evaluate_tasks` (another package's tasks). So a new task is one file there: the
evaluate command runs it (`--config.task=NAME`), training runs it every N steps (`hooks.NAME.*`), and the
before/after report lists it (`tasks=(..., "NAME")`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, SourceError
from entigraph_jax.outputs import json_text
from entigraph_jax.registry import named, registered
from entigraph_jax.scalars import numbers
from entigraph_jax.settings import Settings

from .uncertainty import Units

NEEDS = ("sampler", "model", "nothing")
READS = ("questions", "text", "nothing")
GROUP = "entigraph_jax.evaluate_tasks"


@dataclasses.dataclass(frozen=True)
class Row:
    """One figure of a result as the before/after report shows it."""

    value: float | None
    n: int | None = None  # what it is over (questions, documents)
    interval: list[float] | None = None  # its 95% interval (`uncertainty.interval`)
    note: str = ""  # a word the number alone would hide (no answer parsed; below chance)


@dataclasses.dataclass(frozen=True)
class Result:
    """A task's figures and everything behind them (`details`: every prompt, sample and answer), as
    written to its JSON file. A task's result type adds its figures as fields."""

    task: str
    checkpoint: str = ""
    source: str = ""
    details: dict = dataclasses.field(default_factory=dict)

    def figures(self, split: str = "all") -> dict:
        """The headline: what the command prints (a nested dict of numbers and names)."""
        raise NotImplementedError

    def rows(self) -> dict[str, Row]:
        """The rows this result adds to the before/after report's table, by figure name."""
        raise NotImplementedError

    def units(self) -> dict[str, Units]:
        """Of the rows, those whose units (questions, documents) it can say: what a paired change between two
        models is computed on (`uncertainty.paired_change`)."""
        return {}

    def metrics(self) -> dict[str, float]:
        """The figures as training metrics: `<task>/<figure>` (every article's questions)."""
        return numbers(self.figures("all"), metric(self.task, ""))

    def write(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        d = dataclasses.asdict(self)
        d["details"] = d.pop("details")  # the figures first, what is behind them last
        path.write_text(json_text(d, indent=1, ensure_ascii=False))

    @classmethod
    def from_dict(cls, d: dict):
        """A result from its JSON; keys it does not know are ignored (`mode`: a result of an earlier version)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in d.items() if k in names}, "task": d.get("task") or d["mode"]})


def metric(task: str, figure: str) -> str:
    """A task's figure as a training metric's name (a nested figure: `<task>/<key>/<key>`)."""
    return f"{task}/{figure}"


def _not_given(what: str) -> Callable:
    def missing():
        raise ConfigError(f"this task needs {what}, which this evaluation does not have")
    return missing


@dataclasses.dataclass
class Context:
    """What a task may use. The command loads each part on first use (a task that never samples loads
    no sampler); a training hook gives the run's model and its own packed batches."""

    source: str = ""  # the documents' spec, for messages and the result
    split: str = "all"  # the headline's articles (scores.SPLITS)
    checkpoint: str = ""  # "" during training
    output: Path | None = None  # where the result goes (a task keeps its own files beside it); None: nowhere
    served: bool = False  # the sampler is a served model's (the model itself is not loaded here)
    load_documents: Callable[[], list[Document]] = _not_given("documents (a source)")
    load_model: Callable[[], object] = _not_given("the model")
    load_tokenizer: Callable[[], object] = _not_given("a tokenizer")
    load_sampler: Callable[[], object] = _not_given("a sampler")
    # the documents packed into rows, as (summed loss, target tokens) per batch: a training run's own
    # packing and sharded loss; None: the task packs them itself
    loss_batches: Callable[[], Iterator[tuple[float, float]]] | None = None

    @functools.cached_property
    def documents(self) -> list[Document]:
        return self.load_documents()

    @functools.cached_property
    def model(self):
        return self.load_model()

    @functools.cached_property
    def tokenizer(self):
        return self.load_tokenizer()

    @functools.cached_property
    def sampler(self):
        return self.load_sampler()

    def questions(self) -> list[Document]:
        """The documents that have questions; a `SourceError` where none has."""
        docs = [d for d in self.documents if d.questions]
        if not docs:
            raise SourceError(f"{self.source}: no documents with questions (a QuALITY file, or generate's "
                              "questions.jsonl)")
        return docs


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    purpose: str  # one line for --help
    settings: type[Settings]  # tasks.<name>.* (hooks.<name>.* in training, with every_steps and source)
    needs: str  # NEEDS: sampler | model | nothing
    reads: str  # READS: questions | text | nothing
    result: type[Result]
    run: Callable[[Settings, Context], Result]
    # what can be known wrong before any work (a missing extra): run before a model is loaded or training starts
    check: Callable[[Settings], None] = lambda settings: None

    def __post_init__(self):
        if self.needs not in NEEDS or self.reads not in READS:
            raise ValueError(f"task {self.name}: needs one of {NEEDS} and reads one of {READS}")


@functools.cache
def tasks() -> dict[str, Task]:
    """Every task by name: the modules of `evaluate/tasks/` (in name order), then the installed entry points."""
    from . import tasks as package

    return registered(package, "TASK", GROUP, Task, "evaluation task")


def task(name: str) -> Task:
    """The task called `name`; one line naming the known ones if there is none."""
    return named(tasks(), name, "task")


def read_result(path: str | os.PathLike) -> Result:
    """A result file, read back as its task's result type."""
    d = json.loads(Path(path).read_text())
    return task(d.get("task") or d["mode"]).result.from_dict(d)
