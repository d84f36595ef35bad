"""The training config schema with its defaults; recipes in `configs/` start from `base_config()`
and change what they need, so every recipe has the same keys (overrides of unknown keys fail)."""

import ml_collections

from . import hooks


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.workdir = ""  # the run's folder: checkpoints, metrics, exports (also --workdir)
    c.seed = 0  # seeds initialization, data order and subsampling
    c.max_steps = 0  # 0: as many steps as data.epochs take
    c.data = ml_collections.ConfigDict(dict(
        source="",  # any load_source spec: quality:..., jsonl:..., records:..., text:..., tfds:..., sample
        seq_len=2048,  # tokens per row
        global_batch=16,  # rows per step over all devices and hosts
        epochs=1,  # passes over the (subsampled) corpus
        mask_documents=False,  # True: segment ids, no attention across packed documents
        loss_on="answers",  # answers: chat assistant turns, a record's text after its prompt | all: every token
        replay_source="",  # generic text mixed in against forgetting (the paper: RedPajama)
        replay_rate=0.0,  # each row replaced by a random replay row with this probability (the paper: 0.1)
        subsample_fraction=0.0,  # keep this share of the corpus (0: all; scaling studies set one)
        subsample_tokens=0,  # keep about this many tokens of the corpus (0: all)
        cache_dir="",  # where token caches go ("": workdir/cache)
        num_threads=4,  # Grain worker threads
        prefetch=16,  # batches read ahead
    ))
    c.tokenizer = ml_collections.ConfigDict(dict(
        path="",  # a .model, tokenizer.json or folder with one; "": model.path's, or a SentencePiece one is trained
        train_vocab_size=0,  # the vocabulary size when training one on the corpus
        add_bos="auto",  # auto: BOS before each document as the tokenizer does (Llama: yes, Qwen: no) | always | never
    ))
    c.model = ml_collections.ConfigDict(dict(
        path="",  # a checkpoint to start from (Hugging Face or Orbax folder, or a Hub name org/name); "": a new model
        hidden_size=0,  # architecture of a new model (a checkpoint brings its own config.json)
        intermediate_size=0,  # MLP width of a new model
        num_layers=0,  # layers of a new model
        num_heads=0,  # query heads of a new model
        num_kv_heads=0,  # key/value heads of a new model (GQA when fewer than num_heads)
        head_dim=0,  # per-head width of a new model
        rope_theta=10000.0,  # rotary base of a new model
        tie_word_embeddings=False,  # a new model's output layer shares the embedding table
        max_position_embeddings=8192,  # longest sequence a new model is built for
        param_dtype="float32",  # dtype of the master weights and optimizer state
        dtype="bfloat16",  # compute dtype of matmuls and activations
        remat="none",  # none | full | save_dots: recompute activations in the backward pass
        attention="auto",  # xla | splash (TPU Pallas kernel) | cudnn (GPU flash) | auto: by platform
        logits_chunk=512,  # tokens of a row whose logits the loss holds at once (0: the whole row)
    ))
    c.mesh = ml_collections.ConfigDict(dict(
        data=1,  # data-parallel replicas
        fsdp=-1,  # parameter-sharding axis (-1: all remaining devices)
        tensor=1,  # tensor-parallel axis (heads and MLP split)
    ))
    c.optim = ml_collections.ConfigDict(dict(
        lr=5e-6,  # peak learning rate (the paper's for Llama 3 8B)
        warmup_fraction=0.05,  # share of steps warming up linearly, then cosine to zero
        weight_decay=0.01,  # AdamW weight decay (norm scales are not decayed)
        b1=0.9,  # Adam beta1
        b2=0.95,  # Adam beta2
        eps=1e-8,  # Adam epsilon
        clip_norm=1.0,  # global gradient-norm clip
        z_loss=0.0,  # weight of the log-partition penalty
        microbatches=1,  # gradient accumulation: the global batch in this many parts
    ))
    c.checkpoint = ml_collections.ConfigDict(dict(
        every_steps=500,  # save a checkpoint this often (and at the end and on SIGTERM)
        keep=2,  # checkpoints kept
        async_save=True,  # write checkpoints while training goes on
    ))
    c.log = ml_collections.ConfigDict(dict(
        every_steps=10,  # metrics to metrics.jsonl, TensorBoard and W&B this often
        tensorboard=True,  # write tb/ event files
        wandb_project="",  # a W&B project to log to ("": none; needs pip install wandb)
        local_dir="",  # local folder for metrics, TensorBoard, tokenizer and export, copied into the workdir at
        # each checkpoint ("": the workdir itself when local; a temp folder for a gs:// workdir)
    ))
    c.hooks = hooks.settings()  # periodic work during training, each hook off until its every_steps > 0
    c.export = ml_collections.ConfigDict(dict(
        hf=False,  # write Hugging Face safetensors to workdir/hf at the end (for vLLM, evaluate)
        dtype="bfloat16",  # dtype of the exported weights
    ))
    c.distributed = ml_collections.ConfigDict(dict(
        initialize=False,  # True on multi-host: automatic on TPU VMs and SLURM, else set below
        coordinator_address="",  # host:port of process 0
        num_processes=0,  # processes in the job (0: detected)
        process_id=-1,  # this process (-1: detected)
    ))
    return c
