"""Hugging Face Hub datasets as sources: `hf:ORG/NAME[:key=value,...]`, read from the user's Hub
cache (filled by `huggingface_hub` when online, as `load_dataset` would) as the parquet or jsonl
files the repository holds, and streamed: rows are read a batch at a time, never as one list.

Keys: `config` (the repository's subfolder for a config, "" for none), `split` (default `train`:
files named `<split>-*`, `<split>.*` or in a `<split>/` folder; a repository whose files name no
split, such as the RedPajama 1T sample's `*_sample.jsonl`, is all `train`), `field` (the text
column, default `text`), `separator` (a row's field holds several documents joined by this string: each
piece, stripped, is a document of its own, empty ones skipped), `revision`, `max_documents` and `max_tokens`
(caps, 0: none; tokens as training counts them, applied while the token cache is built).

    hf:togethercomputer/RedPajama-Data-1T-Sample:max_tokens=1000000000
    hf:zitongyang/entigraph-quality-corpus:field=entigraph,separator=<|entigraphseptoekn|>
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from .documents import Document, SourceError

DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json")
KEYS = {"config": str, "split": str, "field": str, "separator": str, "revision": str, "max_documents": int,
        "max_tokens": int}


@dataclasses.dataclass(frozen=True)
class HubDataset:
    cache_prefix = "hf"  # its token caches' folder names: tokens-hf-<key>
    repo: str
    config: str = ""
    split: str = "train"
    field: str = "text"
    separator: str = ""
    revision: str = ""
    max_documents: int = 0
    max_tokens: int = 0

    @classmethod
    def parse(cls, location: str) -> HubDataset:
        """`ORG/NAME[:key=value,...]` -> the dataset; a malformed spec is one line naming the key."""
        repo, _, options = location.partition(":")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise SourceError(f"hf:{location}: expected hf:ORG/NAME[:key=value,...]")
        values = {}
        for item in filter(None, options.split(",")):
            key, eq, value = item.partition("=")
            if key not in KEYS or not eq:
                raise SourceError(f"hf:{location}: unknown option {item!r} (known: {', '.join(KEYS)})")
            try:
                values[key] = KEYS[key](float(value)) if KEYS[key] is int else value
            except ValueError:
                raise SourceError(f"hf:{location}: {key} must be a number, got {value!r}") from None
            if KEYS[key] is int and values[key] < 0:
                raise SourceError(f"hf:{location}: {key} must be >= 0")
        return cls(repo, **values)

    @property
    def spec(self) -> str:
        return f"hf:{self.repo}"

    def snapshot(self) -> Path:
        """The repository's files in the Hub cache (downloaded there first when online)."""
        import huggingface_hub
        from huggingface_hub import constants, errors

        try:
            return Path(huggingface_hub.snapshot_download(
                self.repo, repo_type="dataset", revision=self.revision or None, cache_dir=constants.HF_HUB_CACHE,
                local_files_only=constants.HF_HUB_OFFLINE))
        except errors.LocalEntryNotFoundError as e:
            raise SourceError(f"{self.spec}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the Hub "
                              "cannot be reached (offline?)") from e
        except (errors.RepositoryNotFoundError, errors.GatedRepoError, errors.RevisionNotFoundError) as e:
            raise SourceError(f"{self.spec}: the Hugging Face Hub refused it ({type(e).__name__}; a private or gated "
                              "dataset needs HF_TOKEN)") from e
        except (errors.HfHubHTTPError, OSError, ValueError) as e:
            raise SourceError(f"{self.spec}: downloading from the Hugging Face Hub failed ({e})") from e

    def files(self) -> list[Path]:
        """The split's data files in the snapshot, in name order."""
        root = self.snapshot()
        base = root / self.config if self.config else root
        if not base.is_dir():
            raise SourceError(f"{self.spec}: no config folder {self.config!r} in {root}")
        data = sorted(p for p in base.rglob("*") if p.is_file() and p.name.endswith(DATA_SUFFIXES))
        named = [p for p in data if _names_split(p.relative_to(base), self.split)]
        if named:
            return named
        if data and self.split == "train" and not any(_names_split(p.relative_to(base), s)
                                                      for p in data for s in ("test", "validation", "dev")):
            return data
        raise SourceError(f"{self.spec}: no parquet or jsonl files of split {self.split!r} in {base}")

    def fingerprint(self, files: list[Path]) -> str:
        """What the documents depend on: the snapshot's revision, these settings, each file's name and size
        (the Hub cache's files are immutable per revision; the text itself is not hashed)."""
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        for path in files:
            snapshot = next(p for p in path.parents if p.parent.name == "snapshots")
            digest.update(f"{snapshot.name}/{path.relative_to(snapshot)}:{path.stat().st_size}\n".encode())
        return digest.hexdigest()[:20]

    def stream(self) -> Iterator[Document]:
        """Every document of the split, in file order (up to `max_documents`)."""
        return (doc for _, doc in self.documents(self.files()))

    def documents(self, files: list[Path], start: int = 0) -> Iterator[tuple[int, Document]]:
        """(file number, document) from files[start:] on, at most `max_documents` counted from the first file."""
        yielded = 0
        for number, path in enumerate(files):
            for index, text in _rows(path, self.field):
                if not isinstance(text, str):
                    raise SourceError(f"{path}: row {index} has no text field {self.field!r}")
                for doc_id, piece in self.pieces(f"{self.repo}/{path.name}:{index}", text):
                    if self.max_documents and yielded >= self.max_documents:
                        return
                    yielded += 1
                    if number >= start:
                        yield number, Document(doc_id, piece, file=str(path))

    def pieces(self, row_id: str, text: str) -> Iterator[tuple[str, str]]:
        """(document id, text) of a row: the row itself, or each non-empty piece between separators."""
        if not self.separator:
            yield row_id, text
            return
        for number, piece in enumerate(text.split(self.separator)):
            if piece.strip():
                yield f"{row_id}.{number}", piece.strip()


def _names_split(relative: Path, split: str) -> bool:
    name = relative.name
    return split in relative.parts[:-1] or any(name.startswith(split + sep) for sep in ("-", ".", "_"))


def _rows(path: Path, field: str) -> Iterator[tuple[int, object]]:
    """(row number, the field's value) of a parquet or jsonl file, a batch at a time."""
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(path)
            if field not in table.schema_arrow.names:
                raise SourceError(f"{path}: no column {field!r} (columns: {', '.join(table.schema_arrow.names)})")
            index = 0
            for batch in table.iter_batches(batch_size=1024, columns=[field]):
                for value in batch.column(0).to_pylist():
                    yield index, value
                    index += 1
        except SourceError:
            raise
        except Exception as e:  # pyarrow raises several types for files that are not parquet
            raise SourceError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from e
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for index, line in enumerate(f):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceError(f"{path}: line {index + 1} is not JSON ({e.msg})") from e
            yield index, row.get(field) if isinstance(row, dict) else None
