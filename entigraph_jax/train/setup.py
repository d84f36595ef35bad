"""From settings to the run's parts: distributed start-up, mesh, tokenizer, data, model.

The settings checked their own values when they were made; what is checked here needs the machine or
the files (devices, a checkpoint's architecture, the tokenizer's vocabulary), still before any
training starts, each failure a `ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path

import jax
from jax.sharding import Mesh

from entigraph_jax.config import ConfigError, flatten
from entigraph_jax.data import (
    Document,
    Mixture,
    PackedRows,
    Pipeline,
    Rows,
    SourceSpec,
    Tokenizer,
    WholeRows,
    build_pipeline,
    build_source_cache,
    check_vocabulary,
    load_source,
    subsample,
)
from entigraph_jax.models import LlamaConfig, checkpoint_format, config_from_hf, make_mesh, preset
from entigraph_jax.models.attention import choose as choose_attention
from entigraph_jax.models.hf import copy_tokenizer
from entigraph_jax.models.hub import resolve
from entigraph_jax.runs import TrainRun

from .settings import DistributedSettings, ModelSettings, TrainSettings


def initialize_distributed(cfg: DistributedSettings) -> None:
    """`jax.distributed.initialize`: automatic on TPU VMs and SLURM; explicit values win."""
    if not cfg.initialize or jax.distributed.is_initialized():  # SBP's steps start it before their training
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


def validate(config: TrainSettings, devices=None) -> Mesh:
    """Checks that need the machine but no data; returns the (data, fsdp, tensor) mesh the settings
    ask for, over `devices` (default: JAX's)."""
    data, model, optim = config.data, config.model, config.optim
    if model.path:
        checkpoint_format(model.path)  # a folder that is not a checkpoint fails here, by name
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
    return mesh


def prepare_tokenizer(config: TrainSettings, run: TrainRun, texts) -> Tokenizer:
    """The configured tokenizer (a checkpoint brings its own) or, for a new model without one, a
    SentencePiece vocabulary trained on the corpus; recorded in the run folder either way."""
    folder = Path(run.tokenizer_dir)
    tokenizer = config.tokenizer.prepare(folder, texts, resolve(config.model.path) if config.model.path else "")
    if Path(tokenizer.path).parent != folder:
        copy_tokenizer(tokenizer.path, folder)
    run.record_tokenizer(config.tokenizer.add_bos)
    return tokenizer


@dataclasses.dataclass
class Data:
    tokenizer: Tokenizer
    train: Pipeline
    num_tokens: int


def packed_rows(config: TrainSettings, run: TrainRun, tokenizer: Tokenizer, source: str | list[Document],
                seed: int, fraction: float = 0.0, tokens: int = 0, whole: bool = False) -> Rows:
    """Documents (or a source spec: `hf:` ones stream) tokenized through the token cache, ordered by
    `seed` and packed into rows (`whole`: a record per row)."""
    cache = build_source_cache(source, tokenizer, Path(config.data.cache_dir or run.cache))
    order = subsample(cache, seed, fraction or None, tokens or None)
    rows = WholeRows if whole else PackedRows
    return rows(cache, order, config.data.seq_len, config.data.mask_documents, config.data.loss_on == "all")


def batches(config: TrainSettings, rows: Rows, seed: int, **kwargs) -> Pipeline:
    """The Grain pipeline of global batches over `rows`, as the data settings set it up."""
    data = config.data
    return build_pipeline(rows, seed=seed, global_batch=data.global_batch, num_threads=data.num_threads,
                          prefetch=data.prefetch, **kwargs)


def scoring_pipeline(config: TrainSettings, run: TrainRun, tokenizer: Tokenizer, docs: list[Document],
                     seed: int) -> Pipeline:
    """Batches of `docs` packed like the training data, one epoch, the last padded (a source smaller
    than one global batch is scored too): what hooks evaluate on."""
    return batches(config, packed_rows(config, run, tokenizer, docs, seed), seed, pad_last=True)


MIXTURE = "mixture"  # the key of the mixture's phases in the config stored with each checkpoint


def mixture_phases(config: TrainSettings, stored: dict | None, step: int | None, workdir) -> tuple:
    """The shares of `data.sources` by phase: those stored with the checkpoint the run resumes from
    (`step`) and, where this run's shares differ from the last of them, a new phase from that step
    (the change said once). The sources themselves must be those the checkpoints were written with."""
    shares = tuple(share for _, share in config.data.sources)
    if stored is None or step is None:
        return ((0, shares),)
    before = [tuple(pair) for pair in stored.get("data", {}).get("sources", [])]
    if [spec for spec, _ in before] != [spec for spec, _ in config.data.sources]:
        raise ConfigError(f"{workdir}: its checkpoints were written with data.sources "
                          f"{[spec for spec, _ in before]}; on resume only their shares may change")
    phases = tuple((first, tuple(s)) for first, s in stored.get(MIXTURE, [(0, [s for _, s in before])]))
    phases = tuple(phase for phase in phases if phase[0] <= step)
    if phases[-1][1] == shares:
        return phases
    changes = ", ".join(f"{spec} {old:g} -> {new:g}" for (spec, new), old in zip(config.data.sources, phases[-1][1],
                                                                                strict=True) if old != new)
    print(f"train: from step {step} the shares of data.sources change: {changes}; the main corpus has the "
          "rest, and the number of steps (the schedule's length, unless max_steps is set) follows", file=sys.stderr)
    return tuple(phase for phase in phases if phase[0] < step) + ((step, shares),)


def build_data(config: TrainSettings, run: TrainRun, phases: tuple | None = None) -> Data:
    """The tokenizer and the training batches; `phases` (from `mixture_phases`, default: the shares
    as set, from step 0) says when the shares of `data.sources` changed."""
    data, seed = config.data, config.seed
    hub = SourceSpec.parse(data.source).hub  # streamed, never one list: read again where a vocabulary is trained
    source = data.source if hub else load_source(data.source)
    texts = (d.text for d in (hub.stream() if hub else source))
    tokenizer = prepare_tokenizer(config, run, texts)
    whole = data.rows == "whole"
    train_rows = packed_rows(config, run, tokenizer, source, seed, data.subsample_fraction, data.subsample_tokens,
                             whole)
    mixture = Mixture(tuple(packed_rows(config, run, tokenizer, spec, seed + 2 + i, whole=whole)
                            for i, (spec, _) in enumerate(data.sources)),
                      phases or ((0, tuple(share for _, share in data.sources)),)) if data.sources else None
    replay = packed_rows(config, run, tokenizer, data.replay_source, seed + 1) if data.replay_source else None
    train = batches(config, train_rows, seed, epochs=data.epochs, mixture=mixture, replay=replay,
                    replay_rate=data.replay_rate)
    return Data(tokenizer, train, train_rows.num_tokens)


RUNTIME = ("param_dtype", "dtype", "remat", "attention", "logits_chunk")  # how to run any architecture
ARCHITECTURE = tuple(f.name for f in dataclasses.fields(ModelSettings) if f.name not in (*RUNTIME, "path"))


def model_config(config: TrainSettings, tokenizer: Tokenizer | None = None, platform: str | None = None,
                 preset_name: str = "") -> LlamaConfig:
    """The architecture: a preset, the checkpoint's config.json, or a new model's fields with the
    tokenizer's vocabulary (`tokenizer.train_vocab_size` before one is trained); checked against the
    tokenizer, the row length and the attention the platform can run."""
    model = config.model
    runtime = {k: getattr(model, k) for k in RUNTIME}
    if preset_name:
        cfg = preset(preset_name, **runtime)
    elif model.path:
        cfg = config_from_hf(model.path, **runtime)
    else:
        if tokenizer is None and config.tokenizer.path:
            tokenizer = config.tokenizer.load()
        special = {"bos_token_id": tokenizer.bos_id, "eos_token_id": tokenizer.eos_id} if tokenizer else {}
        cfg = LlamaConfig(vocab_size=tokenizer.vocab_size if tokenizer else config.tokenizer.train_vocab_size,
                          **special, **{k: getattr(model, k) for k in ARCHITECTURE}, **runtime)
    if tokenizer is not None:
        check_vocabulary(tokenizer, cfg.vocab_size)
    if config.data.seq_len > cfg.max_position_embeddings:
        raise ConfigError(f"config: data.seq_len={config.data.seq_len} exceeds the model's "
                          f"max_position_embeddings={cfg.max_position_embeddings}")
    choose_attention(cfg, config.data.seq_len, platform or jax.devices()[0].platform)  # an impossible choice fails
    return cfg


# Keys a rerun may change and still resume its checkpoints (a prefix ending in "." covers a section);
# any other difference from the settings stored in the checkpoint is refused by name.
SAFE_ON_RESUME = ("workdir", "max_steps", "log.", "hooks.", "checkpoint.", "export.", "distributed.", MIXTURE,
                  "data.sources",  # its shares: mixture_phases checks that its specs stay
                  "data.num_threads", "data.prefetch", "data.cache_dir", "model.attention", "model.logits_chunk")


def _safe(key: str) -> bool:
    return any(key == safe or (safe.endswith(".") and key.startswith(safe)) for safe in SAFE_ON_RESUME)


def check_resume(config: TrainSettings, stored: dict | None, workdir) -> None:
    """A rerun resumes only with the settings its checkpoint was written with, keys in
    `SAFE_ON_RESUME` aside; otherwise one line naming the keys that differ. Settings written by an
    earlier version may lack keys added since: at their defaults those are accepted (said once), and
    keys this version no longer has are ignored (said once)."""
    if stored is None:
        return
    now, before = flatten(json.loads(json.dumps(config.to_dict()))), flatten(stored)
    defaults = flatten(json.loads(json.dumps(type(config)().to_dict())))
    new = sorted(k for k in set(now) - set(before) if not _safe(k) and now[k] == defaults.get(k))
    gone = sorted(k for k in set(before) - set(now) if not _safe(k))
    changed = [k for k in sorted(set(now) | set(before)) if now.get(k) != before.get(k)
               and k not in new and k not in gone and not _safe(k)]
    if changed:
        shown = ", ".join(f"{k} ({before.get(k)!r} -> {now.get(k)!r})" for k in changed[:6])
        raise ConfigError(f"{workdir}: its checkpoints were written with another config: {shown}"
                          f"{' ...' if len(changed) > 6 else ''}; train in a new --workdir, or change only keys "
                          "safe on resume (max_steps, log.*, hooks.*, checkpoint.*, export.*)")
    if new:
        print(f"train: resuming checkpoints written before these settings existed; taking their defaults: "
              f"{', '.join(f'{k}={now[k]!r}' for k in new)}", file=sys.stderr)
    if gone:
        print(f"train: the stored settings have keys this version no longer uses, ignored: {', '.join(gone)}",
              file=sys.stderr)
