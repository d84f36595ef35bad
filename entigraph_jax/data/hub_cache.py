"""The token cache of a Hub dataset (`hf:`) or of record shards (`records:`), built as its documents stream in.

The cache is named by what it depends on (the dataset's revision, files and options, the tokenizer)
rather than by a hash of the whole text, so a start never reads a billion-token corpus to name it.
It is built in a `.partial` folder one source file at a time: each finished file leaves its shards
and `lengths-NNNNN.npy`, so an interrupted build resumes at the first file not finished. The
finished folder is what `TokenCache` reads: shards in name order (file, then shard), lengths alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .cache import TokenCache, build_token_cache, encode_documents, finished_cache
from .documents import Document
from .hub import HubDataset
from .records import RecordWriter, list_shards
from .sources import load_source, stream_records
from .spec import SourceSpec
from .tokenizers import Tokenizer, TokenizerError

BATCH = 256  # documents tokenized together


def hub_cache_key(dataset: HubDataset, files: list[Path], tokenizer: Tokenizer) -> str:
    digest = hashlib.sha256(dataset.fingerprint(files).encode())
    digest.update(Path(tokenizer.path).read_bytes())
    digest.update(f"v5,bos={tokenizer.bos()},eos={tokenizer.eos_id},chat={tokenizer.chat_template}".encode())
    return digest.hexdigest()[:20]


def build_hub_cache(dataset: HubDataset, tokenizer: Tokenizer, cache_root: str | os.PathLike) -> TokenCache:
    """Tokenize the dataset's split (BOS when the tokenizer adds one, EOS always) into a cache under
    `cache_root`, up to `max_documents` / about `max_tokens`; reuse a finished one, resume a partial one."""
    if tokenizer.eos_id is None:
        raise TokenizerError(f"{tokenizer.path}: the tokenizer has no EOS token to end documents with")
    files = dataset.files()
    folder = Path(cache_root) / f"tokens-{dataset.cache_prefix}-{hub_cache_key(dataset, files, tokenizer)}"
    if (built := finished_cache(folder)) is not None:
        return built
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    done = sorted(partial.glob("lengths-*.npy"))
    start = len(done)
    for stale in partial.glob(f"tokens-{start:05d}-*"):  # the shards of the file a crash interrupted
        stale.unlink()
    tokens = sum(int(np.load(p).sum()) for p in done)
    if start:
        print(f"{dataset.spec}: resuming the token cache at file {start + 1} of {len(files)}", file=sys.stderr)
    capped = bool(dataset.max_tokens) and tokens >= dataset.max_tokens
    stream = dataset.documents(files, start) if not capped else iter(())
    current, batch, lengths = start, [], []

    def flush(writer):
        nonlocal tokens
        for ids, mask in encode_documents(batch, tokenizer):
            if dataset.max_tokens and tokens >= dataset.max_tokens:  # the cap ends the cache at a document
                break
            writer.write_bytes(ids.tobytes() + mask.tobytes())
            lengths.append(len(ids))
            tokens += len(ids)
        batch.clear()

    writer = RecordWriter(partial, prefix=f"tokens-{current:05d}")
    for number, doc in stream:
        if number != current:  # the previous file is finished
            flush(writer)
            writer.close()
            np.save(partial / f"lengths-{current:05d}.npy", np.asarray(lengths, np.int64))
            current, lengths = number, []
            writer = RecordWriter(partial, prefix=f"tokens-{current:05d}")
        if doc.text:
            batch.append(doc)
        if len(batch) == BATCH:
            flush(writer)
            if dataset.max_tokens and tokens >= dataset.max_tokens:
                break
    flush(writer)
    writer.close()
    if not capped:
        np.save(partial / f"lengths-{current:05d}.npy", np.asarray(lengths, np.int64))
    return _finish(partial, folder, dataset, tokenizer)


@dataclasses.dataclass(frozen=True)
class RecordShards:
    """A `records:` source as `build_hub_cache` streams it: its shards are the files, a shard at a time."""

    location: str
    spec: str
    cache_prefix = "records"
    split, field, max_tokens = "records", "text", 0  # what the cache's messages and caps read

    def files(self) -> list[Path]:
        return list_shards(self.location)

    def fingerprint(self, files: list[Path]) -> str:
        """Each shard's name, size and modification time (the text itself is not hashed)."""
        digest = hashlib.sha256(self.spec.encode())
        for path in files:
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:20]

    def documents(self, files: list[Path], start: int = 0) -> Iterator[tuple[int, Document]]:
        """(shard number, document) from files[start:] on, as `load_source` reads them."""
        for number, path in enumerate(files[start:], start):
            for doc in stream_records(str(path)):
                yield number, doc


def build_source_cache(source: str | Sequence[Document], tokenizer: Tokenizer,
                       cache_root: str | os.PathLike) -> TokenCache:
    """The token cache of a source: an `hf:` or `records:` spec streamed a file at a time, any other spec
    (or documents) loaded."""
    if isinstance(source, str):
        parsed = SourceSpec.parse(source)
        if parsed.hub:
            return build_hub_cache(parsed.hub, tokenizer, cache_root)
        if parsed.records:
            return build_hub_cache(RecordShards(str(parsed.records), source), tokenizer, cache_root)
    return build_token_cache(load_source(source) if isinstance(source, str) else source, tokenizer, cache_root)


def _finish(partial: Path, folder: Path, dataset: HubDataset, tokenizer: Tokenizer) -> TokenCache:
    """Join the files' lengths, write the manifest and move the folder into place."""
    lengths = np.concatenate([np.load(p) for p in sorted(partial.glob("lengths-*.npy"))] or [np.zeros(0, np.int64)])
    if not len(lengths):
        shutil.rmtree(partial, ignore_errors=True)
        raise TokenizerError(f"{dataset.spec}: no text in split {dataset.split!r} (field {dataset.field!r})")
    for path in partial.glob("lengths-*.npy"):
        path.unlink()
    np.save(partial / "lengths.npy", lengths)
    files = [*list_shards(partial), partial / "lengths.npy"]
    meta = {"tokenizer": str(tokenizer.path), "source": dataset.spec, "documents": len(lengths),
            "tokens": int(lengths.sum()), "files": {p.name: p.stat().st_size for p in files}}
    (partial / "meta.json").write_text(json.dumps(meta))
    os.replace(partial, folder)
    return TokenCache(folder)
