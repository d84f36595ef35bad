"""`train plan --search`: the fastest-looking way to train a model on a machine that fits in memory.

Candidates are the remat policy (none, save_dots, full), gradient accumulation (microbatches) and the
split of the devices between FSDP and tensor parallelism (the global batch, attention and logits stay
as configured). They are tried in order of expected speed: recomputation costs about a third of a
step for `full` and less for `save_dots`, each extra microbatch a little (smaller matmuls, the
weights gathered again), tensor parallelism its activation collectives. The first that the compiler
says fits (the TPU compiler for a TPU slice when libtpu is installed) is the answer; without the
hardware's compiler the estimate decides, with a margin for its error, and says so. Candidates the
estimate puts far beyond the memory are not compiled.
"""

from __future__ import annotations

import dataclasses
import math

from entigraph_jax.config import ConfigError
from entigraph_jax.errors import UserError
from entigraph_jax.models import ShardingRules

from .hardware import TPU_EXTRA, devices_for, lookup
from .memory import GiB, compiled, estimate, fits_by_estimate
from .setup import model_config, validate
from .step import Trainer

REMAT_COST = {"none": 1.0, "save_dots": 1.1, "full": 1.33}  # step time relative to no recomputation
MICROBATCH_COST = 0.04  # per extra microbatch
TENSOR_COST = 0.08  # per doubling of the tensor axis
# an estimate this far beyond the memory is not worth compiling (on the paper's recipes the estimate was
# 9.7% below to 12.7% above the compiler's figure)
HOPELESS = 1.3


@dataclasses.dataclass(frozen=True)
class Candidate:
    remat: str
    microbatches: int
    fsdp: int
    tensor: int
    cost: float  # expected step time relative to the fastest possible candidate
    estimate: float = 0.0  # bytes per device
    compiled: float | None = None  # bytes per device, the compiler's (None: not compiled)
    fits: bool | None = None  # None: not tried

    def overrides(self) -> str:
        return (f"--config.model.remat={self.remat} --config.optim.microbatches={self.microbatches} "
                f"--config.mesh.data=1 --config.mesh.fsdp={self.fsdp} --config.mesh.tensor={self.tensor}")


@dataclasses.dataclass(frozen=True)
class SearchResult:
    hardware: str
    tpu: bool
    model: str
    batch: str
    exact: bool  # compiled by the hardware's own compiler
    tried: tuple[Candidate, ...]
    best: Candidate


def candidates(devices: int, global_batch: int, heads: int, kv_heads: int) -> list[Candidate]:
    out = []
    for tensor in (t for t in (1, 2, 4, 8) if devices % t == 0 and heads % t == 0 and kv_heads % t == 0):
        fsdp = devices // tensor
        for micro in (m for m in (1, 2, 4, 8, 16) if global_batch % m == 0 and (global_batch // m) % fsdp == 0):
            for remat, cost in REMAT_COST.items():
                total = cost * (1 + MICROBATCH_COST * (micro - 1)) * (1 + TENSOR_COST * math.log2(tensor))
                out.append(Candidate(remat, micro, fsdp, tensor, total))
    return sorted(out, key=lambda c: c.cost)


def search(config, hardware: str, model: str | None = None) -> SearchResult:
    if not hardware:
        raise ConfigError("--search needs --hardware (the machine to fit)")
    machine = lookup(hardware)
    devices, exact = devices_for(machine)
    if model:
        config = config.override({"model.path": ""})  # the architecture is given: no checkpoint to look for
    platform = devices[0].platform if devices is not None else None
    cfg = model_config(config, platform=platform, preset_name=model or "")
    batch, seq_len = config.data.global_batch, config.data.seq_len
    tried, best = [], None
    for candidate in candidates(machine.devices, batch, cfg.num_heads, cfg.num_kv_heads):
        trial = config.override({"model.remat": candidate.remat, "optim.microbatches": candidate.microbatches,
                                 "mesh.data": 1, "mesh.fsdp": candidate.fsdp, "mesh.tensor": candidate.tensor})
        mesh = validate(trial, devices)
        trainer = Trainer(model_config(trial, platform=platform, preset_name=model or ""), trial.optim, 1, mesh,
                          ShardingRules())
        need = estimate(trainer, batch, seq_len).total
        candidate = dataclasses.replace(candidate, estimate=need)
        if need > HOPELESS * machine.memory or not exact:
            tried.append(dataclasses.replace(candidate, fits=fits_by_estimate(need, machine.memory)))
        else:
            got = compiled(trainer, batch, seq_len)
            tried.append(dataclasses.replace(candidate, compiled=got.total,
                                             fits=not got.out_of_memory and got.total <= machine.memory))
        if tried[-1].fits:
            best = tried[-1]
            break
    if best is None:
        raise UserError(f"--search: none of {len(tried)} candidates fits {hardware} at batch {batch} x {seq_len} "
                        "(try a smaller data.seq_len or global batch, or more devices)")
    params = cfg.num_params()
    return SearchResult(hardware, machine.is_tpu, f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M",
                        f"{batch} x {seq_len}", exact, tuple(tried), best)


def report(result: SearchResult) -> str:
    source = "compiled" if result.exact else "estimate"
    lines = [f"{result.model} parameters on {result.hardware}, batch {result.batch}: candidates fastest-looking first",
             f"  {'remat':<10} {'micro':>5} {'fsdp':>4} {'tensor':>6} {'cost':>5} {'estimate':>9} {'compiled':>9}  GiB"]
    for c in result.tried:
        got = f"{c.compiled / GiB:9.2f}" if c.compiled is not None else f"{'-':>9}"
        lines.append(f"  {c.remat:<10} {c.microbatches:>5} {c.fsdp:>4} {c.tensor:>6} {c.cost:5.2f} "
                     f"{c.estimate / GiB:9.2f} {got}  {'fits' if c.fits else 'does not fit'}")
    if not result.exact:
        how = TPU_EXTRA if result.tpu else "run `train plan` on the machine itself (its compiler needs its GPUs)"
        lines.append(f"the verdicts use the estimate; for the compiler's own figures: {how}")
    lines.append(f"best ({source}): {result.best.overrides()}")
    return "\n".join(lines)
