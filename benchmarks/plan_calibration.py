"""Refit the memory planner's activation coefficients to XLA's figures for the compiled train step.

Compiles the step (no arrays allocated) for a grid of small single-device float32 models, one
dimension changed at a time, fits the model of `entigraph_jax/train/memory.py` per remat policy
(gradients per parameter byte, kept-per-layer counts, the larger of layer working set and logits)
minimizing the relative error, and prints the fitted coefficients next to the ones the planner uses
with both errors over the grid.

    python benchmarks/plan_calibration.py
"""

import jax

jax.config.update("jax_platforms", "cpu")

import numpy as np  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from entigraph_jax.models import LlamaConfig, ShardingRules, make_mesh  # noqa: E402
from entigraph_jax.train.memory import ACTIVATION_COEFFICIENTS, compiled, estimate  # noqa: E402
from entigraph_jax.train.step import OptimConfig, Trainer  # noqa: E402

BASE = dict(batch=4, seq=256, num_layers=4, hidden_size=256, intermediate_size=1024, vocab_size=4000,
            num_heads=8, num_kv_heads=4, head_dim=32)
GRID = [{}, dict(num_layers=8), dict(hidden_size=512, head_dim=64), dict(intermediate_size=2048),
        dict(seq=512), dict(vocab_size=16000), dict(num_kv_heads=8), dict(num_heads=16, head_dim=16),
        dict(batch=8), dict(vocab_size=32000),
        dict(vocab_size=64000, hidden_size=128, intermediate_size=512, head_dim=16, num_layers=2),
        dict(vocab_size=32000, tie_word_embeddings=True, num_layers=2, seq=512),
        dict(vocab_size=16000, seq=128, batch=8, num_layers=8),
        dict(hidden_size=512, intermediate_size=2048, head_dim=64, num_layers=2, vocab_size=1000)]


def trainer_for(remat: str, case: dict) -> tuple[Trainer, int, int]:
    arch = dict(BASE, **case)
    batch, seq = arch.pop("batch"), arch.pop("seq")
    cfg = LlamaConfig(**arch, param_dtype="float32", dtype="float32", remat=remat)
    optim = OptimConfig(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, 1)
    mesh = make_mesh(1, 1, 1, devices=jax.devices()[:1])
    return Trainer(cfg, optim, 100, mesh, ShardingRules()), batch, seq


def modelled(coefficients, trainer: Trainer, batch: int, seq: int) -> float:
    """The planner's gradients + activations with the given coefficients (flat: 1 + 3 + 3 + 1)."""
    c = list(coefficients)
    est = estimate(trainer, batch, seq, (c[0], tuple(c[1:4]), tuple(c[4:7]), c[7]))
    return est.gradients + est.activations


def flat(coefficients) -> list[float]:
    grads, kept, working, vocab = coefficients
    return [grads, *kept, *working, vocab]


def main() -> None:
    for remat, current in ACTIVATION_COEFFICIENTS.items():
        runs = [(*trainer_for(remat, case),) for case in GRID]
        temps = [compiled(t, b, s).temporaries for t, b, s in runs]

        def log_errors(c, runs=runs, temps=temps):
            return [np.log(modelled(c, *run) / temp) for run, temp in zip(runs, temps, strict=True)]

        fit = least_squares(log_errors, x0=flat(current), bounds=(0, 50)).x
        worst = lambda c: np.max(np.abs(np.exp(log_errors(c)) - 1))  # noqa: E731
        print(f"{remat:<10} fitted  {np.round(fit, 2).tolist()}  worst error {100 * worst(fit):.1f}%")
        print(f"{'':<10} planner {flat(current)}  worst error {100 * worst(flat(current)):.1f}%")


if __name__ == "__main__":
    main()
