"""The scaling sweep: the curve fit on known data, and the whole study at quickstart scale."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from entigraph_jax.config import flatten, load_config_file
from entigraph_jax.evaluate.defaults import base_config as eval_base
from entigraph_jax.sweep.scaling import fit_scaling, mixture_of_exponentials
from entigraph_jax.train.defaults import base_config as train_base

ROOT = Path(__file__).parent.parent


def test_fit_recovers_a_known_mixture_of_exponentials():
    tokens = np.geomspace(1e6, 4.55e8, 9)
    truth = (0.39, 0.2, 0.6, 0.4, np.log(3e-8), np.log(2e-9))  # p, C, weights, log-rates
    fit = fit_scaling(tokens, mixture_of_exponentials(tokens, *truth))
    assert fit["rmse"] < 1e-3
    assert abs(fit["p"] - 0.39) < 0.03 and abs(fit["p"] + fit["C"] - 0.59) < 0.03
    grid = np.geomspace(1e6, 4.55e8, 50)
    np.testing.assert_allclose(mixture_of_exponentials(grid, *fit["params"]),
                               mixture_of_exponentials(grid, *truth), atol=5e-3)
    one = (0.3, 0.25, 1.0, np.log(1e-8))  # K = 1
    fit = fit_scaling(tokens, mixture_of_exponentials(tokens, *one), components=1)
    assert fit["rmse"] < 1e-3 and fit["a"] == [1.0] and abs(fit["b"][0] - 1e-8) / 1e-8 < 0.05


def sweep(*args):
    return subprocess.run([sys.executable, "-m", "entigraph_jax.sweep", "--config",
                           str(ROOT / "configs" / "scaling_quickstart.py"), *args], capture_output=True, text=True)


def test_sweep_runs_evaluates_fits_and_skips_finished_runs(tmp_path):
    done = sweep(f"--config.workdir={tmp_path}", "--config.references.base_model=0.25")
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["tokens"] for r in rows] == [500, 1000, 1500, 2500, 3900]
    assert all(0 <= r["accuracy"] <= 1 and Path(r["run_dir"], "hf", "model.safetensors").is_file() for r in rows)
    assert (tmp_path / "results.csv").read_text().splitlines()[0] == "tokens,accuracy,hard_accuracy,run_dir"
    assert (tmp_path / "scaling.png").is_file() and json.loads((tmp_path / "fit.json").read_text())["rmse"] >= 0
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("tokens_*/result.json")}
    again = sweep(f"--config.workdir={tmp_path}")
    assert again.returncode == 0 and {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rerun


def test_print_mode_emits_one_command_per_missing_run(tmp_path):
    done = sweep("--config.launch=print", "--config.train.optim.lr=0.01", "--workdir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    commands = [shlex.split(line) for line in done.stdout.splitlines() if line.startswith("python -m")]
    assert len(commands) == 5
    assert [c[-3] for c in commands] == [f"--config.token_budgets=({t},)" for t in (500, 1000, 1500, 2500, 3900)]
    assert all(c[-2:] == [f"--config.workdir={tmp_path}", "--config.launch=sequential"] for c in commands)
    assert all("--config.train.optim.lr=0.01" in c and "--config.launch=print" not in c for c in commands)


def test_scaling_recipes_nest_a_train_and_an_evaluate_config():
    for name in ("scaling_quickstart.py", "scaling_quality.py"):
        config = load_config_file(ROOT / "configs" / name)
        assert sorted(flatten(config.train)) == sorted(flatten(train_base()))
        assert sorted(flatten(config.evaluate)) == sorted(flatten(eval_base()))
        assert list(config.token_budgets) == sorted(config.token_budgets)
