"""SBP step 3: new documents from the synthesizer p(d2 | d1), seeded by corpus documents.

Seeds are drawn with a seeded generator, a batch at a time; each is read as the synthesizer was trained
(d1, cut to its end as training cuts it, then the separator) and continued at temperature 1 by default up
to a length cap. A sample that is empty, the seed itself, or a near copy of it (word 3-gram Jaccard
similarity at or above a threshold) is dropped. With `num_docs=0`, batches go on until the kept documents
hold the training tokens the step budget needs (`budget.Budget`), so no synthetic text is repeated.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tqdm import tqdm

from entigraph_jax.data import Document
from entigraph_jax.data.corpus_stats import ngrams, words
from entigraph_jax.errors import UserError
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.settings import Settings, at_least, between, positive, setting


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


class SynthesisError(UserError):
    """Synthesis that keeps nothing."""


@dataclasses.dataclass(frozen=True)
class Synthesized:
    records: list[dict]  # kept documents (kind sbp, with the seed's doc_id)
    dropped: int  # samples dropped as empty or as copies of their seed
    tokens: int  # training tokens of the kept documents (BOS + text + EOS, in the training tokenizer)


def synthesize(docs: list[Document], sampler: Sampler, settings: SynthesizeSettings, separator: str,
               synthesizer: str = "", target_tokens: int = 0) -> Synthesized:
    """`settings.num_docs` seeds drawn from `docs`, each continued by the synthesizer; with `num_docs=0`,
    seeds until the kept documents hold `target_tokens` training tokens."""
    s, tokenizer = settings, sampler.tokenizer
    rng = np.random.default_rng(s.seed)
    goal = f"{s.num_docs} documents" if s.num_docs else f"{target_tokens:,} training tokens"
    records, dropped, tokens, start = [], 0, 0, 0
    progress = tqdm(desc=f"synthesize {goal}", unit="doc", total=s.num_docs or None, dynamic_ncols=True)
    while (start < s.num_docs) if s.num_docs else (tokens < target_tokens):
        count = min(s.batch_size, s.num_docs - start) if s.num_docs else s.batch_size
        batch = [docs[i] for i in rng.integers(0, len(docs), size=count)]
        params = SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=s.seed + start)
        prompts = [d.text[-s.max_seed_chars :] + separator for d in batch]
        for offset, (doc, [sample]) in enumerate(zip(batch, sampler.generate(prompts, params), strict=True)):
            if is_copy(sample.text, doc.text, s.near_copy_threshold):
                dropped += 1
                continue
            text = sample.text.strip()
            tokens += len(tokenizer.bos()) + len(tokenizer.encode(text)) + 1
            records.append({"kind": "sbp", "doc_id": doc.doc_id, "sample_index": start + offset, "text": text,
                            "finish_reason": sample.finish_reason, "synthesizer": synthesizer,
                            "temperature": s.temperature, "seed": s.seed})
        start += count
        progress.update(count)
        progress.set_postfix(kept=len(records), tokens=tokens)
        if not s.num_docs and not records and start >= 8 * s.batch_size:
            raise SynthesisError(f"synthesis kept none of {start} documents: every one was a copy of its seed")
    progress.close()
    return Synthesized(records, dropped, tokens)
