"""The SBP config schema: one config for the four steps; recipes in `configs/sbp_*.py` start here."""

import ml_collections

from entigraph_jax.train.defaults import base_config as train_config


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.workdir = ""
    c.corpus = ""  # any load_source spec: the real documents (seeds, pairs, and the real share of step 4)
    c.separator = "\n\n### Related document:\n\n"  # between d1 and d2, in training and in synthesis
    c.tokenizer = ml_collections.ConfigDict(dict(path="", train_vocab_size=0))  # path "": train one on corpus
    c.embedder = ml_collections.ConfigDict(dict(kind="hashing", model="", base_url="", key_file="", cache_dir=""))
    c.mine = ml_collections.ConfigDict(dict(
        k=8,  # neighbours looked at per document
        min_similarity=0.5, max_similarity=0.95,  # related, but not a near-duplicate
        index="exact",  # exact (blocked matmuls on the accelerator) | faiss (HNSW, optional package)
        block=1024,
    ))
    c.synthesizer = train_config()  # step 2; data.source and tokenizer.path are filled in
    c.synthesize = ml_collections.ConfigDict(dict(
        num_docs=1024, temperature=1.0, max_new_tokens=1024, max_seed_chars=8000, batch_size=16,
        near_copy_threshold=0.8, seed=0, dtype="float32",  # dtype: the synthesizer's weights when sampling
    ))
    # step 4: the same model and compute (joint.max_steps) for SBP (synthetic + real) and the
    # baseline that repeats the real documents; data sources are filled in
    c.joint = train_config()
    c.real_fraction = 0.5  # share of real tokens in SBP's joint training
    c.eval_source = ""  # held-out documents both step-4 runs are scored on
    return c
