"""The SBP config schema: one config for the four steps; recipes in `configs/sbp_*.py` start here."""

import ml_collections

from entigraph_jax.train.defaults import base_config as train_config


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.workdir = ""  # every step's output goes under this folder (also --workdir)
    c.corpus = ""  # any load_source spec: the real documents (seeds, pairs, and the real share of step 4)
    c.separator = "\n\n### Related document:\n\n"  # between d1 and d2, in training and in synthesis
    c.tokenizer = ml_collections.ConfigDict(dict(
        path="",  # a .model, tokenizer.json or folder; "": train a SentencePiece one on the corpus
        train_vocab_size=0,  # the vocabulary size when training one
    ))
    c.embedder = ml_collections.ConfigDict(dict(
        kind="hashing",  # hashing (offline) | openai (an /embeddings endpoint) | gemini
        model="",  # the embedding model's name (openai, gemini)
        base_url="",  # the /embeddings server (openai) or Gemini endpoint ("": the default)
        key_file="",  # a file whose first line is the key, if not in the environment
        cache_dir="",  # embedding cache ("": none)
    ))
    c.mine = ml_collections.ConfigDict(dict(
        k=8,  # neighbours looked at per document
        min_similarity=0.5,  # pairs at least this similar are related ...
        max_similarity=0.95,  # ... and below this they are not near-duplicates
        index="exact",  # exact (blocked matmuls on the accelerator) | faiss (HNSW, the ann extra)
        block=1024,  # documents per block of the exact search
    ))
    c.synthesizer = train_config()  # step 2: training of p(d2 | d1); data.source and tokenizer.path are filled in
    c.synthesizer_init = "baseline"  # baseline: fine-tune the baseline's checkpoint (the paper) | config: as set
    c.synthesize = ml_collections.ConfigDict(dict(
        num_docs=1024,  # documents to synthesize (seeds drawn from the corpus)
        temperature=1.0,  # sampling temperature
        max_new_tokens=1024,  # length cap of a synthesized document
        max_seed_chars=8000,  # the seed document is cut to this many characters
        batch_size=16,  # seeds decoded together
        near_copy_threshold=0.8,  # word 3-gram Jaccard with the seed at or above this: dropped as a copy
        seed=0,  # seeds the choice of seeds and the sampling
        dtype="float32",  # the synthesizer's weights when sampling
    ))
    c.joint = train_config()  # every arm's training: the same model and compute (joint.max_steps)
    c.real_fraction = 0.5  # share of real tokens in SBP's joint training
    c.oracle_corpus = ""  # more unique real documents: an oracle arm at the same budget ("": none)
    c.eval_source = ""  # held-out documents every arm is scored on (loss)
    c.downstream_source = ""  # documents with QuALITY-style questions: every arm's log-likelihood accuracy
    return c
