"""SBP step 3: new documents from the synthesizer p(d2 | d1), seeded by corpus documents.

Seeds are drawn with a seeded generator, a batch at a time; each is read as the synthesizer was trained
(d1, cut to its end as training cuts it, then the separator) and continued at temperature 1 by default up
to a length cap. A sample that is empty, the seed itself, or a near copy of it (word 3-gram Jaccard
similarity at or above a threshold) is dropped. With `num_docs=0`, batches go on until the kept documents
hold the training tokens the step budget needs (`budget.Budget`), so no synthetic text is repeated.

Records are written as they are made: every `commit_every` seeds the kept documents become a finished
record shard, and `progress.json` (replaced atomically) commits it with the counts and the seed
generator's state. A rerun in the same folder removes shards the progress does not name (made after the
last commit), and continues from the last commit with the same draws and sampling seeds: nothing is
lost, nothing is written twice, and the documents are those of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from entigraph_jax.data import Document, RecordWriter
from entigraph_jax.data.corpus_stats import ngrams, words
from entigraph_jax.data.records import SUFFIX
from entigraph_jax.errors import UserError
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.settings import Settings, at_least, between, positive, setting

from . import hosts


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    tokens = words(text)
    return set(ngrams(tokens, n) or [tuple(tokens)]) if tokens else set()


def is_copy(sample: str, seed: str, threshold: float) -> bool:
    """Empty, the seed verbatim (whitespace aside), or a near copy of it."""
    if not sample.strip() or " ".join(sample.split()) == " ".join(seed.split()):
        return True
    a, b = shingles(sample), shingles(seed)
    return bool(a | b) and len(a & b) / len(a | b) >= threshold


@dataclasses.dataclass(frozen=True)
class SynthesizeSettings(Settings):
    num_docs: int = setting(0, "documents to synthesize (seeds drawn from the corpus); 0: as many as the SBP arm's "
                            "synthetic tokens need (joint.max_steps, real_fraction), so none is seen twice",
                            check=at_least(0))
    temperature: float = setting(1.0, "sampling temperature", check=at_least(0))
    max_new_tokens: int = setting(1024, "length cap of a synthesized document", check=positive)
    max_seed_chars: int = setting(8000, "the seed document is cut to its last this many characters (training "
                                  "keeps d1's end too)", check=positive)
    batch_size: int = setting(16, "seeds decoded together", check=positive)
    near_copy_threshold: float = setting(0.8, "word 3-gram Jaccard with the seed at or above this: dropped as a copy",
                                         check=between(0, 1))
    seed: int = setting(0, "seeds the choice of seeds and the sampling")
    param_dtype: str = setting("float32", "the synthesizer's weights when sampling",
                               choices=("float32", "bfloat16", "float16"))
    commit_every: int = setting(4096, "seeds between commits of the documents made (a record shard each): an "
                                "interrupted synthesis reruns at most this many", check=positive)


class SynthesisError(UserError):
    """Synthesis that keeps nothing."""


@dataclasses.dataclass(frozen=True)
class Synthesized:
    documents: int  # kept documents (kind sbp, with the seed's doc_id), in the folder's record shards
    dropped: int  # samples dropped as empty or as copies of their seed
    tokens: int  # training tokens of the kept documents (BOS + text + EOS, in the training tokenizer)


PROGRESS = "progress.json"
STATE = ("seeds", "documents", "dropped", "tokens")  # the committed counts


class Progress:
    """`progress.json` in the output folder (one per process where several synthesize: `progress-pNNNNN.json`
    beside shards `sbp-pNNNNN-*`): what is committed, and the settings it was made with."""

    def __init__(self, folder: Path, fingerprint: dict, prefix: str):
        self.path = folder / (PROGRESS if prefix == "sbp" else f"progress-{prefix.removeprefix('sbp-')}.json")
        folder.mkdir(parents=True, exist_ok=True)
        saved = json.loads(self.path.read_text()) if self.path.is_file() else None
        if saved and saved["fingerprint"] != fingerprint:
            changed = sorted(k for k in fingerprint if saved["fingerprint"].get(k) != fingerprint[k])
            raise SynthesisError(f"{folder}: synthesized so far with other settings ({', '.join(changed)}); "
                                 "delete the folder to start over")
        self.fingerprint = fingerprint
        self.state = saved or {**dict.fromkeys(STATE, 0), "shards": [], "rng": None}
        own = {p.name for pattern in (f"{prefix}-*{SUFFIX}", f".{prefix}-*{SUFFIX}.tmp") for p in folder.glob(pattern)}
        for stray in own - set(self.state["shards"]):
            (folder / stray).unlink()  # written after the last commit (or half written): made again below

    def commit(self, shards: list[Path], rng: np.random.Generator, **counts) -> None:
        self.state.update(counts, shards=self.state["shards"] + [p.name for p in shards],
                          rng=rng.bit_generator.state)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({**self.state, "fingerprint": self.fingerprint}))
        os.replace(tmp, self.path)


def synthesize(docs: Sequence[Document], sampler: Sampler, settings: SynthesizeSettings, separator: str, folder: Path,
               synthesizer: str = "", target_tokens: int = 0) -> Synthesized:
    """`settings.num_docs` seeds drawn from `docs`, each continued by the synthesizer, the kept documents
    written into `folder` as they are made; with `num_docs=0`, seeds until the kept documents hold
    `target_tokens` training tokens. A rerun in `folder` continues from its last commit. Where several
    processes run it, each makes its share (of the documents, or of the tokens) from seeds of its own."""
    s, tokenizer, process, processes = settings, sampler.tokenizer, hosts.index(), hosts.count()
    wanted, target = hosts.share(s.num_docs), -(-target_tokens // processes)
    prefix = "sbp" if processes == 1 else f"sbp-p{process:05d}"
    fingerprint = {**dataclasses.asdict(s), "separator": separator, "synthesizer": synthesizer,
                   "target_tokens": target_tokens, "documents": len(docs), "process": process, "processes": processes}
    fingerprint.pop("commit_every")
    progress = Progress(Path(folder), fingerprint, prefix)
    rng = np.random.default_rng(s.seed if processes == 1 else [s.seed, process])
    if progress.state["rng"]:
        rng.bit_generator.state = progress.state["rng"]
    start, kept, dropped, tokens = (progress.state[k] for k in STATE)
    goal = f"{wanted} documents" if s.num_docs else f"{target:,} training tokens"
    bar = tqdm(desc=f"synthesize {goal}", unit="doc", total=wanted or None, initial=start, dynamic_ncols=True)
    committed = start
    with RecordWriter(folder, prefix=prefix, shard_bytes=1 << 40) as writer:  # an error drops the uncommitted shard
        while (start < wanted) if s.num_docs else (tokens < target):
            count = min(s.batch_size, wanted - start) if s.num_docs else s.batch_size
            seeds = rng.integers(0, len(docs), size=count)
            batch = [docs[int(i)] for i in seeds]
            seed = s.seed + start if processes == 1 else int(np.random.SeedSequence([s.seed, process, start])
                                                             .generate_state(1)[0])
            params = SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=seed)
            prompts = [d.text[-s.max_seed_chars :] + separator for d in batch]
            samples = sampler.generate(prompts, params)
            for offset, (index, doc, [sample]) in enumerate(zip(seeds, batch, samples, strict=True)):
                if is_copy(sample.text, doc.text, s.near_copy_threshold):
                    dropped += 1
                    continue
                text = sample.text.strip()
                tokens += len(tokenizer.bos()) + len(tokenizer.encode(text)) + 1
                kept += 1
                writer.write({"kind": "sbp", "doc_id": doc.doc_id, "seed_index": int(index),
                              "sample_index": start + offset, "text": text, "finish_reason": sample.finish_reason,
                              "synthesizer": synthesizer, "temperature": s.temperature, "seed": s.seed})
            start += count
            bar.update(count)
            bar.set_postfix(kept=kept, tokens=tokens)
            if not s.num_docs and not kept and start >= 8 * s.batch_size:
                raise SynthesisError(f"synthesis kept none of {start} documents: every one was a copy of its seed")
            done = (start >= wanted) if s.num_docs else (tokens >= target)
            if start - committed >= s.commit_every or done:
                writer.close()
                progress.commit(writer.written, rng, seeds=start, documents=kept, dropped=dropped, tokens=tokens)
                writer.written, committed = [], start
    bar.close()
    return Synthesized(kept, dropped, tokens)
