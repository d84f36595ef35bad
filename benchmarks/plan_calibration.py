"""Refit the memory planner's activation coefficients to the TPU compiler's own figures.

Compiles the train step for TPU slices (libtpu's abstract devices, no TPU attached; needs the `tpu`
extra) for the paper's architectures cut to 2 and 4 layers (real widths, vocabulary, batches and
meshes; bfloat16 compute, float32 master weights, logits in chunks of 512), for each remat policy and
for XLA and fused (splash) attention; fits the model of `entigraph_jax/train/memory.py` (gradients
per parameter byte, kept-per-layer counts, the larger of the layer working set and the logits)
minimizing the relative error, then reports the error of the fitted and the current coefficients on
the held-out full-depth models (Llama 3 8B, 3.2 1B and 3.2 3B).

    python benchmarks/plan_calibration.py [--cache figures.json]   # about 40 minutes on 2 CPU cores
"""

import argparse
import dataclasses
import json
from pathlib import Path

import jax

jax.config.update("jax_platforms", "cpu")

import numpy as np  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from entigraph_jax.models import ShardingRules, make_mesh, preset  # noqa: E402
from entigraph_jax.train import OptimSettings  # noqa: E402
from entigraph_jax.train.hardware import HARDWARE, has_tpu_compiler, tpu_devices  # noqa: E402
from entigraph_jax.train.memory import ACTIVATION_COEFFICIENTS, compiled, estimate  # noqa: E402
from entigraph_jax.train.step import Trainer  # noqa: E402

# The paper's architectures at 2 and 4 layers (the estimate is linear in depth), real widths, vocabulary,
# batches and meshes: (preset, layers, hardware, mesh (data, fsdp, tensor), global batch, seq)
GRID = [("llama3-8b", 2, "v5p-8", (1, 4, 1), 16, 2048), ("llama3-8b", 4, "v5p-8", (1, 4, 1), 16, 2048),
        ("llama3-8b", 2, "v5p-8", (1, 4, 1), 8, 2048), ("llama3-8b", 2, "v5p-8", (1, 4, 1), 16, 1024),
        ("llama3.2-1b", 2, "v5e-8", (1, 8, 1), 16, 2048), ("llama3.2-1b", 4, "v5e-8", (1, 8, 1), 16, 2048),
        ("llama3.2-1b", 2, "v5e-8", (1, 8, 1), 32, 1024),
        ("llama3.2-3b", 2, "v5p-8", (1, 2, 2), 16, 2048), ("llama3.2-3b", 4, "v5p-8", (1, 2, 2), 16, 2048)]
WHOLE_LOGITS = [GRID[0], GRID[4], GRID[6], GRID[7]]  # also compiled with the whole row's logits at once
# held out: the recipes at their full depth (0: the preset's own) with their remat policy
HELD_OUT = [("full", ("llama3-8b", 0, "v5p-8", (1, 4, 1), 16, 2048)),
            ("save_dots", ("llama3.2-1b", 0, "v5e-8", (1, 8, 1), 16, 2048)),
            ("full", ("llama3.2-3b", 0, "v5p-8", (1, 2, 2), 16, 2048))]
CHUNK = 512
FAMILY = {"xla": "xla", "splash": "fused"}
OPTIM = OptimSettings(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, 1)


def trainer_for(remat: str, attention: str, case: tuple, chunk: int = CHUNK) -> tuple[Trainer, int, int]:
    name, layers, hardware, mesh_shape, batch, seq = case
    depth = {"num_layers": layers} if layers else {}
    cfg = dataclasses.replace(preset(name, param_dtype="float32", dtype="bfloat16", remat=remat, attention=attention,
                                     logits_chunk=chunk), **depth)
    mesh = make_mesh(*mesh_shape, devices=tpu_devices(HARDWARE[hardware]))
    return Trainer(cfg, OPTIM, 100, mesh, ShardingRules()), batch, seq


def unflat(c) -> tuple:
    return (c[0], tuple(c[1:4]), tuple(c[4:7]), c[7], c[8], c[9])


def flat(coefficients) -> list[float]:
    grads, kept, working, chunked, whole, gathered = coefficients
    return [grads, *kept, *working, chunked, whole, gathered]


