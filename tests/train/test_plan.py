"""The memory planner against the compilers' own figures for the compiled train step.

What the estimate counts exactly (state and batch shards) is checked against XLA:CPU on small
meshes; the modelled part (gradients, a gathered layer, activations) was fitted to the TPU compiler
on the paper's architectures cut to 2 and 4 layers (benchmarks/plan_calibration.py) and is checked
here against the TPU compiler (libtpu) on a full-depth recipe outside that grid."""

import os
import re
import subprocess
import sys

import jax
import pytest

from entigraph_jax.models import LlamaConfig, ShardingRules, make_mesh, preset
from entigraph_jax.train import OptimSettings
from entigraph_jax.train import __main__ as train_main
from entigraph_jax.train.hardware import HARDWARE, has_tpu_compiler, tpu_devices
from entigraph_jax.train.memory import abstract_batch, compiled, estimate
from entigraph_jax.train.step import Trainer
from tests.helpers import ROOT

CASES = [  # (remat, (data, fsdp, tensor), global batch, seq, microbatches, architecture)
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
    optim = OptimSettings(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, microbatches)
    devices = jax.devices()[: mesh_shape[0] * mesh_shape[1] * mesh_shape[2]]
    return Trainer(cfg, optim, 100, make_mesh(*mesh_shape, devices=devices), ShardingRules())


@pytest.mark.parametrize("remat,mesh_shape,batch,seq,micro,arch", CASES)
def test_state_and_batch_are_counted_exactly(remat, mesh_shape, batch, seq, micro, arch):
    trainer = build_trainer(remat, mesh_shape, micro, arch)
    est, got = estimate(trainer, batch, seq), compiled(trainer, batch, seq)
    assert abs(est.parameters + est.optimizer_state + est.batch - got.arguments) <= 16


def test_sharding_divides_the_state_and_activations():
    arch = CASES[0][5]
    one, eight = build_trainer("none", (1, 1, 1), 1, arch), build_trainer("none", (1, 8, 1), 1, arch)
    est_one, est_eight = estimate(one, 8, 256), estimate(eight, 8, 256)
    assert est_eight.parameters * 8 == est_one.parameters
    assert est_eight.activations * 8 == pytest.approx(est_one.activations)
    # XLA agrees: the batch-sharded residual stream keeps each device to its own rows
    assert compiled(eight, 8, 256).temporaries < compiled(one, 8, 256).temporaries / 4


def run_plan(*args, env=None):
    """`python -m entigraph_jax.train plan ARGS` in a process of its own: where its environment is the
    point, or where the planner sets up JAX's devices for a GPU machine (before JAX starts)."""
    return subprocess.run([sys.executable, "-m", "entigraph_jax.train", "plan", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env)


@pytest.fixture
def plan_here(run_command):
    """`python -m entigraph_jax.train plan ARGS` in this process: (exit code, stdout, stderr)."""
    return lambda *args: run_command(train_main.COMMANDS, ["plan", *args])


def test_command_plans_llama3_8b_without_weights():
    """No checkpoint needed: the architecture is named; fake devices stand in for the hardware."""
    config = ["--config", str(ROOT / "configs/cpt_llama3_8b_quality.py"), "--model=llama3-8b"]
    v5p = run_plan(*config, "--hardware=v5p-8", "--no_compile")
    assert v5p.returncode == 0, v5p.stderr
    assert "8.03B parameters on v5p-8: 4 devices" in v5p.stdout
    assert "\nfits (estimate):" in v5p.stdout
    v4 = run_plan(*config, "--hardware=v4-8", "--no_compile")
    assert "does NOT fit" in v4.stdout  # fp32 master weights + Adam alone are 22.4 GiB of 32


def test_command_compiles_the_quickstart_on_named_hardware():
    done = run_plan("--config", str(ROOT / "configs/quickstart.py"), "--hardware=8xH100")
    assert done.returncode == 0, done.stderr
    assert "8 devices, mesh data=1 fsdp=8 tensor=1" in done.stdout
    assert "compiled step (XLA on cpu)" in done.stdout
    assert re.match(r"estimate: \d+\.\d\d GiB per device; compiling the step with XLA on cpu", done.stdout)  # first


def test_a_command_on_a_machine_without_a_tpu_says_nothing_of_libtpu():
    """With libtpu installed (as here) and JAX_PLATFORMS unset, a command uses the CPU at once: no
    libtpu start-up complaints on stderr, though the command's module imported JAX first."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    done = run_plan("--config", str(ROOT / "configs/quickstart.py"), "--no_compile", env=env)
    assert done.returncode == 0, done.stderr
    assert "TPU" not in done.stderr and "libtpu" not in done.stderr, done.stderr


@pytest.mark.parametrize("args,message", [
    (["--hardware=tpu"], "--hardware='tpu'; known: v4-8"),
    (["--model=gpt2"], "unknown model preset 'gpt2'; known: llama3-8b"),
])
def test_bad_input_is_one_line(args, message, plan_here):
    done = plan_here("--config", str(ROOT / "configs/quickstart.py"), *args)
    assert done.returncode == 1
    assert message in done.stderr and done.stderr.count("\n") == 1


def test_a_mesh_the_hardware_cannot_hold_is_one_line():
    """Without libtpu, a TPU slice is stood in for by fake CPU devices: set up in a process of its own."""
    done = run_plan("--config", str(ROOT / "configs/quickstart.py"), "--hardware=v4-8", "--config.mesh.tensor=3")
    assert done.returncode == 1
    assert "impossible on 4 devices" in done.stderr and done.stderr.count("\n") == 1


needs_libtpu = pytest.mark.skipif(not has_tpu_compiler(), reason="libtpu (the tpu extra) is not installed")
TPU_SMALL = dict(vocab_size=32000, hidden_size=256, intermediate_size=512, num_layers=1, num_heads=4, num_kv_heads=2,
                 head_dim=128, param_dtype="float32", dtype="bfloat16", remat="none")


@pytest.mark.slow
@needs_libtpu
def test_splash_and_lean_logits_compile_for_a_tpu_and_save_its_memory():
    """The TPU compiler (libtpu, no TPU attached) compiles the kernel into the step; the chip's own
    figures fall with splash attention (no seq x seq scores) and again with lean logits."""
    devices = tpu_devices(HARDWARE["v5e-8"])
    figures = {}
    for attention, chunk in (("xla", 0), ("splash", 0), ("splash", 256)):
        cfg = LlamaConfig(**TPU_SMALL, attention=attention, logits_chunk=chunk)
        optim = OptimSettings(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, 1)
        trainer = Trainer(cfg, optim, 100, make_mesh(1, 8, 1, devices=devices), ShardingRules())
        lowered = trainer.step.lower(trainer.abstract_state, abstract_batch(trainer, 16, 1024))
        assert ("tpu_custom_call" in lowered.as_text()) == (attention == "splash")  # the Pallas kernel itself
        figures[attention, chunk] = lowered.compile().memory_analysis().temp_size_in_bytes
    # per chip: 2 rows x 4 heads x 1024^2 float32 scores (32 MiB a layer); 2 x 1024 x 32000 logits (250 MiB)
    assert figures["xla", 0] - figures["splash", 0] > 24 * 2**20, figures
    assert figures["splash", 0] - figures["splash", 256] > 150 * 2**20, figures


@pytest.mark.slow
@needs_libtpu
def test_estimate_is_within_ten_percent_of_the_tpu_compiler_on_a_recipe_outside_its_grid():
    """Llama 3.2 1B at full depth on a v5e-8 as configs/cpt_llama32_1b_quality.py trains it (fsdp 8,
    save_dots, 16 x 2048, logits in chunks of 512), with XLA attention: the planner's estimate against
    the chip's own figure from the TPU compiler."""
    cfg = preset("llama3.2-1b", param_dtype="float32", dtype="bfloat16", remat="save_dots", attention="xla",
                 logits_chunk=512)
    optim = OptimSettings(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, 1)
    trainer = Trainer(cfg, optim, 100, make_mesh(1, 8, 1, devices=tpu_devices(HARDWARE["v5e-8"])), ShardingRules())
    got = compiled(trainer, 16, 2048)
    assert not got.out_of_memory
    assert estimate(trainer, 16, 2048).total == pytest.approx(got.total, rel=0.10)


@needs_libtpu
def test_command_answers_with_the_tpu_compilers_figure():
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}  # as a user runs it
    done = run_plan("--config", str(ROOT / "configs/quickstart.py"), "--hardware=v5p-32",  # 4 hosts x 4 chips
                    "--config.data.global_batch=16", env=env)
    assert done.returncode == 0, done.stderr
    assert "on v5p-32: 16 devices" in done.stdout and "compiled step (the TPU compiler for v5p-32)" in done.stdout
    assert "\nfits (compiled):" in done.stdout and "headroom" in done.stdout
    assert not done.stderr.strip(), done.stderr  # no TPU here, and libtpu was not left to say so


@needs_libtpu
def test_command_reports_what_the_tpu_compiler_refuses(plan_here):
    """Llama 3 8B does not fit a v5e-8 (16 GiB chips): the compiler stops, the planner says by how much."""
    done = plan_here("--config", str(ROOT / "configs/cpt_llama3_8b_quality.py"), "--model=llama3-8b",
                    "--hardware=v5e-8", "--config.model.remat=none")
    assert done.returncode == 0, done.stderr
    assert "out of memory; the compiler stopped at temporaries" in done.stdout
    assert "\ndoes NOT fit (compiled): " in done.stdout and "short by" in done.stdout


def test_search_candidates_fastest_looking_first():
    from entigraph_jax.train.search import candidates

    found = candidates(8, 16, heads=32, kv_heads=8)
    assert [(c.remat, c.microbatches, c.tensor) for c in found[:4]] == [("none", 1, 1), ("none", 2, 1),
                                                                         ("none", 1, 2), ("save_dots", 1, 1)]
    assert all(16 // c.microbatches % c.fsdp == 0 and c.fsdp * c.tensor == 8 for c in found)
    assert [c.cost for c in found] == sorted(c.cost for c in found)
    assert not candidates(8, 16, heads=12, kv_heads=3)[-1].tensor > 1  # 3 kv heads: no tensor split


def test_search_finds_what_fits_by_the_estimate_without_the_hardwares_compiler():
    """8 x H100 (no GPU compiler here): Llama 3 8B at 16 x 2048 without remat does not fit 80 GiB; in two
    microbatches it does."""
    done = run_plan("--config", str(ROOT / "configs/cpt_llama3_8b_quality.py"), "--model=llama3-8b",
                    "--hardware=8xH100", "--search")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ") and "fit" in line]
    assert rows[0][:2] == ["none", "1"] and rows[0][-2:] == ["not", "fit"]
    assert rows[-1][:2] == ["none", "2"] and rows[-1][-1] == "fits"
    assert "the verdicts use the estimate" in done.stdout and "\nbest (estimate): --config.model.remat=" in done.stdout


@needs_libtpu
def test_search_compiles_candidates_for_the_tpu(plan_here):
    done = plan_here("--config", str(ROOT / "configs/quickstart.py"), "--hardware=v5p-8", "--search")
    assert done.returncode == 0, done.stderr
    assert "\nbest (compiled): --config.model.remat=none --config.optim.microbatches=1" in done.stdout


def test_without_the_tpu_compiler_the_verdict_is_the_labelled_estimate():
    hide_libtpu = ("import sys; sys.modules['libtpu'] = None; from entigraph_jax.cli import main; "
                   "from entigraph_jax.train.__main__ import COMMANDS; sys.exit(main(COMMANDS, sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", hide_libtpu, "plan", "--config", str(ROOT / "configs/quickstart.py"),
                           "--hardware=v5e-8"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "compiled step (XLA on cpu)" in done.stdout and "\nfits (estimate):" in done.stdout
    assert 'the TPU compiler is not installed, so the verdict uses the estimate; for the chip\'s own figure: ' \
           'pip install -e ".[tpu]"' in done.stdout


def test_an_estimate_within_its_error_of_the_memory_is_not_called_a_fit():
    """The estimate has fallen up to 9.7% below the TPU compiler's figure (benchmarks/plan_calibration.py):
    without the chip's compiler, a need that close to the chip's memory is a risk, not a fit."""
    from entigraph_jax.train.memory import CompiledMemory, GiB, MemoryEstimate
    from entigraph_jax.train.plan import MemoryPlan, report

    def verdict(need_gib: float, exact: bool = False) -> str:
        need = round(need_gib * GiB)
        est = MemoryEstimate(parameters=0, optimizer_state=0, batch=0, gradients=0, gathered_layer=0, activations=need)
        got = CompiledMemory(arguments=0, temporaries=need) if exact else None
        return report(MemoryPlan("setup", HARDWARE["v5e-8"].memory, est, got, "compiler", exact)).splitlines()[-1]

    assert verdict(15.0) == ("may NOT fit (estimate): 15.00 of 16.0 GiB per device (94%), headroom 1.00 GiB, "
                             "less than the estimate's error (10%)")
    assert verdict(14.0).startswith("fits (estimate): 14.00 of 16.0 GiB")
    assert verdict(15.0, exact=True).startswith("fits (compiled): 15.00 of 16.0 GiB")
    assert verdict(16.5).startswith("does NOT fit (estimate)")


@pytest.mark.slow
@needs_libtpu
def test_each_layers_weights_are_cast_to_bfloat16_inside_the_scan_on_a_tpu(monkeypatch):
    """Left to its bf16 propagation the TPU compiler casts the whole stack of float32 layer shards to
    bfloat16 before the layer loop and holds the copy through forward and backward; the trainer turns
    that off, and the chip's temporaries fall by that copy (the layers' bfloat16 bytes per chip)."""
    from entigraph_jax.train import step

    cfg = LlamaConfig(vocab_size=8000, hidden_size=512, intermediate_size=2048, num_layers=8, num_heads=8,
                      num_kv_heads=4, head_dim=64, param_dtype="float32", dtype="bfloat16", remat="full",
                      attention="splash", logits_chunk=256)
    optim = OptimSettings(1e-3, 0.05, 0.01, 0.9, 0.95, 1e-8, 1.0, 0.0, 1)
    mesh = make_mesh(1, 8, 1, devices=tpu_devices(HARDWARE["v5e-8"]))
    figures, texts = {}, {}
    for name, options in (("propagated", None), ("in the scan", step.TPU_COMPILER_OPTIONS)):
        monkeypatch.setattr(step, "TPU_COMPILER_OPTIONS", options)
        trainer = Trainer(cfg, optim, 100, mesh, ShardingRules())
        done = trainer.step.lower(trainer.abstract_state, abstract_batch(trainer, 16, 1024)).compile()
        figures[name], texts[name] = done.memory_analysis().temp_size_in_bytes, done.as_text()
    layer_params = 2 * 512 * 512 + 2 * 512 * 256 + 3 * 512 * 2048
    stack_bf16_per_chip = 8 * layer_params * 2 / 8
    assert figures["propagated"] - figures["in the scan"] >= 0.9 * stack_bf16_per_chip, figures
    whole_stack_cast = re.compile(r"= bf16\[8(,\d+){2,}\]\S* convert\(")  # a layer matrix for each of the 8
    for name, text in texts.items():
        entry = text[text.index("\nENTRY"):]
        assert bool(whole_stack_cast.search(entry)) == (name == "propagated"), name
