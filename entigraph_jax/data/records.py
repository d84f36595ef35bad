"""ArrayRecord shards of JSON records: the on-disk format between stages.

A record is one UTF-8 JSON object: `text` (required), and as the stage that wrote it knows them
`doc_id`, `kind` (raw | entities | pair | triple | rephrase | sbp | sbp_pair),
`entities` (list), `model`, `prompt_version`, `request_id` (a stable hash of what was asked), `usage`
(token counts) and `truncated` (the answer hit the output cap); readers ignore fields they do not know.
What training reads of a record is `train_text`: its `text`, except for an `entities` record, whose
`text` is the model's raw JSON answer: that one trains on its `summary` (as the paper's corpus holds
the summaries and never the entity lists). Evaluation questions are not records: generate's questions
method writes them as QuALITY JSONL.

`RecordWriter` rolls shards at a size and writes each under a temporary name, renamed on close, so
a crash never leaves half a shard under a final name; `read_records` reads them back and names the
file and record index of anything it cannot parse.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from array_record.python.array_record_module import ArrayRecordReader, ArrayRecordWriter

from entigraph_jax.errors import UserError
from entigraph_jax.outputs import staged

SUFFIX = ".array_record"
# group_size:1 makes every record its own chunk, so any record is one seek away (random access).
WRITER_OPTIONS = "group_size:1"


class RecordError(UserError):
    """A record file or record that cannot be read."""


def train_text(record: dict) -> str:
    """The text a record contributes to training ("" for none)."""
    return record.get("summary") or "" if record.get("kind") == "entities" else record["text"]


def list_shards(path: str | os.PathLike) -> list[Path]:
    """The shard files of `path`: one file, every `*.array_record` in a folder, or a glob."""
    path = str(path)
    if os.path.isdir(path):
        files = sorted(Path(path).glob(f"*{SUFFIX}"))
        if not files:
            raise RecordError(f"{path}: no {SUFFIX} files in the folder")
        return files
    if os.path.isfile(path):
        return [Path(path)]
    files = sorted(Path(p) for p in glob.glob(path))
    if not files:
        raise RecordError(f"{path}: no such file or folder")
    return files


def open_reader(file: Path) -> ArrayRecordReader:
    try:
        reader = ArrayRecordReader(str(file))
    except Exception as e:  # the C++ reader raises bare RuntimeError/ValueError for corruption
        raise RecordError(f"{file}: not a readable ArrayRecord file ({e})") from e
    if not reader.ok():  # some corruption only shows here, as a reader that is not ok
        raise RecordError(f"{file}: not a readable ArrayRecord file (corrupt or truncated)")
    return reader


def decode_record(raw: bytes, where: str) -> dict:
    """A JSON record from its bytes; `where` ("file, record N") goes into every error."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RecordError(f"{where}: invalid UTF-8 ({e})") from e
    except json.JSONDecodeError as e:
        raise RecordError(f"{where}: invalid JSON ({e})") from e
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise RecordError(f"{where}: record has no string field 'text'")
    return record


def read_records(path: str | os.PathLike) -> Iterator[dict]:
    """Every record of every shard under `path`, in shard then record order."""
    for file in list_shards(path):
        reader = open_reader(file)
        try:
            for index in range(reader.num_records()):
                try:
                    raw = reader.read([index])[0]
                except Exception as e:
                    raise RecordError(f"{file}, record {index}: unreadable ({e})") from e
                yield decode_record(raw, f"{file}, record {index}")
        finally:
            reader.close()


@contextlib.contextmanager
def _space(path: Path):
    """ArrayRecord's writer reports a full disk as a RuntimeError ("write() failed: No space left on device"):
    raised here as the OSError it is, naming the file, so the command says it in one line."""
    try:
        yield
    except RuntimeError as e:
        if "No space left" not in str(e) and "quota exceeded" not in str(e).lower():
            raise
        raise OSError(errno.ENOSPC, "No space left on device", str(path)) from e


class RecordWriter:
    """Writes records to `<folder>/<prefix>-NNNNN.array_record`, a new shard every `shard_bytes`.

    Shard numbers continue after the shards already in the folder, so a second writer (a resumed
    run, another machine's part) never overwrites one. Use as a context manager.
    """

    def __init__(self, folder: str | os.PathLike, prefix: str = "records", shard_bytes: int = 256 << 20):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.shard_bytes = prefix, shard_bytes
        existing = sorted(self.folder.glob(f"{prefix}-*{SUFFIX}"))
        self._next = 1 + max((int(p.name[len(prefix) + 1 : -len(SUFFIX)]) for p in existing), default=-1)
        self._writer = None
        self._size = 0
        self.written: list[Path] = []

    def write(self, record: dict) -> None:
        if not isinstance(record.get("text"), str):
            raise RecordError(f"record to {self.folder} has no string field 'text': {str(record)[:80]}")
        self.write_bytes(json.dumps(record, ensure_ascii=False).encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        """One raw record (the token cache stores arrays this way)."""
        if self._writer is None:
            self._open()
        with _space(self._tmp):
            self._writer.write(data)
        self._size += len(data)
        if self._size >= self.shard_bytes:
            self._finish()

    def _open(self) -> None:
        self._final = self.folder / f"{self.prefix}-{self._next:05d}{SUFFIX}"
        self._tmp = self.folder / f".{self._final.name}.tmp"
        with _space(self._tmp):
            self._writer = ArrayRecordWriter(str(self._tmp), WRITER_OPTIONS)
        self._next += 1
        self._size = 0

    def _finish(self) -> None:
        with _space(self._tmp):
            self._writer.close()
        os.replace(self._tmp, self._final)
        self.written.append(self._final)
        self._writer = None

    def close(self) -> None:
        if self._writer is not None:
            self._finish()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._writer is not None:  # a failed run keeps its finished shards, drops the partial one
            writer, self._writer = self._writer, None
            try:
                with _space(self._tmp):
                    writer.close()  # may fail the same way (a full disk)
            finally:
                self._tmp.unlink(missing_ok=True)


def write_records(records: Iterable[dict], folder: str | os.PathLike) -> int:
    """Write `records` into a fresh folder swapped in for `folder` once all are written (readers never
    see a partial set); returns how many were written."""
    count = 0
    with staged(Path(folder), replace=True) as tmp, RecordWriter(tmp) as writer:
        for record in records:
            writer.write(record)
            count += 1
    return count
