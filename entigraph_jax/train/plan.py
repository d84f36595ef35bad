"""The memory planner, `python -m entigraph_jax.train plan --config configs/X.py [--hardware=v5p-8]
[--model=llama3-8b] [--no_compile]`: per-device memory of a training config before renting anything.

Parameters, optimizer state, gradients and activations (with the config's remat policy) on its mesh,
then a check by lowering and compiling the train step on abstract inputs (no weights are allocated).
`--hardware` names a machine from HARDWARE: the step is compiled for that many fake CPU devices and
the total is compared with its memory. `--model` takes a preset architecture instead of reading
`model.path`, so no checkpoint is needed to ask whether Llama 3 8B CPT fits on a v5p-8.

XLA:CPU computes bfloat16 elementwise work in float32, so with `model.dtype=bfloat16` its compiled
temporaries are larger than a TPU's or GPU's; the estimate counts the compute dtype's bytes.
"""

from __future__ import annotations

import dataclasses

import jax

from entigraph_jax.config import ConfigError
from entigraph_jax.data import load_tokenizer
from entigraph_jax.models import LlamaConfig, ShardingRules, config_from_hf, preset

from .memory import CompiledMemory, GiB, MemoryEstimate, compiled, estimate
from .setup import model_runtime, optim_config, scratch_architecture, validate
from .step import Trainer


@dataclasses.dataclass(frozen=True)
class Hardware:
    devices: int  # JAX devices (one per TPU v4/v5p chip: megacore)
    memory: float  # bytes of HBM per device, as the vendor lists it


HARDWARE = {
    "v4-8": Hardware(4, 32 * GiB),
    "v5e-8": Hardware(8, 16 * GiB),
    "v5p-8": Hardware(4, 95 * GiB),
    "v6e-8": Hardware(8, 32 * GiB),
    "8xA100-80GB": Hardware(8, 80 * GiB),
    "8xH100": Hardware(8, 80 * GiB),
    "8xH200": Hardware(8, 141e9),
}

def use_fake_devices(count: int) -> None:
    """Plan on `count` CPU devices; must run before anything asks JAX for its devices."""
    try:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as e:
        raise ConfigError(f"--hardware: JAX's devices are already set up ({e})") from e


def model_config(config, model: str | None) -> LlamaConfig:
    """The architecture: a preset, the checkpoint's config.json, or the config's own fields."""
    runtime = model_runtime(config)
    if model:
        return preset(model, **runtime)
    if config.model.path:
        return config_from_hf(config.model.path, **runtime)
    if config.tokenizer.path:
        vocab = load_tokenizer(config.tokenizer.path).vocab_size
    else:
        vocab = config.tokenizer.train_vocab_size
    return LlamaConfig(vocab_size=vocab, **scratch_architecture(config), **runtime)


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """Bytes per device of one training config on one machine."""

    setup: str  # the model, mesh, batch and dtypes the figures are for
    memory_per_device: float | None  # the hardware's, or the local accelerator's; None on CPU
    estimate: MemoryEstimate
    compiled: CompiledMemory | None  # XLA's figure for the compiled step (--no_compile: None)
    needed: int  # what the verdict uses: compiled on the real devices, else the estimate


def plan(config, hardware: str | None = None, model: str | None = None, compile_step: bool = True) -> MemoryPlan:
    """Build the trainer for `config` on the (possibly fake) devices and report memory per device."""
    if hardware is not None and hardware not in HARDWARE:
        raise ConfigError(f"--hardware={hardware!r}; known: {', '.join(HARDWARE)}")
    if hardware:
        use_fake_devices(HARDWARE[hardware].devices)
    if model:
        config.model.path = ""  # the architecture is given: no checkpoint to look for
    mesh = validate(config)
    cfg = model_config(config, model)
    trainer = Trainer(cfg, optim_config(config), 1, mesh, ShardingRules())
    batch, seq_len = config.data.global_batch, config.data.seq_len
    est = estimate(trainer, batch, seq_len)
    got = compiled(trainer, batch, seq_len) if compile_step else None
    exact = got is not None and not hardware and jax.default_backend() != "cpu"  # compiled for the real devices
    params, m = cfg.num_params(), config.model
    size = f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
    mesh_text = " ".join(f"{k}={v}" for k, v in mesh.shape.items())
    setup = (f"{size} parameters on {hardware or jax.devices()[0].device_kind}: {mesh.devices.size} devices, mesh "
             f"{mesh_text}; batch {batch} x {seq_len} in {config.optim.microbatches} microbatch(es), remat "
             f"{m.remat}, params {m.param_dtype}, compute {m.dtype}")
    return MemoryPlan(setup, device_memory(hardware), est, got, got.total if exact else est.total)


def device_memory(hardware: str | None) -> float | None:
    """Bytes per device of the named hardware, or what the local accelerator reports (None on CPU)."""
    if hardware:
        return HARDWARE[hardware].memory
    stats = jax.devices()[0].memory_stats()
    return stats.get("bytes_limit") if stats else None


def report(result: MemoryPlan) -> str:
    est, got = result.estimate, result.compiled
    unit, scale = ("GiB", GiB) if est.total >= GiB else ("MiB", 2**20)
    lines = [result.setup, f"per device ({unit})     estimate"]
    lines += [f"  {name.replace('_', ' '):<18} {size / scale:9.2f}" for name, size in dataclasses.asdict(est).items()]
    lines.append(f"  {'total':<18} {est.total / scale:9.2f}")
    if got is not None:
        lines.append(f"compiled step (XLA on {jax.default_backend()}): arguments {got.arguments / scale:.2f} + "
                     f"temporaries {got.temporaries / scale:.2f} = {got.total / scale:.2f} "
                     f"{unit}; estimate / compiled = {est.total / got.total:.2f}")
    if result.memory_per_device:
        need, have = result.needed, result.memory_per_device
        verdict = "fits" if need <= have else "does NOT fit"
        lines.append(f"{verdict}: {need / GiB:.2f} of {have / GiB:.1f} GiB per device ({100 * need / have:.0f}%)")
    return "\n".join(lines)
