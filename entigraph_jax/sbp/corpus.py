"""SBP's documents as record shards, read a record at a time: memory bounded whatever the corpus.

`Records` is a sequence over the records of ArrayRecord shards: its length from the shards' record counts,
any record by position (the shards are written one record per chunk, so a position is one seek), and
iteration shard by shard. `Corpus` is the real documents: a `records:` spec's shards as they are, any
other spec streamed once (`data.stream_source`) into record shards under the workdir, the copy staged so a
partial one is never read. Every SBP step reads the corpus through it: the tokenizer's training text, the
embeddings, the pairs' texts, the seeds of synthesis and the measures' samples.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from entigraph_jax.data import Document, RecordWriter, SourceSpec
from entigraph_jax.data.records import decode_record, list_shards, open_reader, train_text
from entigraph_jax.data.sources import stream_source
from entigraph_jax.outputs import staged

READ_AHEAD = 16  # records read at once when iterating


class Records(Sequence):
    """The records of every shard under `path`, by position, in shard then record order."""

    def __init__(self, path: str | Path):
        self.location = str(path)
        self.files = list_shards(path)
        sizes = []
        for file in self.files:
            reader = open_reader(file)
            sizes.append(reader.num_records())
            reader.close()
        self.starts = list(itertools.accumulate(sizes, initial=0))

    def __len__(self) -> int:
        return self.starts[-1]

    @functools.lru_cache(maxsize=4)  # noqa: B019 - a few open shards, for as long as the sequence lives
    def _reader(self, shard: int):
        return open_reader(self.files[shard])

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"record {index} of {len(self)}")
        index %= len(self)
        shard = bisect.bisect_right(self.starts, index) - 1
        position = index - self.starts[shard]
        raw = self._reader(shard).read([position])[0]
        return decode_record(raw, f"{self.files[shard]}, record {position}")

    def __iter__(self) -> Iterator[dict]:
        for shard, file in enumerate(self.files):
            reader = self._reader(shard)
            size = self.starts[shard + 1] - self.starts[shard]
            for first in range(0, size, READ_AHEAD):
                positions = list(range(first, min(first + READ_AHEAD, size)))
                for position, raw in zip(positions, reader.read(positions), strict=True):
                    yield decode_record(raw, f"{file}, record {position}")


class Corpus(Sequence):
    """The real documents of `spec` by position: a `records:` spec's own shards, else a copy under `folder`."""

    def __init__(self, spec: str, folder: Path):
        parsed = SourceSpec.parse(spec)
        if parsed.records is None and not folder.is_dir():
            with staged(folder) as tmp, RecordWriter(tmp, prefix="corpus") as writer:
                for doc in stream_source(spec):
                    writer.write({"kind": "raw", "doc_id": doc.doc_id, "text": doc.text})
        self.records = Records(parsed.records or folder)

    def __len__(self) -> int:
        return len(self.records)

    @staticmethod
    def _document(position: int, record: dict) -> Document:
        return Document(doc_id=str(record.get("doc_id", position)), body=train_text(record))

    def __getitem__(self, index: int) -> Document:
        return self._document(index, self.records[index])

    def __iter__(self) -> Iterator[Document]:
        return (self._document(i, r) for i, r in enumerate(self.records))
