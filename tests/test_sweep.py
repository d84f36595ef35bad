"""The scaling sweep: the curve fit on known data, and the whole study at quickstart scale."""

import json
import shlex
from pathlib import Path

import numpy as np
from conftest import moved_train_layout

from entigraph_jax import cli
from entigraph_jax.config import load_config_file
from entigraph_jax.evaluate.defaults import EvaluateSettings
from entigraph_jax.runs import EvalReport, TrainRun
from entigraph_jax.sweep import __main__ as sweep_main
from entigraph_jax.sweep.defaults import SweepSettings
from entigraph_jax.sweep.run import sweep
from entigraph_jax.sweep.scaling import fit_scaling, mixture_of_exponentials, scaling_figure, short_count
from entigraph_jax.train import TrainSettings

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


def test_sweep_runs_evaluates_fits_and_skips_finished_runs(tmp_path, monkeypatch):
    moved_train_layout(monkeypatch)
    config = SweepSettings.from_config(load_config_file(ROOT / "configs" / "scaling_quickstart.py"))
    config = config.override({"workdir": str(tmp_path), "train.data.epochs": 4})
    result = sweep(config.override({"references.base_model": 0.25}))
    rows = json.loads((tmp_path / "results.json").read_text())
    assert result.runs == 5 and [r["tokens"] for r in rows] == [500, 1000, 1500, 2500, 3900]
    for row in rows:  # each run's own evaluation report, read back, is the figure in the table
        run = TrainRun(row["run_dir"])
        assert (run.export / "model.safetensors").is_file() and not (run.root / "hf").exists()
        report = EvalReport.read(run.root / "evaluation.json")
        assert report.checkpoint == str(run.export) and report.splits["test"].overall.accuracy == row["accuracy"]
        assert report.splits["test"].hard.accuracy == row["hard_accuracy"]
    assert (tmp_path / "results.csv").read_text().splitlines()[0] == "tokens,accuracy,hard_accuracy,run_dir"
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert (tmp_path / "scaling.png").is_file() and fit["rmse"] == result.fit["rmse"] and len(fit["b"]) == 2
    np.testing.assert_allclose(mixture_of_exponentials([r["tokens"] for r in rows], *fit["params"]),
                               [r["accuracy"] for r in rows], atol=3 * fit["rmse"] + 1e-9)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("tokens_*/result.json")}
    assert sweep(config).runs == 5
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rerun


def test_print_mode_emits_one_command_per_missing_run(tmp_path, capsys):
    argv = ["--config", str(ROOT / "configs" / "scaling_quickstart.py"), "--config.launch=print",
            "--config.train.optim.lr=0.01", "--workdir", str(tmp_path)]
    assert cli.main(sweep_main.COMMAND, argv) == 0
    commands = [shlex.split(line) for line in capsys.readouterr().out.splitlines() if line.startswith("python -m")]
    assert len(commands) == 5
    assert [c[-3] for c in commands] == [f"--config.token_budgets=({t},)" for t in (500, 1000, 1500, 2500, 3900)]
    assert all(c[-2:] == [f"--config.workdir={tmp_path}", "--config.launch=sequential"] for c in commands)
    assert all("--config.train.optim.lr=0.01" in c and "--config.launch=print" not in c for c in commands)


def test_scaling_recipes_nest_a_train_and_an_evaluate_config():
    for name in ("scaling_quickstart.py", "scaling_quality.py"):
        config = SweepSettings.from_config(load_config_file(ROOT / "configs" / name))
        assert isinstance(config.train, TrainSettings) and isinstance(config.evaluate, EvaluateSettings)
        assert list(config.token_budgets) == sorted(config.token_budgets)


def test_the_plot_names_its_runs_shows_chance_and_labels_each_budget_once():
    rows = [{"tokens": t, "accuracy": a} for t, a in [(500, 0.24), (1000, 0.26), (1500, 0.25), (2500, 0.27),
                                                       (3900, 0.25)]]
    fig = scaling_figure(rows, None, {"base model": 0.3}, "CPT on sample")
    ax = fig.axes[0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CPT on sample", "base model", "chance (1 in 4)"]
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["500", "1k", "1.5k", "2.5k", "3.9k"]
    assert not [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    assert [short_count(n) for n in (999, 2_000_000, 455e6, 1.2e9)] == ["999", "2M", "455M", "1.2B"]