def modelled(c, trainer: Trainer, batch: int, seq: int) -> float:
    """What the planner models (gradients, a gathered layer, activations) with coefficients c (flat)."""
    est = estimate(trainer, batch, seq, unflat(c))
    return est.gradients + est.gathered_layer + est.activations


def figures(remat: str, attention: str, case: tuple, cache: dict, chunk: int = CHUNK) -> dict:
    """The compiler's figures for one config (from `cache` where there): modelled part, total, OOM."""
    key = repr((remat, attention, case) + (() if chunk else ("whole logits",)))
    if key not in cache:
        trainer, batch, seq = trainer_for(remat, attention, case, chunk)
        got = compiled(trainer, batch, seq)
        cache[key] = dict(modelled=got.total - got.arguments, total=got.total, out_of_memory=got.out_of_memory)
    return cache[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="", help="a JSON file keeping the compiled figures between runs")
    args = parser.parse_args()
    if not has_tpu_compiler():
        raise SystemExit("needs libtpu: pip install -e \".[tpu]\"")
    cache = json.loads(Path(args.cache).read_text()) if args.cache and Path(args.cache).is_file() else {}
    fitted, rng = {}, np.random.default_rng(0)
    for remat in ("none", "full", "save_dots"):
        for attention, family in FAMILY.items():
            runs, temps = [], []
            for case, chunk in [(case, CHUNK) for case in GRID] + [(case, 0) for case in WHOLE_LOGITS]:
                got = figures(remat, attention, case, cache, chunk)
                if args.cache:
                    Path(args.cache).write_text(json.dumps(cache))
                if not got["out_of_memory"]:  # an aborted compile's figure is a lower bound only
                    runs.append(trainer_for(remat, attention, case, chunk))
                    temps.append(got["modelled"])

            def log_errors(c, runs=runs, temps=temps):
                return [np.log(modelled(c, *run) / temp) for run, temp in zip(runs, temps, strict=True)]

            def worst(c, runs=runs, temps=temps):
                return max(abs(modelled(c, *run) / temp - 1) for run, temp in zip(runs, temps, strict=True))

            current = flat(ACTIVATION_COEFFICIENTS[remat, family])
            # at least one float32 gradient per parameter shard: with few layers the grid cannot tell
            # gradients from the other terms, and a fit that drops them fails at full depth
            lower = [1.0] + [0.0] * 9
            starts = [[max(c, low) for c, low in zip(current, lower, strict=True)]]
            starts += [[1.0, *rng.uniform(0, 20, 9)] for _ in range(12)]  # max() makes local minima
            fits = [least_squares(log_errors, x0=start, bounds=(lower, 60)).x for start in starts]
            fit = np.round(min(fits, key=worst), 2).tolist()
            fitted[remat, family] = unflat(fit)
            print(f"{remat:<10} {family:<6} grid ({len(runs)} configs) worst error: fitted {100 * worst(fit):.1f}%, "
                  f"planner {100 * worst(current):.1f}%", flush=True)
    print("ACTIVATION_COEFFICIENTS = {")
    for key, value in fitted.items():
        print(f"    {key!r}: {value!r},")
    print("}")
    print("held out (estimate total / compiled total - 1): the recipes at full depth")
    for remat, case in HELD_OUT:
        for attention, family in FAMILY.items():
            for chunk in (CHUNK, 0):
                got = figures(remat, attention, case, cache, chunk)
                if args.cache:
                    Path(args.cache).write_text(json.dumps(cache))
                trainer, batch, seq = trainer_for(remat, attention, case, chunk)
                errors = [estimate(trainer, batch, seq, c).total / got["total"] - 1
                          for c in (fitted[remat, family], ACTIVATION_COEFFICIENTS[remat, family])]
                print(f"  {case[0]} on {case[2]} mesh {case[3]} {remat} {attention} "
                      f"{f'logits in chunks of {chunk}' if chunk else 'whole logits'}: compiled "
                      f"{got['total'] / 2**30:.2f} GiB{' (out of memory: at least)' if got['out_of_memory'] else ''}, "
                      f"fitted {100 * errors[0]:+.1f}%, planner {100 * errors[1]:+.1f}%", flush=True)


if __name__ == "__main__":
    main()
