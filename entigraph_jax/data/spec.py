"""A source spec, parsed once: `kind:location` (or a bare path, whose kind its content tells) as the typed
`SourceSpec` every reader of a spec goes through — the loaders, the streamed token cache, SBP's measures, the
model card — so the mini-language is read in one place. Settings keep the spec as written (what a resumed
run compares); `spec_problem` is their check, so a misspelled kind is one line before any work.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from entigraph_jax.runs import CorpusRun

from .documents import SourceError
from .hub import HubDataset

SAMPLE_CORPUS = Path(__file__).parent / "sample" / "quality_sample.jsonl"
# kind -> what it reads; the kinds of one file or folder take one path, those below may list several
KINDS = {"quality": "QuALITY release files", "jsonl": "JSON lines", "parquet": "parquet files",
         "folder": "a folder of documents (text, Markdown, HTML, PDF, Word)", "file": "one HTML, PDF or Word file",
         "records": "ArrayRecord records", "tfds": "a prepared TFDS dataset", "hf": "a Hugging Face dataset"}
LISTS = ("quality", "jsonl", "parquet")  # kinds whose location may be several paths, comma-separated
EARLIER = {"text": "folder"}  # kinds' names in earlier versions, still read


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    kind: str  # one of KINDS; "" for a bare path, whose kind its content tells (`sources.load_source`)
    location: str  # what follows the colon (the bundled sample's path for `sample`)
    written: str  # the spec as the user wrote it

    @classmethod
    def parse(cls, spec: str | os.PathLike) -> SourceSpec:
        written = str(spec)
        if written == "sample":
            return cls("quality", str(SAMPLE_CORPUS), written)
        if not re.match(r"^[a-z]+:(?!//)", written):
            return cls("", written, written)
        kind, _, location = written.partition(":")
        kind = EARLIER.get(kind, kind)
        if kind not in KINDS:
            raise SourceError(f"{written}: unknown source kind {kind!r} (expected one of {', '.join(KINDS)}, "
                              "sample, or a path)")
        return cls(kind, location, written)

    def __str__(self) -> str:
        return self.written

    @property
    def paths(self) -> list[Path]:
        """The files or folder it names (none for `tfds:` and `hf:`)."""
        if self.kind in ("tfds", "hf"):
            return []
        return [Path(p) for p in self.location.split(",")] if self.kind in LISTS else [Path(self.location)]

    @property
    def hub(self) -> HubDataset | None:
        """The Hugging Face dataset of an `hf:` spec (streamed, never read whole), else None."""
        return HubDataset.parse(self.location) if self.kind == "hf" else None

    @property
    def records(self) -> Path | None:
        """The records folder (or file) of a `records:` spec, else None."""
        return Path(self.location) if self.kind == "records" else None

    def corpus(self) -> CorpusRun | None:
        """The generated corpus whose records it names (a generate run's output folder), else None."""
        if self.records is None:
            return None
        run = CorpusRun(self.records.parent)
        return run if run.records == self.records and run.summary_path.is_file() else None


def spec_problem(spec: str) -> str | None:
    """What is wrong with a source setting's spec, if anything (a settings check; "" is no source)."""
    try:
        SourceSpec.parse(spec) if spec else None
    except SourceError as e:
        return str(e)
    return None
