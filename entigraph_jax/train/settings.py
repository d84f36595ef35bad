"""The training settings: every key with its default, meaning and check. Recipes in `configs/` start
from `base_config()` and change what they need, so every recipe has the same keys (overrides of
unknown keys fail); the command turns the result into `TrainSettings` once, checking every value."""

import dataclasses

import ml_collections

from entigraph_jax.data import TrainedTokenizerSettings, spec_problem
from entigraph_jax.models.attention import IMPLEMENTATIONS
from entigraph_jax.models.hub import HUB_NAME
from entigraph_jax.models.llama import REMAT_POLICIES
from entigraph_jax.settings import SettingError, Settings, at_least, between, positive, section, setting

from . import hooks

LOSS_ON = ("answers", "all")
ROWS = ("packed", "whole")
DTYPES = ("float32", "bfloat16", "float16")


def _shares(value) -> str | None:
    pairs = all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and p[0]
                and isinstance(p[1], int | float) and not isinstance(p[1], bool) and 0 <= p[1] < 1 for p in value)
    if not pairs:
        return "expected (spec, share) pairs, each share in [0, 1)"
    return None if sum(p[1] for p in value) < 1 else "the shares must sum to less than 1 (data.source has the rest)"


@dataclasses.dataclass(frozen=True)
class DataSettings(Settings):
    source: str = setting("", "any load_source spec: quality:..., jsonl:..., records:..., folder:..., hf:..., "
                          "tfds:..., sample", check=spec_problem)
    seq_len: int = setting(2048, "tokens per row", check=positive)
    global_batch: int = setting(16, "rows per step over all devices and hosts", check=positive)
    epochs: int = setting(1, "passes over the (subsampled) corpus", check=positive)
    mask_documents: bool = setting(False, "True: segment ids, no attention across packed documents")
    loss_on: str = setting("answers", "answers: chat assistant turns, a record's text after its prompt | all: "
                           "every token", choices=LOSS_ON)
    rows: str = setting("packed", "packed: records end to end, cut into rows (the paper's CPT) | whole: one record "
                        "per row, cut to fit (its prompt keeps BOS and its end, its text is cut at the end) and "
                        "padded: a prompt is never split from its text (SBP's synthesizer)", choices=ROWS)
    sources: tuple = setting((), "more sources mixed in as (spec, share) pairs, e.g. ((\"quality:articles\", 0.1),): "
                             "each interleaved at exactly its share of the rows (data.source has the rest and is "
                             "seen data.epochs times; the others repeat as often as needed); shares may change "
                             "on resume, from the resumed step on", check=_shares)
    replay_source: str = setting("", "generic text mixed in against forgetting (the paper: RedPajama)",
                                 check=spec_problem)
    replay_rate: float = setting(0.0, "each row replaced by a random replay row with this probability (the "
                                 "paper: 0.1); set together with replay_source", check=between(0, 1, high_open=True))
    subsample_fraction: float = setting(0.0, "keep this share of the corpus (0: all; scaling studies set one)",
                                        check=between(0, 1))
    subsample_tokens: int = setting(0, "keep about this many tokens of the corpus (0: all)", check=at_least(0))
    cache_dir: str = setting("", "where token caches go (\"\": workdir/cache)")
    num_threads: int = setting(4, "Grain worker threads", check=positive)
    prefetch: int = setting(16, "batches read ahead", check=at_least(0))

    def validate(self):
        if (self.replay_rate > 0) != bool(self.replay_source):
            raise SettingError("replay_rate", "set together with data.replay_source (both or neither)")


@dataclasses.dataclass(frozen=True)
class ModelSettings(Settings):
    path: str = setting("", "a checkpoint to start from (Hugging Face or Orbax folder, or a Hub name org/name); "
                        "\"\": a new model")
    hidden_size: int = setting(0, "architecture of a new model (a checkpoint brings its own config.json)",
                               check=at_least(0))
    intermediate_size: int = setting(0, "MLP width of a new model", check=at_least(0))
    num_layers: int = setting(0, "layers of a new model", check=at_least(0))
    num_heads: int = setting(0, "query heads of a new model", check=at_least(0))
    num_kv_heads: int = setting(0, "key/value heads of a new model (GQA when fewer than num_heads)",
                                check=at_least(0))
    head_dim: int = setting(0, "per-head width of a new model", check=at_least(0))
    rope_theta: float = setting(10000.0, "rotary base of a new model", check=positive)
    tie_word_embeddings: bool = setting(False, "a new model's output layer shares the embedding table")
    max_position_embeddings: int = setting(8192, "longest sequence a new model is built for", check=positive)
    param_dtype: str = setting("float32", "dtype of the master weights and optimizer state", choices=DTYPES)
    dtype: str = setting("bfloat16", "compute dtype of matmuls and activations", choices=DTYPES)
    remat: str = setting("none", "none | full | save_dots: recompute activations in the backward pass",
                         choices=tuple(REMAT_POLICIES))
    attention: str = setting("auto", "xla | splash (TPU Pallas kernel) | cudnn (GPU flash) | auto: by platform",
                             choices=IMPLEMENTATIONS)
    logits_chunk: int = setting(512, "tokens of a row whose logits the loss holds at once (0: the whole row)",
                                check=at_least(0))


def _size(value) -> str | None:
    return None if value == -1 or value > 0 else "must be positive, or -1 for all remaining devices"


