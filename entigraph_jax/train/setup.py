"""From a config to the run's parts: checks, distributed start-up, mesh, tokenizer, data, model.

Every check happens here, before any work starts, and fails with a `ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from entigraph_jax.config import ConfigError
from entigraph_jax.data import (
    Document,
    PackedRows,
    Pipeline,
    Tokenizer,
    build_pipeline,
    build_token_cache,
    load_source,
    load_tokenizer,
    subsample,
    train_sentencepiece,
)
from entigraph_jax.models import LlamaConfig, checkpoint_format, config_from_hf, make_mesh
from entigraph_jax.models.attention import choose as choose_attention
from entigraph_jax.models.hub import resolve
from entigraph_jax.models.llama import REMAT_POLICIES

from .step import OptimConfig

LOSS_ON = ("answers", "all")


def initialize_distributed(cfg: ml_collections.ConfigDict) -> None:
    """`jax.distributed.initialize`: automatic on TPU VMs and SLURM; explicit values win."""
    if not cfg.initialize:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU-only clusters and tests
    kwargs = {}
    if cfg.coordinator_address:
        kwargs["coordinator_address"] = cfg.coordinator_address
    if cfg.num_processes > 0:
        kwargs["num_processes"] = cfg.num_processes
    if cfg.process_id >= 0:
        kwargs["process_id"] = cfg.process_id
    jax.distributed.initialize(**kwargs)


def validate(config: ml_collections.ConfigDict, devices=None) -> Mesh:
    """Checks that need no data; returns the (data, fsdp, tensor) mesh the config asks for, over
    `devices` (default: JAX's)."""
    data, model, optim = config.data, config.model, config.optim
    if model.path:
        checkpoint_format(model.path)  # a folder that is not a checkpoint fails here, by name
    if model.remat not in REMAT_POLICIES:
        raise ConfigError(f"config: model.remat={model.remat!r}; expected one of {sorted(REMAT_POLICIES)}")
    if model.logits_chunk < 0 or (data.seq_len > model.logits_chunk > 0 and data.seq_len % model.logits_chunk):
        raise ConfigError(f"config: model.logits_chunk={model.logits_chunk} does not divide data.seq_len="
                          f"{data.seq_len}; use a divisor, or 0 for the whole row's logits at once")
    for key in ("seq_len", "global_batch", "epochs"):
        if data[key] <= 0:
            raise ConfigError(f"config: data.{key}={data[key]} must be positive")
    if optim.microbatches <= 0 or data.global_batch % optim.microbatches:
        raise ConfigError(f"config: data.global_batch={data.global_batch} is not divisible by "
                          f"optim.microbatches={optim.microbatches}")
    try:
        mesh = make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor, devices=devices)
    except ValueError as e:
        raise ConfigError(f"config: {e}") from e
    # what can be told before the architecture is read: the model's own fields are checked again later
    known = types.SimpleNamespace(attention=model.attention, dtype=model.dtype, attn_softcap=0.0, head_dim=None)
    choose_attention(known, data.seq_len, mesh.devices.flat[0].platform)
    batch_shards = mesh.shape["data"] * mesh.shape["fsdp"]
    per_micro = data.global_batch // optim.microbatches
    if per_micro % batch_shards:
        raise ConfigError(f"config: a microbatch of {per_micro} rows (data.global_batch / optim.microbatches) "
                          f"is not divisible by the data axes data x fsdp = {batch_shards}")
    if data.global_batch % jax.process_count():
        raise ConfigError(f"config: data.global_batch={data.global_batch} is not divisible by "
                          f"{jax.process_count()} processes")
    if not 0 <= data.replay_rate < 1 or (data.replay_rate > 0) != bool(data.replay_source):
        raise ConfigError("config: data.replay_rate must be in [0, 1) and set together with data.replay_source")
    return mesh


def prepare_tokenizer(config: ml_collections.ConfigDict, workdir: Path, texts) -> Tokenizer:
    """The configured tokenizer, or (quickstart) a SentencePiece vocabulary trained on the corpus."""
    if config.tokenizer.path or config.model.path:  # a checkpoint brings its own tokenizer
        return load_tokenizer(config.tokenizer.path or resolve(config.model.path), config.tokenizer.add_bos)
    model = workdir / "tokenizer" / "sp.model"
    if not model.is_file():
        train_sentencepiece(texts, model.with_suffix(""), config.tokenizer.train_vocab_size)
    return load_tokenizer(model, config.tokenizer.add_bos)


@dataclasses.dataclass
class Data:
    tokenizer: Tokenizer
    train: Pipeline
    num_tokens: int


