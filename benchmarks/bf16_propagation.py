"""The TPU compiler option our training step sets (`train/step.py`: `xla_jf_bf16_propagation` off, so each
layer's float32 weights are cast to bfloat16 inside the layer scan instead of as one stack before it): does it
change the numbers? On a TPU: a few steps of a small Llama (float32 weights, bfloat16 compute, full remat)
from the same initial state on the same batches, once with the option as we set it and once with the
compiler's default; each step's loss and gradient norm, and the largest differences. Anywhere else it prints
"propagation not measured: ..." and exits 0 (the accelerator check's table says so).

    python benchmarks/bf16_propagation.py [--steps 4 --layers 4 --batch 8 --seq 512]
"""

import argparse

import jax
import numpy as np

from entigraph_jax.models import LlamaConfig, ShardingRules, make_mesh
from entigraph_jax.train import step
from entigraph_jax.train.settings import OptimSettings
from entigraph_jax.train.step import Trainer


def run(cfg: LlamaConfig, options, batches: list[dict], steps: int) -> list[tuple[float, float]]:
    """(loss, gradient norm) of each step with the compiler `options` (None: the compiler's defaults)."""
    step.TPU_COMPILER_OPTIONS = options
    trainer = Trainer(cfg, OptimSettings(lr=1e-3), steps, make_mesh(1, -1, 1), ShardingRules())
    state, out = trainer.init_state(0), []
    for batch in batches:
        state, metrics = trainer.step(state, trainer.place(batch))
        out.append((float(metrics["loss"]), float(metrics["grad_norm"])))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=512)
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    if platform != "tpu":
        print(f"propagation not measured: needs a TPU (this machine's devices are {platform})")
        return
    cfg = LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=4096, num_layers=args.layers,
                      num_heads=16, num_kv_heads=8, head_dim=64, param_dtype="float32", dtype="bfloat16",
                      remat="full", logits_chunk=256)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.steps):
        tokens = rng.integers(0, cfg.vocab_size, size=(args.batch, args.seq + 1), dtype=np.int32)
        batches.append({"inputs": tokens[:, :-1], "targets": tokens[:, 1:],
                        "segment_ids": np.ones((args.batch, args.seq), np.int32),
                        "positions": np.broadcast_to(np.arange(args.seq, dtype=np.int32), (args.batch, args.seq)),
                        "loss_mask": np.ones((args.batch, args.seq), np.float32)})
    ours = run(cfg, {"xla_jf_bf16_propagation": False}, batches, args.steps)
    default = run(cfg, None, batches, args.steps)
    print(f"{jax.devices()[0].device_kind}: {args.layers} layers x 1024, batch {args.batch} x {args.seq}, "
          "float32 weights, bfloat16 compute")
    for i, ((loss, norm), (loss0, norm0)) in enumerate(zip(ours, default, strict=True), 1):
        print(f"step {i}: loss {loss:.6f} (default {loss0:.6f}), grad norm {norm:.6f} (default {norm0:.6f})")
    loss_gap = max(abs(a[0] - b[0]) for a, b in zip(ours, default, strict=True))
    norm_gap = max(abs(a[1] - b[1]) / max(b[1], 1e-12) for a, b in zip(ours, default, strict=True))
    print(f"propagation: largest loss difference {loss_gap:.2e}, largest relative grad-norm difference "
          f"{norm_gap:.2e} over {args.steps} steps")


if __name__ == "__main__":
    main()
