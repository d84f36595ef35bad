"""`python -m entigraph_jax.plan --config configs/X.py [--hardware=v5p-8] [--model=llama3-8b]`

Per-device memory of a training config before renting anything: parameters, optimizer state,
gradients and activations (with the config's remat policy) on its mesh, then a check by lowering and
compiling the train step on abstract inputs (no weights are allocated). `--hardware` names a machine
from HARDWARE: the step is compiled for that many fake CPU devices and the total is compared with its
memory. `--model` takes a known architecture instead of reading `model.path`, so no checkpoint is
needed to ask whether Llama 3 8B CPT fits on a v5p-8. `--no_compile` prints the estimate only.

XLA:CPU computes bfloat16 elementwise work in float32, so with `model.dtype=bfloat16` its compiled
temporaries are larger than a TPU's or GPU's; the estimate counts the compute dtype's bytes.
"""

from __future__ import annotations

import dataclasses
import sys

import jax

from entigraph_jax.config import ConfigError, parse_command_line
from entigraph_jax.data import TokenizerError, load_tokenizer
from entigraph_jax.models import CheckpointError, LlamaConfig, ShardingRules, config_from_hf
from entigraph_jax.train.memory import GiB, compiled, estimate
from entigraph_jax.train.setup import model_runtime, optim_config, scratch_architecture, validate
from entigraph_jax.train.step import Trainer


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

# Hugging Face config.json values that decide memory (rope settings do not)
ARCHITECTURES = {
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_layers=32,
                      num_heads=32, num_kv_heads=8, head_dim=128),
    "llama3-70b": dict(vocab_size=128256, hidden_size=8192, intermediate_size=28672, num_layers=80,
                       num_heads=64, num_kv_heads=8, head_dim=128),
    "llama3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_layers=16,
                        num_heads=32, num_kv_heads=8, head_dim=64, tie_word_embeddings=True),
    "llama3.2-3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_layers=28,
                        num_heads=24, num_kv_heads=8, head_dim=128, tie_word_embeddings=True),
}


def use_fake_devices(count: int) -> None:
    """Plan on `count` CPU devices; must run before anything asks JAX for its devices."""
    try:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as e:
        raise ConfigError(f"--hardware: JAX's devices are already set up ({e})") from e


def model_config(config, model: str | None) -> LlamaConfig:
    """The architecture: a named one, the checkpoint's config.json, or the config's own fields."""
    runtime = model_runtime(config)
    if model:
        if model not in ARCHITECTURES:
            raise ConfigError(f"--model={model!r}; known: {', '.join(ARCHITECTURES)}")
        return LlamaConfig(**ARCHITECTURES[model], **runtime)
    if config.model.init != "scratch":
        return config_from_hf(config.model.path, **runtime)
    if config.tokenizer.path:
        vocab = load_tokenizer(config.tokenizer.path).vocab_size
    else:
        vocab = config.tokenizer.train_vocab_size
    return LlamaConfig(vocab_size=vocab, **scratch_architecture(config), **runtime)


def plan(config, hardware: str | None = None, model: str | None = None, compile_step: bool = True) -> dict:
    """Build the trainer for `config` on the (possibly fake) devices and report memory per device."""
    if hardware is not None and hardware not in HARDWARE:
        raise ConfigError(f"--hardware={hardware!r}; known: {', '.join(HARDWARE)}")
    if hardware:
        use_fake_devices(HARDWARE[hardware].devices)
    if model:
        config.model.init = "scratch"  # the architecture is given: no checkpoint to look for
    mesh = validate(config)
    cfg = model_config(config, model)
    trainer = Trainer(cfg, optim_config(config), 1, mesh, ShardingRules())
    batch, seq_len = config.data.global_batch, config.data.seq_len
    est = estimate(trainer, batch, seq_len)
    result = {"hardware": hardware or jax.devices()[0].device_kind, "devices": mesh.devices.size,
              "mesh": dict(mesh.shape), "params": cfg.num_params(), "memory_per_device": device_memory(hardware),
              "estimate": dataclasses.asdict(est), "estimate_total": est.total, "needed": est.total}
    if compile_step:
        got = compiled(trainer, batch, seq_len)
        result.update(compiled=dataclasses.asdict(got), compiled_total=got.total)
        if not hardware and jax.default_backend() != "cpu":  # compiled for the real devices: exact
            result["needed"] = got.total
    return result


def device_memory(hardware: str | None) -> float | None:
    """Bytes per device of the named hardware, or what the local accelerator reports (None on CPU)."""
    if hardware:
        return HARDWARE[hardware].memory
    stats = jax.devices()[0].memory_stats()
    return stats.get("bytes_limit") if stats else None


def report(result: dict, config) -> str:
    m = config.model
    unit, scale = ("GiB", GiB) if result["estimate_total"] >= GiB else ("MiB", 2**20)
    params = result["params"]
    mesh = " ".join(f"{k}={v}" for k, v in result["mesh"].items())
    size = f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
    lines = [f"{size} parameters on {result['hardware']}: {result['devices']} devices, mesh {mesh}; batch "
             f"{config.data.global_batch} x {config.data.seq_len} in {config.optim.microbatches} "
             f"microbatch(es), remat {m.remat}, params {m.param_dtype}, compute {m.dtype}",
             f"per device ({unit})     estimate"]
    lines += [f"  {name.replace('_', ' '):<18} {size / scale:9.2f}" for name, size in result["estimate"].items()]
    lines.append(f"  {'total':<18} {result['estimate_total'] / scale:9.2f}")
    if "compiled" in result:
        got = result["compiled"]
        lines.append(f"compiled step (XLA on {jax.default_backend()}): arguments {got['arguments'] / scale:.2f} + "
                     f"temporaries {got['temporaries'] / scale:.2f} = {result['compiled_total'] / scale:.2f} "
                     f"{unit}; estimate / compiled = {result['estimate_total'] / result['compiled_total']:.2f}")
    if result["memory_per_device"]:
        need, have = result["needed"], result["memory_per_device"]
        verdict = "fits" if need <= have else "does NOT fit"
        lines.append(f"{verdict}: {need / GiB:.2f} of {have / GiB:.1f} GiB per device ({100 * need / have:.0f}%)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        config, extras = parse_command_line(sys.argv[1:] if argv is None else argv,
                                            ("hardware", "model"), ("no_compile",))
        result = plan(config, extras.get("hardware"), extras.get("model"), not extras.get("no_compile"))
    except (ConfigError, TokenizerError, CheckpointError) as e:
        print(f"plan: error: {e}", file=sys.stderr)
        return 1
    print(report(result, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