def packed_rows(config: ml_collections.ConfigDict, workdir: Path, tokenizer: Tokenizer, docs: list[Document],
                seed: int, fraction: float = 0.0, tokens: int = 0) -> PackedRows:
    """Documents tokenized (through the token cache), ordered by `seed` and packed into rows."""
    cache = build_token_cache(docs, tokenizer, Path(config.data.cache_dir or workdir / "cache"))
    order = subsample(cache, seed, fraction or None, tokens or None)
    if config.data.loss_on not in LOSS_ON:
        raise ConfigError(f"config: data.loss_on={config.data.loss_on!r}; expected one of {LOSS_ON}")
    return PackedRows(cache, order, config.data.seq_len, config.data.mask_documents, config.data.loss_on == "all")


def batches(config: ml_collections.ConfigDict, rows: PackedRows, seed: int, **kwargs) -> Pipeline:
    """The Grain pipeline of global batches over `rows`, as the config's data section sets it up."""
    data = config.data
    return build_pipeline(rows, seed=seed, global_batch=data.global_batch, num_threads=data.num_threads,
                          prefetch=data.prefetch, **kwargs)


def build_data(config: ml_collections.ConfigDict, workdir: Path) -> Data:
    data, seed = config.data, config.seed
    docs = load_source(data.source)
    tokenizer = prepare_tokenizer(config, workdir, (d.text for d in docs))
    train_rows = packed_rows(config, workdir, tokenizer, docs, seed, data.subsample_fraction, data.subsample_tokens)
    replay = None
    if data.replay_source:
        replay = packed_rows(config, workdir, tokenizer, load_source(data.replay_source), seed + 1)
    train = batches(config, train_rows, seed, epochs=data.epochs, replay=replay, replay_rate=data.replay_rate)
    return Data(tokenizer, train, train_rows.num_tokens)


def model_runtime(config: ml_collections.ConfigDict) -> dict:
    """How to run the model (dtypes, remat, attention, logits), whatever its architecture's origin."""
    return {k: config.model[k] for k in ("param_dtype", "dtype", "remat", "attention", "logits_chunk")}


def scratch_architecture(config: ml_collections.ConfigDict) -> dict:
    """The architecture fields of a new model (`model.path` empty; the vocabulary comes from the tokenizer)."""
    return {k: config.model[k] for k in ("hidden_size", "intermediate_size", "num_layers", "num_heads",
                                         "num_kv_heads", "head_dim", "rope_theta", "tie_word_embeddings",
                                         "max_position_embeddings")}


def build_model_config(config: ml_collections.ConfigDict, tokenizer: Tokenizer) -> LlamaConfig:
    model = config.model
    if not model.path:
        cfg = LlamaConfig(vocab_size=tokenizer.vocab_size, bos_token_id=tokenizer.bos_id,
                          eos_token_id=tokenizer.eos_id, **scratch_architecture(config), **model_runtime(config))
    else:
        cfg = config_from_hf(model.path, **model_runtime(config))
    if tokenizer.vocab_size > cfg.vocab_size:
        raise ConfigError(f"config: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                          f"{cfg.vocab_size} embeddings")
    if config.data.seq_len > cfg.max_position_embeddings:
        raise ConfigError(f"config: data.seq_len={config.data.seq_len} exceeds the model's "
                          f"max_position_embeddings={cfg.max_position_embeddings}")
    choose_attention(cfg, config.data.seq_len, jax.devices()[0].platform)  # an impossible choice fails here
    return cfg


def optim_config(config: ml_collections.ConfigDict) -> OptimConfig:
    return OptimConfig(**{f.name: config.optim[f.name] for f in dataclasses.fields(OptimConfig)})


# Keys a rerun may change and still resume its checkpoints (a prefix ending in "." covers a section);
# any other difference from the config stored in the checkpoint is refused by name.
SAFE_ON_RESUME = ("workdir", "max_steps", "log.", "hooks.", "checkpoint.", "export.", "distributed.",
                  "data.num_threads", "data.prefetch", "data.cache_dir", "model.attention", "model.logits_chunk")


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
    return out


def check_resume(config_json: dict, stored: dict | None, workdir: Path) -> None:
    """A rerun resumes only with the config its checkpoint was written with, keys in
    `SAFE_ON_RESUME` aside; otherwise one line naming the keys that differ."""
    if stored is None:
        return
    now, before = _flat(json.loads(json.dumps(config_json))), _flat(stored)
    changed = [k for k in sorted(set(now) | set(before)) if now.get(k) != before.get(k)
               and not any(k == safe or (safe.endswith(".") and k.startswith(safe)) for safe in SAFE_ON_RESUME)]
    if changed:
        shown = ", ".join(f"{k} ({before.get(k)!r} -> {now.get(k)!r})" for k in changed[:6])
        raise ConfigError(f"{workdir}: its checkpoints were written with another config: {shown}"
                          f"{' ...' if len(changed) > 6 else ''}; train in a new --workdir, or change only keys "
                          "safe on resume (max_steps, log.*, hooks.*, checkpoint.*, export.*)")
