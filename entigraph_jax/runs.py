"""The folders stages hand each other, each with a type that names its files and reads them back: a
training run (`TrainRun`) and a generated corpus (`CorpusRun`). The stage that writes one writes through
its type; every other stage, the notebook and the tests read through it, so a file name or a metric key
is spelled once, here or by its owner (an evaluation's result is its task's type: `evaluate.task`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from etils import epath

from .outputs import json_text


@dataclasses.dataclass(frozen=True)
class UsedTokenizer:
    """The tokenizer a training run read its text with: a folder holding its files, and its BOS rule."""

    path: str
    add_bos: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrainRun:
    """A training run's folder (its workdir: local, or gs:// through epath).

        checkpoints/      Orbax steps: state, data position and the settings they were written with
        metrics.jsonl     one JSON object per logged step: "step", "loss", ... and the hooks' metrics
        tb/               TensorBoard events
        loss.png          the loss curve
        tokenizer/        the tokenizer the run used (trained here, or a copy) and tokenizer.json's rule
        hf/               the Hugging Face export (export.hf)
        cache/            token caches (unless data.cache_dir says otherwise)
    """

    root: Path | epath.Path  # pathlib's for a local folder, epath's for a remote one (gs://)

    # the files a run writes locally and copies into a remote workdir (checkpoints are written there directly)
    MIRRORED = ("metrics.jsonl", "tokenizer", "tb", "loss.png", "hf")
    RESUMED = ("metrics.jsonl", "tokenizer")  # what a run recreated elsewhere needs back before it resumes
    TOKENS_TRAINED = "tokens_trained"  # the metric: target tokens trained so far, counted from the loss masks

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", epath.Path(root) if "://" in str(root) else Path(root))

    @property
    def checkpoints(self) -> Path | epath.Path:
        return self.root / "checkpoints"

    @property
    def metrics(self) -> Path | epath.Path:
        return self.root / "metrics.jsonl"

    @property
    def tensorboard(self) -> Path | epath.Path:
        return self.root / "tb"

    @property
    def loss_plot(self) -> Path | epath.Path:
        return self.root / "loss.png"

    @property
    def export(self) -> Path | epath.Path:
        return self.root / "hf"

    @property
    def cache(self) -> Path | epath.Path:
        return self.root / "cache"

    @property
    def tokenizer_dir(self) -> Path | epath.Path:
        return self.root / "tokenizer"

    @property
    def _tokenizer_record(self) -> Path | epath.Path:
        return self.tokenizer_dir / "used.json"

    def record_tokenizer(self, add_bos: str) -> None:
        self._tokenizer_record.write_text(json.dumps({"add_bos": add_bos}))

    @property
    def tokenizer(self) -> UsedTokenizer:
        """The tokenizer the run used (recorded when the run started)."""
        if not self._tokenizer_record.exists():
            raise FileNotFoundError(f"{self.root}: no tokenizer recorded (not a training run, or not started)")
        return UsedTokenizer(str(self.tokenizer_dir), json.loads(self._tokenizer_record.read_text())["add_bos"])

    def rows(self) -> list[dict]:
        """The logged metrics, a dict per logged step."""
        if not self.metrics.exists():
            return []
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line.strip()]

    def last(self, *names: str) -> dict[str, float | None]:
        """The last logged value of each named metric (None where it was never logged)."""
        rows = self.rows()
        return {name: next((r[name] for r in reversed(rows) if name in r), None) for name in names}

    def last_matching(self, prefix: str) -> dict[str, float]:
        """The last logged value of every metric whose name starts with `prefix`."""
        found = {}
        for row in self.rows():
            found.update({k: v for k, v in row.items() if k.startswith(prefix)})
        return found

    @property
    def steps(self) -> int:
        """The last step logged."""
        rows = self.rows()
        return rows[-1]["step"] if rows else 0

    @property
    def final_loss(self) -> float | None:
        return self.last("loss")["loss"]

    @property
    def tokens_trained(self) -> int | None:
        """Target tokens trained by the last logged step (None: a run of an earlier version)."""
        return self.last(self.TOKENS_TRAINED)[self.TOKENS_TRAINED]

    def summary(self) -> dict:
        """What `train` prints at the end."""
        def present(path):
            return str(path) if path.exists() else None

        return {"workdir": str(self.root), "steps": self.steps, "final_loss": self.final_loss,
                "tokens_trained": self.tokens_trained, "checkpoints": str(self.checkpoints),
                "metrics": str(self.metrics),
                "tokenizer": present(self.tokenizer_dir), "tensorboard": present(self.tensorboard),
                "loss_plot": present(self.loss_plot), "hf_export": present(self.export)}


@dataclasses.dataclass(frozen=True)
class CorpusRun:
    """A generated corpus's folder (generate's output_dir, or one shard of it).

        records/          ArrayRecord shards: one JSON record per text (the corpus other stages read)
        journal.sqlite    every request, its state and answer: what a rerun resumes from
        summary.json      what the last run did (counts, tokens, cost, errors)
        run.json          the model, method and prompt version of every run that wrote here
        questions.jsonl   method "questions": the questions kept, in QuALITY's format (`load_source` reads it)
        shard-*-of-*/     with num_shards > 1: a CorpusRun per shard
    """

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    @property
    def questions(self) -> Path:
        return self.root / "questions.jsonl"

    def shard(self, index: int, count: int) -> CorpusRun:
        return CorpusRun(self.root / f"shard-{index:05d}-of-{count:05d}")

    def summary(self) -> dict | None:
        """The last run's summary, None before a run has finished."""
        return json.loads(self.summary_path.read_text()) if self.summary_path.is_file() else None

    def write_summary(self, summary: dict) -> None:
        self.summary_path.write_text(json_text(summary, indent=2))

    @property
    def source(self) -> str:
        """The `load_source` spec of its records."""
        return f"records:{self.records}"
