"""Quickstart: Raw CPT in miniature on CPU in a few minutes.

Trains a 1000-token SentencePiece vocabulary and a ~1M-parameter Llama on the bundled sample corpus
(ten invented articles), checkpointing as it goes; rerunning resumes. Everything lands in `workdir`.

    python -m entigraph_jax.train --config configs/quickstart.py
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.workdir = "workdir/quickstart"
    c.seed = 0
    c.max_steps = 0  # 0: as many steps as data.epochs take

    c.data = ml_collections.ConfigDict(dict(
        source="sample",  # any load_source spec: quality:..., jsonl:..., records:..., text:...
        seq_len=128, global_batch=8, epochs=40,
        mask_documents=True,  # segment ids: no attention across packed documents
        replay_source="", replay_rate=0.0,  # the paper mixes 0.1 of tokens from RedPajama
        subsample_fraction=0.0, subsample_tokens=0,  # 0: the whole corpus
        eval_source="", cache_dir="", num_threads=2, prefetch=8,
    ))
    c.tokenizer = ml_collections.ConfigDict(dict(path="", train_vocab_size=1000))  # path "": train one
    c.model = ml_collections.ConfigDict(dict(
        init="scratch", path="",  # scratch | hf (a Hugging Face folder) | orbax (from convert)
        hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=32,
        rope_theta=10000.0, tie_word_embeddings=True, max_position_embeddings=2048,
        param_dtype="float32", dtype="float32", remat="none",
    ))
    c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=-1, tensor=1))
    c.optim = ml_collections.ConfigDict(dict(
        lr=3e-3, warmup_fraction=0.05, weight_decay=0.01, b1=0.9, b2=0.95, eps=1e-8,
        clip_norm=1.0, z_loss=0.0, microbatches=1,
    ))
    c.checkpoint = ml_collections.ConfigDict(dict(every_steps=50, keep=2, async_save=True))
    c.log = ml_collections.ConfigDict(dict(every_steps=10, tensorboard=True, wandb_project=""))
    c.eval = ml_collections.ConfigDict(dict(every_steps=0, batches=4))
    c.export = ml_collections.ConfigDict(dict(hf=True, dtype="float32"))
    c.distributed = ml_collections.ConfigDict(dict(
        initialize=False, coordinator_address="", num_processes=0, process_id=-1))
    return c
