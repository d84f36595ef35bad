"""The pre-tokenized cache: one int32 token array per document in ArrayRecord, plus their lengths.

A cache folder is named by a hash of what went into it (the documents' text, the tokenizer file,
BOS/EOS settings), so repeated runs and every run of a sweep tokenize a corpus once. It is written
to a temporary folder and renamed when complete: a crash never leaves a cache that looks finished.
Its manifest (`meta.json`) records every shard's size; a cache whose files no longer match it (a
truncated or missing shard) is rebuilt, with one line saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import grain
import numpy as np

from entigraph_jax.outputs import staged

from .chat import chat_template
from .records import RecordWriter, list_shards
from .sources import Document
from .tokenizers import Tokenizer, TokenizerError

TOKEN_DTYPE = np.int32


def cache_key(docs: Sequence[Document], tokenizer: Tokenizer) -> str:
    digest = hashlib.sha256()
    digest.update(Path(tokenizer.path).read_bytes())
    digest.update(f"v5,bos={tokenizer.bos()},eos={tokenizer.eos_id},chat={tokenizer.chat_template}".encode())
    for doc in docs:
        digest.update(doc.text.encode("utf-8"))
        if doc.messages:
            digest.update(json.dumps(doc.messages, ensure_ascii=False).encode("utf-8"))
        if doc.prompt is not None:
            digest.update(b"\x01" + doc.prompt.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:20]


class TokenCache:
    """Random access to the token arrays of a built cache folder. A record is a document's int32
    tokens followed by one uint8 per token: 1 where the token is a training target (everything in a
    plain document, assistant turns in a chat record)."""

    def __init__(self, folder: Path):
        self.folder = folder
        meta = json.loads((folder / "meta.json").read_text())
        self.lengths = np.load(folder / "lengths.npy")
        self.num_tokens = int(self.lengths.sum())
        self.tokenizer = meta["tokenizer"]
        self._source = grain.sources.ArrayRecordDataSource([str(p) for p in list_shards(folder)])

    def __len__(self) -> int:
        return len(self.lengths)

    def documents(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [tokens for tokens, _ in self.documents_with_masks(indices)]

    def documents_with_masks(self, indices: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for raw in self._source.__getitems__([int(i) for i in indices]):
            n = len(raw) // 5
            out.append((np.frombuffer(raw, TOKEN_DTYPE, count=n), np.frombuffer(raw, np.uint8, offset=4 * n)))
        return out


def encode_documents(docs: Sequence[Document], tokenizer: Tokenizer):
    """(tokens, loss mask) per document: BOS + text + EOS, BOS + prompt (no loss) + text + EOS, or a
    chat record through its template."""
    plain = [d for d in docs if not d.messages]
    encoded = iter(tokenizer.encode_batch([d.text for d in plain]))
    prompts = iter(tokenizer.encode_batch([d.prompt for d in plain if d.prompt is not None]))
    template = chat_template(tokenizer) if len(plain) < len(docs) else None
    bos = tokenizer.bos()
    for doc in docs:
        if doc.messages:
            ids, mask = template.encode(doc.messages)
        else:
            prompt = next(prompts) if doc.prompt is not None else []
            text = next(encoded) + [tokenizer.eos_id]
            ids, mask = bos + prompt + text, [1] * len(bos) + [0] * len(prompt) + [1] * len(text)
        yield np.asarray(ids, TOKEN_DTYPE), np.asarray(mask, np.uint8)


def check_cache(folder: Path) -> str:
    """What is wrong with a built cache folder ("" if nothing): files against its manifest."""
    try:
        files = json.loads((folder / "meta.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        return f"unreadable manifest ({type(e).__name__})"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} is {path.stat().st_size} bytes, the manifest says {size}"
    return ""


def finished_cache(folder: Path) -> TokenCache | None:
    """The cache built in `folder`, or None if there is none to reuse (a damaged one is removed, saying so)."""
    if not (folder / "meta.json").is_file():
        return None
    damage = check_cache(folder)
    if not damage:
        return TokenCache(folder)
    print(f"token cache {folder}: {damage}; rebuilding it", file=sys.stderr)
    shutil.rmtree(folder, ignore_errors=True)
    return None


def build_token_cache(
    docs: Sequence[Document], tokenizer: Tokenizer, cache_root: str | os.PathLike, *,
    batch_size: int = 256,
) -> TokenCache:
    """Tokenize `docs` (BOS when the tokenizer adds one, EOS always) into a cache under
    `cache_root`, or reuse the one already built from the same inputs."""
    if tokenizer.eos_id is None:
        raise TokenizerError(f"{tokenizer.path}: the tokenizer has no EOS token to end documents with")
    root = Path(cache_root)
    folder = root / f"tokens-{cache_key(docs, tokenizer)}"
    if (built := finished_cache(folder)) is not None:
        return built
    try:
        with staged(folder) as tmp:
            lengths = []
            with RecordWriter(tmp, prefix="tokens") as writer:
                for start in range(0, len(docs), batch_size):
                    for tokens, mask in encode_documents(docs[start : start + batch_size], tokenizer):
                        writer.write_bytes(tokens.tobytes() + mask.tobytes())
                        lengths.append(len(tokens))
            np.save(tmp / "lengths.npy", np.asarray(lengths, np.int64))
            meta = {"tokenizer": str(tokenizer.path), "documents": len(docs), "tokens": int(sum(lengths)),
                    "doc_ids": [d.doc_id for d in docs],
                    "files": {p.name: p.stat().st_size for p in [*list_shards(tmp), tmp / "lengths.npy"]}}
            (tmp / "meta.json").write_text(json.dumps(meta))
    except OSError:
        if not (folder / "meta.json").is_file():
            raise
        # another process (another host) finished the same cache first
    return TokenCache(folder)