@dataclasses.dataclass(frozen=True)
class MeshSettings(Settings):
    data: int = setting(1, "data-parallel replicas (-1: all remaining devices)", check=_size)
    fsdp: int = setting(-1, "parameter-sharding axis (-1: all remaining devices)", check=_size)
    tensor: int = setting(1, "tensor-parallel axis, heads and MLP split (-1: all remaining devices)", check=_size)

    def validate(self):
        if (self.data, self.fsdp, self.tensor).count(-1) > 1:
            raise SettingError("fsdp", "at most one of mesh.data, mesh.fsdp and mesh.tensor may be -1")


@dataclasses.dataclass(frozen=True)
class OptimSettings(Settings):
    lr: float = setting(5e-6, "peak learning rate (the paper's for Llama 3 8B)", check=positive)
    warmup_fraction: float = setting(0.05, "share of steps warming up linearly, then cosine to optim.min_lr",
                                     check=between(0, 1))
    weight_decay: float = setting(0.01, "AdamW weight decay (norm scales are not decayed)", check=at_least(0))
    b1: float = setting(0.9, "Adam beta1", check=between(0, 1, high_open=True))
    b2: float = setting(0.95, "Adam beta2", check=between(0, 1, high_open=True))
    eps: float = setting(1e-8, "Adam epsilon", check=positive)
    clip_norm: float = setting(1.0, "global gradient-norm clip", check=positive)
    z_loss: float = setting(0.0, "weight of the log-partition penalty", check=at_least(0))
    microbatches: int = setting(1, "gradient accumulation: the global batch in this many parts", check=positive)
    min_lr: float = setting(0.0, "where the cosine ends (the SBP paper: 5e-5)", check=at_least(0))


@dataclasses.dataclass(frozen=True)
class CheckpointSettings(Settings):
    every_steps: int = setting(500, "save a checkpoint this often (and at the end and on SIGTERM)", check=positive)
    keep: int = setting(2, "checkpoints kept", check=positive)
    async_save: bool = setting(True, "write checkpoints while training goes on")


@dataclasses.dataclass(frozen=True)
class LogSettings(Settings):
    every_steps: int = setting(10, "metrics to metrics.jsonl, TensorBoard and W&B this often", check=positive)
    tensorboard: bool = setting(True, "write tb/ event files")
    wandb_project: str = setting("", "a W&B project to log to (\"\": none; needs pip install 'entigraph-jax[wandb]')")
    local_dir: str = setting("", "local folder for metrics, TensorBoard, tokenizer and export, copied into the "
                             "workdir at each checkpoint (\"\": the workdir itself when local; a temp folder for a "
                             "gs:// workdir)")


@dataclasses.dataclass(frozen=True)
class ExportSettings(Settings):
    hf: bool = setting(False, "write Hugging Face safetensors to workdir/hf at the end (for vLLM, evaluate)")
    dtype: str = setting("bfloat16", "dtype of the exported weights", choices=DTYPES)
    hub_repo: str = setting("", "org/name: upload the export (with its model card) to this Hugging Face Hub "
                            "repository at the end of the run, needs export.hf (\"\": none)")
    hub_private: bool = setting(True, "a repository the upload creates is private (an existing one keeps its "
                                "visibility)")

    def validate(self):
        if self.hub_repo and not self.hf:
            raise SettingError("hub_repo", "needs export.hf=True: the Hub gets the Hugging Face export")
        if self.hub_repo and not HUB_NAME.match(self.hub_repo):
            raise SettingError("hub_repo", "expected a repository name org/name")


@dataclasses.dataclass(frozen=True)
class DistributedSettings(Settings):
    initialize: bool = setting(False, "True on multi-host: automatic on TPU VMs and SLURM, else set below")
    coordinator_address: str = setting("", "host:port of process 0")
    num_processes: int = setting(0, "processes in the job (0: detected)", check=at_least(0))
    process_id: int = setting(-1, "this process (-1: detected)", check=at_least(-1))


def _hook_settings() -> Settings:
    return hooks.settings_type()()


@dataclasses.dataclass(frozen=True)
class TrainSettings(Settings):
    workdir: str = setting("", "the run's folder: checkpoints, metrics, exports (also --workdir)")
    seed: int = setting(0, "seeds initialization, data order and subsampling")
    max_steps: int = setting(0, "0: as many steps as data.epochs take; else at most this many (where the epochs end "
                             "first, they win, and the run says so)", check=at_least(0))
    data: DataSettings = section(DataSettings)
    tokenizer: TrainedTokenizerSettings = section(TrainedTokenizerSettings)
    model: ModelSettings = section(ModelSettings)
    mesh: MeshSettings = section(MeshSettings)
    optim: OptimSettings = section(OptimSettings)
    checkpoint: CheckpointSettings = section(CheckpointSettings)
    log: LogSettings = section(LogSettings)
    hooks: Settings = section(_hook_settings, "periodic work during training, each off until its every_steps > 0")
    export: ExportSettings = section(ExportSettings)
    distributed: DistributedSettings = section(DistributedSettings)

    def validate(self):
        data, chunk = self.data, self.model.logits_chunk
        if data.seq_len > chunk > 0 and data.seq_len % chunk:
            raise SettingError("model.logits_chunk", f"{chunk} does not divide data.seq_len={data.seq_len}; use a "
                               "divisor, or 0 for the whole row's logits at once")
        if data.global_batch % self.optim.microbatches:
            raise SettingError("optim.microbatches", f"{self.optim.microbatches} does not divide "
                               f"data.global_batch={data.global_batch}")


def base_config() -> ml_collections.ConfigDict:
    return TrainSettings().to_config()
