"""The memory planner, `python -m entigraph_jax.train plan --config configs/X.py [--hardware=v5p-8]
[--model=llama3-8b] [--no_compile]`: per-device memory of a training config before renting anything.

Parameters, optimizer state, gradients and activations (with the config's remat policy) on its mesh,
an estimate by parts (memory.py), then the answer: the train step lowered and compiled on abstract
inputs (no weights are allocated) and the compiler's own per-device figure. `--hardware` names a
machine from `hardware.HARDWARE`: a TPU slice is compiled for by the TPU compiler when libtpu is
installed (the figure is the chip's own); otherwise, and for GPU machines, by XLA:CPU for as many
fake devices, and the verdict uses the estimate. `--model` takes a preset architecture instead of
reading `model.path`, so no checkpoint is needed to ask whether Llama 3 8B CPT fits on a v5p-8.
"""

from __future__ import annotations

import dataclasses

import jax

from entigraph_jax.models import ShardingRules
from entigraph_jax.models.attention import choose

from .hardware import HARDWARE, TPU_EXTRA, Hardware, devices_for, lookup
from .memory import ESTIMATE_ERROR, CompiledMemory, GiB, MemoryEstimate, compiled, estimate, fits_by_estimate
from .settings import TrainSettings
from .setup import model_config, validate
from .step import Trainer


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """Bytes per device of one training config on one machine."""

    setup: str  # the model, mesh, batch and dtypes the figures are for
    memory_per_device: float | None  # the hardware's, or the local accelerator's; None on CPU
    estimate: MemoryEstimate
    compiled: CompiledMemory | None  # the compiler's figure for the step (--no_compile: None)
    compiler: str  # which compiler produced `compiled`, for whom
    exact: bool  # `compiled` comes from the hardware's own compiler
    note: str = ""  # how to get an exact figure where it is not
    duration: str = ""  # the run's tokens and expected hours on the hardware (max_steps and --hardware set)


ASSUMED_MFU = 0.4  # for the expected hours: a share of the spec's peak that a well-run step reaches, not measured


def duration(config: TrainSettings, cfg, machine: Hardware) -> str:
    """The run's training tokens and its hours on `machine` at ASSUMED_MFU of the vendor's peak."""
    seq_len = config.data.seq_len
    tokens = config.max_steps * config.data.global_batch * seq_len
    flops = cfg.train_flops_per_token(seq_len) * tokens
    hours = flops / (machine.devices * machine.peak_flops * ASSUMED_MFU) / 3600
    return (f"time: {config.max_steps} steps x {config.data.global_batch} x {seq_len} = {tokens / 1e9:.3g}B tokens, "
            f"{flops:.3g} FLOPs: {hours:.1f} hours at an assumed {ASSUMED_MFU:.0%} MFU of {machine.devices} x "
            f"{machine.peak_flops / 1e12:.0f} TFLOP/s ({machine.kind} bf16 spec; the MFU is not measured)")


def plan(config: TrainSettings, hardware: str | None = None, model: str | None = None,
         compile_step: bool = True) -> MemoryPlan:
    """Build the trainer for `config` on the named hardware's devices (a TPU slice's own when libtpu
    is installed, fake CPU devices otherwise) or JAX's, and report memory per device."""
    machine = lookup(hardware) if hardware else None
    devices, own_compiler = devices_for(machine) if machine else (None, False)
    if model:
        config = config.override({"model.path": ""})  # the architecture is given: no checkpoint to look for
    mesh = validate(config, devices)
    platform = mesh.devices.flat[0].platform
    cfg = model_config(config, platform=platform, preset_name=model or "")
    trainer = Trainer(cfg, config.optim, 1, mesh, ShardingRules())
    batch, seq_len = config.data.global_batch, config.data.seq_len
    est = estimate(trainer, batch, seq_len)
    compiler = f"the TPU compiler for {hardware}" if own_compiler else f"XLA on {platform}"
    if compile_step:  # the estimate is ready at once; a compiler may take minutes on a large model
        print(f"estimate: {est.total / 2**30:.2f} GiB per device; compiling the step with {compiler} for its own "
              "figure...", flush=True)
    got = compiled(trainer, batch, seq_len) if compile_step else None
    exact = got is not None and (own_compiler or (not hardware and platform != "cpu"))
    note = ""
    if machine and machine.is_tpu and not own_compiler:
        note = ("the TPU compiler is not installed, so the verdict uses the estimate; for the chip's own figure: "
                + TPU_EXTRA)
    params, m = cfg.num_params(), config.model
    size = f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
    mesh_text = " ".join(f"{k}={v}" for k, v in mesh.shape.items())
    setup = (f"{size} parameters on {hardware or mesh.devices.flat[0].device_kind}: {mesh.devices.size} devices, "
             f"mesh {mesh_text}; batch {batch} x {seq_len} in {config.optim.microbatches} microbatch(es), remat "
             f"{m.remat}, attention {choose(cfg, seq_len, platform)}, logits "
             f"{f'in chunks of {min(cfg.logits_chunk, seq_len)}' if cfg.logits_chunk else 'whole'}, "
             f"params {m.param_dtype}, compute {m.dtype}")
    time = duration(config, cfg, machine) if machine and config.max_steps else ""
    return MemoryPlan(setup, device_memory(hardware), est, got, compiler, exact, note, time)


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
    if got is not None and got.out_of_memory:
        lines.append(f"compiled step ({result.compiler}): out of memory; the compiler stopped at temporaries "
                     f"{got.temporaries / scale:.2f} + arguments {got.arguments / scale:.2f} = at least "
                     f"{got.total / scale:.2f} {unit}; estimate / compiled = {est.total / got.total:.2f}")
    elif got is not None:
        lines.append(f"compiled step ({result.compiler}): arguments {got.arguments / scale:.2f} + temporaries "
                     f"{got.temporaries / scale:.2f} + outputs {got.outputs / scale:.2f} = {got.total / scale:.2f} "
                     f"{unit}; estimate / compiled = {est.total / got.total:.2f}")
    if result.memory_per_device:
        have = result.memory_per_device
        need, source = (got.total, "compiled") if result.exact else (est.total, "estimate")
        verdict = "fits" if need <= have else "does NOT fit"
        spare = f"headroom {(have - need) / GiB:.2f} GiB" if need <= have else f"short by {(need - have) / GiB:.2f} GiB"
        if need <= have and not result.exact and not fits_by_estimate(need, have):
            verdict, spare = "may NOT fit", f"{spare}, less than the estimate's error ({ESTIMATE_ERROR:.0%})"
        at_least = "at least " if result.exact and got.out_of_memory else ""
        lines.append(f"{verdict} ({source}): {at_least}{need / GiB:.2f} of {have / GiB:.1f} GiB per device "
                     f"({100 * need / have:.0f}%), {spare}")
    lines += [line for line in (result.note, result.duration) if line]
    return "\n".join(lines)
