"""Tokens/s through the whole data pipeline on this machine, in one run:

  (a) cold: tokenizing on the fly with a 32k SentencePiece vocabulary (building the token cache)
      and then packing, shuffling and batching every row once;
  (b) warm: the same batches from the pre-tokenized cache.

Target for (b): >= 1M tokens/s, and >= 10x what a tiny-Llama training step (the quickstart's
scale, measured here too) consumes.

    python benchmarks/data_pipeline.py [--words 3000000 --seq 2048 --batch 16]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from model_step import jax_step_fn

from entigraph_jax.data import (
    Document,
    PackedRows,
    build_pipeline,
    build_token_cache,
    load_tokenizer,
    subsample,
    train_sentencepiece,
)
from entigraph_jax.models import LlamaConfig


def synthetic_corpus(num_words: int, seed: int = 0) -> list[Document]:
    """Zipf-distributed pseudo-words in ~400-word documents: enough variety for a 32k vocabulary."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lexicon = ["".join(rng.choice(letters, rng.integers(2, 11))) for _ in range(60000)]
    ranks = np.minimum(rng.zipf(1.2, num_words), len(lexicon)) - 1
    words = [lexicon[r] for r in ranks]
    return [Document(str(i), " ".join(words[i : i + 400]) + ".") for i in range(0, num_words, 400)]


def drain(pipeline) -> int:
    tokens = 0
    for batch in pipeline.iterator():
        tokens += batch["inputs"].size
    return tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=3_000_000)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    docs = synthetic_corpus(args.words)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model = train_sentencepiece((d.text for d in docs[:2000]), Path(tmp) / "sp", args.vocab)
        print(f"trained a {args.vocab}-token SentencePiece model in {time.perf_counter() - start:.1f} s")
        tokenizer = load_tokenizer(model)
        assert tokenizer.vocab_size == args.vocab

        def pipeline(cache):
            rows = PackedRows(cache, subsample(cache, seed=0), args.seq, mask_documents=True)
            return build_pipeline(rows, global_batch=args.batch, seed=0)

        start = time.perf_counter()
        cache = build_token_cache(docs, tokenizer, Path(tmp) / "cache")
        cold_tokens = drain(pipeline(cache))
        cold = cold_tokens / (time.perf_counter() - start)

        start = time.perf_counter()
        cache = build_token_cache(docs, tokenizer, Path(tmp) / "cache")  # found: no tokenizing
        warm_tokens = drain(pipeline(cache))
        warm = warm_tokens / (time.perf_counter() - start)

    # what a tiny Llama's training step consumes (the quickstart's scale), on the same machine
    tiny = LlamaConfig(vocab_size=4096, hidden_size=256, intermediate_size=1024, num_layers=4,
                       num_heads=4, num_kv_heads=4, head_dim=64, dtype="float32")
    step = jax_step_fn(tiny, np.random.default_rng(0).integers(0, 4096, (8, 257), np.int32))
    step(), step()
    start = time.perf_counter()
    for _ in range(5):
        step()
    train = 5 * 8 * 256 / (time.perf_counter() - start)

    print(f"corpus: {len(docs)} documents, {cache.num_tokens} tokens; rows of {args.seq}, batch {args.batch}")
    print(f"(a) tokenizing on the fly: {cold / 1e6:6.2f} M tokens/s")
    print(f"(b) from the token cache:  {warm / 1e6:6.2f} M tokens/s (target >= 1M)")
    print(f"tiny-Llama training step consumes {train / 1e3:.1f} k tokens/s; cache is {warm / train:.0f}x that "
          f"(target >= 10x)")


if __name__ == "__main__":
    main()
