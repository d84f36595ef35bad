"""Throughput accounting (tokens/s, MFU) and metric sinks: JSONL, TensorBoard, W&B, a loss plot.

Only process 0 writes. MFU = model FLOPs per second / peak FLOP/s of all devices; the peak comes
from a table of dense bf16 figures for accelerators. A CPU has no such figure: its f32 matmul rate is
measured once per machine (CPU model and core count), best of many runs, and stored under
`$XDG_CACHE_HOME/entigraph_jax` (default ~/.cache), so MFU is comparable between runs instead of
moving with the load at start-up.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from entigraph_jax.evaluate.task import metric
from entigraph_jax.outputs import json_text
from entigraph_jax.runs import TrainRun
from entigraph_jax.scalars import ScalarLog

# Dense bf16 peak FLOP/s per device (per chip for TPUs), from the vendors' specifications.
PEAK_FLOPS = {
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,  # v5e
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,
    "TPU v6 lite": 918e12,  # v6e (Trillium)
    "TPU v6e": 918e12,
    "A100": 312e12,
    "H100": 989e12,
    "H200": 989e12,
}


def measured_matmul_flops(n: int = 1024, repeats: int = 20) -> float:
    """The f32 FLOP/s of one jitted n x n matmul on the default device: the CPU 'peak'."""
    a = jnp.ones((n, n), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def peak_flops_per_device() -> tuple[float, str]:
    """(peak FLOP/s of one device, where the figure comes from)."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return stored_cpu_peak()
    kind = device.device_kind
    for name in sorted(PEAK_FLOPS, key=len, reverse=True):  # "TPU v5 lite" before "TPU v5"
        if name in kind:
            return PEAK_FLOPS[name], f"{name} bf16 spec"
    return float("nan"), f"unknown device {kind!r}"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_peak_file() -> tuple[Path, str, dict]:
    """(the cache file, this machine's key in it, what it holds)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "entigraph_jax" / "cpu_peak.json"
    try:
        stored = json.loads(cache.read_text())
    except (OSError, ValueError):
        stored = {}
    return cache, f"{_cpu_name()} x {os.cpu_count()} cores", stored if isinstance(stored, dict) else {}


def _store(cache: Path, stored: dict) -> bool:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(stored, indent=1))
        return True
    except OSError:
        return False


def stored_cpu_peak() -> tuple[float, str]:
    """(this machine's f32 matmul FLOP/s, where it comes from): measured the first time, then read."""
    cache, key, stored = _cpu_peak_file()
    if not isinstance(stored.get(key), float):
        stored[key] = measured_matmul_flops()
        if not _store(cache, stored):
            return stored[key], "f32 matmul measured now (could not store it)"
    return stored[key], f"f32 matmul of {key}, stored in {cache}"


def raised_cpu_peak(achieved: float) -> float:
    """`achieved` FLOP/s, a training step's, stored as this machine's peak: a step faster than the
    stored peak shows the peak was measured under load (MFU is never above 100%)."""
    cache, key, stored = _cpu_peak_file()
    stored[key] = float(max(achieved, stored.get(key) or 0.0))
    _store(cache, stored)
    return stored[key]


class MetricWriter:
    """Scalars by step to `metrics.jsonl`, TensorBoard (`tb/`) and W&B when a project is set."""

    def __init__(self, run: TrainRun, tensorboard: bool, wandb_project: str, config_json: dict):
        self.enabled = jax.process_index() == 0
        self.run, self.path = run, Path(run.metrics)
        self._log = ScalarLog(run.tensorboard if tensorboard else None, wandb_project, config_json, run.root,
                              resume="allow") if self.enabled else None

    def write(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json_text({"step": step, **scalars}) + "\n")
        self._log.write(step, scalars)

    def truncate_after(self, step: int) -> None:
        """Drop rows past `step`: a resumed run rewrites the steps it repeats."""
        if self.enabled and self.path.is_file():
            kept = [r for r in self.run.rows() if r["step"] <= step]
            self.path.write_text("".join(json_text(r) + "\n" for r in kept))

    def plot_loss(self) -> Path | None:
        """Training (and held-out) loss against step, as a PNG."""
        rows, out = self.run.rows(), Path(self.run.loss_plot)
        if not self.enabled or not rows:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        heldout = metric("perplexity", "loss")
        for key, label in (("loss", "train loss"), (heldout, "held-out loss")):
            points = [(r["step"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=label, marker="." if key == heldout else None)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out

    def close(self) -> None:
        if self._log:
            self._log.close()
