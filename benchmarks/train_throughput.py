"""Training throughput of the real train step (sharded jit, AdamW, donated state): tokens/s and MFU.

MFU = model FLOPs (PaLM accounting, `LlamaConfig.train_flops_per_token`) per second over the peak of
all devices: the vendor's dense bf16 figure on TPUs/GPUs, a float32 matmul measured in this run on
CPU. Models: the quickstart's, a ~100M one and, on an accelerator, a 1B-class (Llama 3.2 1B shape)
in bf16.

    python benchmarks/train_throughput.py [--steps 5] [--models quickstart,100m,1b] [--attention cudnn]
"""

import argparse
import time

import jax
import numpy as np

from entigraph_jax.models import LlamaConfig, ShardingRules, make_mesh
from entigraph_jax.train import OptimSettings
from entigraph_jax.train.metrics import peak_flops_per_device
from entigraph_jax.train.step import Trainer

MODELS = {  # name: (architecture, batch, seq, compute dtype)
    "quickstart": (dict(vocab_size=1000, hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4,
                        num_kv_heads=2, head_dim=32, tie_word_embeddings=True), 8, 128, "float32"),
    "100m": (dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_layers=12, num_heads=12,
                  num_kv_heads=4, head_dim=64), 8, 512, "float32"),
    "1b": (dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_layers=16, num_heads=32,
                num_kv_heads=8, head_dim=64, tie_word_embeddings=True), 16, 2048, "bfloat16"),
}


def measure(name: str, steps: int, peak: float, attention: str) -> None:
    arch, batch, seq, dtype = MODELS[name]
    cfg = LlamaConfig(**arch, dtype=dtype, max_position_embeddings=seq, attention=attention,
                      remat="full" if name == "1b" else "none")
    optim = OptimSettings(lr=1e-4, warmup_fraction=0.05, weight_decay=0.01, b1=0.9, b2=0.95, eps=1e-8,
                        clip_norm=1.0, z_loss=0.0, microbatches=1)
    mesh = make_mesh()
    trainer = Trainer(cfg, optim, 1000, mesh, ShardingRules())
    state = trainer.init_state(0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, cfg.vocab_size, (batch, seq + 1), np.int32)
    host = {"inputs": tokens[:, :-1], "targets": tokens[:, 1:], "loss_mask": np.ones((batch, seq), np.float32),
            "segment_ids": np.ones((batch, seq), np.int32),
            "positions": np.broadcast_to(np.arange(seq, dtype=np.int32), (batch, seq))}
    device_batch = jax.device_put(host, trainer.batch_sharding)
    for _ in range(2):  # compile and warm up
        state, metrics = trainer.step(state, device_batch)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = trainer.step(state, device_batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    step_time = float(np.median(times))
    flops = cfg.train_flops_per_token(seq) * batch * seq / step_time
    print(f"{name:>10}: {cfg.num_params() / 1e6:7.1f}M params, batch {batch} x {seq}, {dtype}: "
          f"{step_time * 1e3:8.1f} ms/step, {batch * seq / step_time:9.0f} tokens/s, "
          f"{flops / 1e12:6.3f} TFLOP/s, MFU {flops / (peak * mesh.devices.size):6.1%}, attention {attention}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--models", default=None, help="comma-separated; default: quickstart,100m "
                                                       "(and 1b on an accelerator)")
    parser.add_argument("--attention", default="auto", help="model.attention: auto (by platform) | xla | splash | "
                                                            "cudnn (asked by name, it fails rather than falls back)")
    args = parser.parse_args()
    accelerator = jax.devices()[0].platform != "cpu"
    names = args.models.split(",") if args.models else ["quickstart", "100m"] + (["1b"] if accelerator else [])
    peak, source = peak_flops_per_device()
    print(f"{jax.device_count()} x {jax.devices()[0].device_kind}; peak {peak / 1e12:.3f} TFLOP/s/device "
          f"({source})")
    for name in names:
        measure(name, args.steps, peak, args.attention)


if __name__ == "__main__":
    main()
