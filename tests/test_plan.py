"""The memory planner against XLA's own figures for the compiled train step.

The activation coefficients were fitted on a grid of single-device models
(benchmarks/plan_calibration.py); the configs here are outside that grid: other shapes, meshes with
tensor parallelism, data parallelism and microbatches."""

import subprocess
import sys
from pathlib import Path

import jax
import pytest

from entigraph_jax.models import LlamaConfig, ShardingRules, make_mesh
from entigraph_jax.train.memory import compiled, estimate
from entigraph_jax.train.step import OptimConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]

CASES = [  # (remat, (data, fsdp, tensor), global batch, seq, microbatches, architecture)
    ("none", (1, 1, 1), 6, 128, 1, dict(num_layers=3, hidden_size=192, intermediate_size=768,
                                         vocab_size=3000, num_heads=6, num_kv_heads=2, head_dim=32)),
    ("none", (1, 8, 1), 8, 256, 1, dict(num_layers=4, hidden_size=256, intermediate_size=1024,
                                         vocab_size=4000, num_heads=8, num_kv_heads=4, head_dim=32)),
    ("full", (1, 4, 2), 8, 384, 1, dict(num_layers=6, hidden_size=384, intermediate_size=1536,
                                         vocab_size=8000, num_heads=12, num_kv_heads=4, head_dim=32)),
    ("save_dots", (2, 2, 2), 16, 256, 2, dict(num_layers=5, hidden_size=320, intermediate_size=896,
                                               vocab_size=5000, num_heads=10, num_kv_heads=2, head_dim=32)),
    ("full", (1, 2, 1), 4, 512, 1, dict(num_layers=2, hidden_size=128, intermediate_size=512,
                                         vocab_size=32000, num_heads=4, num_kv_heads=4, head_dim=32,
                                         tie_word_embeddings=True)),
]


def build_trainer(remat, mesh_shape, microbatches, arch):
    cfg = LlamaConfig(**arch, param_dtype="float32", dtype="float32", remat=remat)
    optim = OptimConfig(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, microbatches)
    devices = jax.devices()[: mesh_shape[0] * mesh_shape[1] * mesh_shape[2]]
    return Trainer(cfg, optim, 100, make_mesh(*mesh_shape, devices=devices), ShardingRules())


@pytest.mark.parametrize("remat,mesh_shape,batch,seq,micro,arch", CASES)
def test_estimate_within_20_percent_of_compiled(remat, mesh_shape, batch, seq, micro, arch):
    trainer = build_trainer(remat, mesh_shape, micro, arch)
    est, got = estimate(trainer, batch, seq), compiled(trainer, batch, seq)
    # what is counted exactly (state and batch shards) is exactly XLA's argument size
    assert abs(est.parameters + est.optimizer_state + est.batch - got.arguments) <= 16
    assert abs(est.total / got.total - 1) < 0.2, (est, got)
    # and the modelled part alone (gradients, update temporaries, activations) is not far off either
    assert abs((est.gradients + est.activations) / got.temporaries - 1) < 0.25, (est, got)


def test_sharding_divides_the_state_and_activations():
    arch = CASES[1][5]
    one, eight = build_trainer("none", (1, 1, 1), 1, arch), build_trainer("none", (1, 8, 1), 1, arch)
    est_one, est_eight = estimate(one, 8, 256), estimate(eight, 8, 256)
    assert est_eight.parameters * 8 == est_one.parameters
    assert est_eight.activations * 8 == pytest.approx(est_one.activations)
    # XLA agrees: the batch-sharded residual stream keeps each device to its own rows
    assert compiled(eight, 8, 256).temporaries < compiled(one, 8, 256).temporaries / 4


def run_plan(*args):
    return subprocess.run([sys.executable, "-m", "entigraph_jax.train", "plan", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_command_plans_llama3_8b_without_weights():
    """No checkpoint needed: the architecture is named; fake devices stand in for the hardware."""
    config = ["--config", str(ROOT / "configs/cpt_llama3_8b_quality.py"), "--model=llama3-8b"]
    v5p = run_plan(*config, "--hardware=v5p-8", "--no_compile")
    assert v5p.returncode == 0, v5p.stderr
    assert "8.03B parameters on v5p-8: 4 devices" in v5p.stdout
    assert "\nfits:" in v5p.stdout
    v4 = run_plan(*config, "--hardware=v4-8", "--no_compile")
    assert "does NOT fit" in v4.stdout  # fp32 master weights + Adam alone are 22.4 GiB of 32


def test_command_compiles_the_quickstart_on_named_hardware():
    done = run_plan("--config", str(ROOT / "configs/quickstart.py"), "--hardware=8xH100")
    assert done.returncode == 0, done.stderr
    assert "8 devices, mesh data=1 fsdp=8 tensor=1" in done.stdout
    assert "compiled step (XLA on cpu)" in done.stdout


@pytest.mark.parametrize("args,message", [
    (["--hardware=tpu"], "--hardware='tpu'; known: v4-8"),
    (["--model=gpt2"], "unknown model preset 'gpt2'; known: llama3-8b"),
    (["--hardware=v4-8", "--config.mesh.tensor=3"], "impossible on 4 devices"),
])
def test_bad_input_is_one_line(args, message):
    done = run_plan("--config", str(ROOT / "configs/quickstart.py"), *args)
    assert done.returncode == 1
    assert message in done.stderr and done.stderr.count("\n") == 1
