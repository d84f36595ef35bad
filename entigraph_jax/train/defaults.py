"""The training config schema with its defaults; recipes in `configs/` start from `base_config()`
and change what they need, so every recipe has the same keys (overrides of unknown keys fail)."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.workdir = ""
    c.seed = 0
    c.max_steps = 0  # 0: as many steps as data.epochs take

    c.data = ml_collections.ConfigDict(dict(
        source="",  # any load_source spec: quality:..., jsonl:..., records:..., text:..., tfds:..., sample
        seq_len=2048, global_batch=16, epochs=1,
        mask_documents=False,  # True: segment ids, no attention across packed documents
        replay_source="", replay_rate=0.0,  # the paper mixes 0.1 of tokens from RedPajama
        subsample_fraction=0.0, subsample_tokens=0,  # 0: the whole corpus (scaling studies set one)
        eval_source="", cache_dir="", num_threads=4, prefetch=16,
    ))
    c.tokenizer = ml_collections.ConfigDict(dict(path="", train_vocab_size=0))  # path "": train one
    c.model = ml_collections.ConfigDict(dict(
        init="scratch", path="",  # scratch | hf (a Hugging Face folder) | orbax (from convert)
        # architecture, used by init="scratch" (hf and orbax read it from the checkpoint's config.json)
        hidden_size=0, intermediate_size=0, num_layers=0, num_heads=0, num_kv_heads=0, head_dim=0,
        rope_theta=10000.0, tie_word_embeddings=False, max_position_embeddings=8192,
        param_dtype="float32", dtype="bfloat16", remat="none",  # remat: none | full | save_dots
    ))
    c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=-1, tensor=1))  # -1: all remaining devices
    c.optim = ml_collections.ConfigDict(dict(
        lr=5e-6, warmup_fraction=0.05, weight_decay=0.01, b1=0.9, b2=0.95, eps=1e-8,
        clip_norm=1.0, z_loss=0.0, microbatches=1,
    ))
    c.checkpoint = ml_collections.ConfigDict(dict(every_steps=500, keep=2, async_save=True))
    c.log = ml_collections.ConfigDict(dict(every_steps=10, tensorboard=True, wandb_project=""))
    c.eval = ml_collections.ConfigDict(dict(
        every_steps=0, batches=16,  # held-out loss on data.eval_source
        quality_source="", quality_questions=0,  # QuALITY log-likelihood accuracy (0: every question)
    ))
    c.export = ml_collections.ConfigDict(dict(hf=False, dtype="bfloat16"))  # safetensors for vLLM
    c.distributed = ml_collections.ConfigDict(dict(
        initialize=False,  # True on multi-host: automatic on TPU VMs and SLURM, else set below
        coordinator_address="", num_processes=0, process_id=-1))
    return c
