"""The scaling sweep: the curve fit on known data, and the whole study at quickstart scale."""

import json
import shlex

import numpy as np
import pytest

from entigraph_jax import cli
from entigraph_jax.config import load_config_file
from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.runs import TrainRun
from entigraph_jax.sweep import __main__ as sweep_main
from entigraph_jax.sweep.fit import fit_scaling, fitted, scaling_curve
from entigraph_jax.sweep.run import sweep
from entigraph_jax.sweep.scaling import scaling_figure, short_count
from entigraph_jax.sweep.settings import SweepSettings
from entigraph_jax.train import TrainSettings
from tests.helpers import ROOT
from tests.helpers.figures import tensorboard_scalars
from tests.helpers.runs import moved_train_layout

# Appendix G.1 of the paper: its fit to the EntiGraph scaling curve, x in millions of synthetic tokens.
PAPER_FIT = {"A": 64.5456, "B": [13.8352, 8.4705, 3.932], "r": [0.9989, 0.8961, 0.0546]}


def test_fit_recovers_the_papers_published_curve_from_points_on_it():
    recipe = SweepSettings.from_config(load_config_file(ROOT / "configs" / "scaling_quality.py"))
    assert recipe.fit_components == 3 and len(recipe.token_budgets) >= 7
    sampling = recipe.evaluate.tasks.closed_book.sampling  # scored as the paper's text says (Appendix I.1)
    assert (sampling.samples, sampling.selection, sampling.temperature, sampling.max_new_tokens) == (
        64, "random_valid", 0.1, 300)
    tokens = np.array(recipe.token_budgets, np.float64)
    assert tokens.max() == 455e6  # the whole corpus is the last point
    accuracy = scaling_curve(tokens / 1e6, *PAPER_FIT.values())
    fit = fit_scaling(tokens, accuracy, components=3, draws=0)
    np.testing.assert_allclose(fit["A"], PAPER_FIT["A"], rtol=0.01)
    np.testing.assert_allclose(fit["B"], PAPER_FIT["B"], rtol=0.01)
    np.testing.assert_allclose(fit["r"], PAPER_FIT["r"], rtol=0.01)
    assert fit["formula"].startswith("y = 64.5") and fit["x"] == "synthetic tokens in millions"
    assert abs(fit["at_zero"] - (64.5456 - 13.8352 - 8.4705 - 3.932)) < 0.01
    # two terms cannot: on the same points the plateau lands far below the paper's 64.5
    two = fit_scaling(tokens, accuracy, components=2, draws=0)
    assert two["A"] < 62 and two["rmse"] > 0.1


def test_fit_needs_as_many_runs_as_parameters_and_takes_fractions_or_percent():
    tokens = np.geomspace(1e5, 4.55e8, 9)
    percent = scaling_curve(tokens / 1e6, *PAPER_FIT.values())
    fraction = fit_scaling(tokens, percent / 100, components=3, draws=0)
    np.testing.assert_allclose(fraction["A"] * 100, PAPER_FIT["A"], rtol=0.01)
    assert (fraction["scale"], fit_scaling(tokens, percent, components=3, draws=0)["scale"]) == (1.0, 100.0)
    one = fit_scaling(tokens, scaling_curve(tokens / 1e6, 0.6, [0.25], [0.99]), draws=0)
    assert (one["components"], one["chosen_by"]) == (1, "held-out error over 1-3 terms")  # the data say one term
    np.testing.assert_allclose([one["A"], *one["B"], *one["r"]], [0.6, 0.25, 0.99], rtol=1e-4)
    with pytest.raises(ValueError, match="at least 7 points, got 6"):
        fit_scaling(tokens[:6], percent[:6], components=3)


def noisy_paper_points(rng, sigma):
    """The paper's curve at the scaling recipe's eight budgets, with the accuracy noise of a real sweep
    (sigma 0.5 to 0.8 points: the sampling error of a few thousand test questions)."""
    recipe = SweepSettings.from_config(load_config_file(ROOT / "configs" / "scaling_quality.py"))
    tokens = np.array(recipe.token_budgets, np.float64)
    truth = scaling_curve(tokens / 1e6, *PAPER_FIT.values())
    return tokens, truth + rng.normal(0, sigma, size=len(tokens))


def test_on_noisy_points_the_plateau_stays_on_the_accuracy_scale_and_above_the_best_run():
    """Unbounded, the paper's 3-term form on these points put the plateau above 100% in 30-45% of draws."""
    rng = np.random.default_rng(0)
    for draw in range(12):
        tokens, accuracy = noisy_paper_points(rng, (0.5, 0.8)[draw % 2])
        for components in (0, 3):
            fit = fit_scaling(tokens, accuracy, components=components, draws=0)
            assert max(accuracy) <= fit["A"] <= 100, (draw, components, fit["formula"])
            assert all(0 < r < 1 for r in fit["r"]) and all(0 <= b <= 100 for b in fit["B"])
            assert fit["rmse"] < 2.0  # still a fit to the points


@pytest.mark.slow  # 40 noisy sweeps, each fitted and bootstrapped 100 times: about a minute and a half
def test_the_band_holds_the_true_curve_at_the_budgets_about_as_often_as_it_says():
    rng = np.random.default_rng(1)
    inside, plateaus = [], []
    for draw in range(40):
        tokens, accuracy = noisy_paper_points(rng, 0.8)
        fit = fit_scaling(tokens, accuracy, draws=100, seed=draw)
        grid = np.array(fit["band"]["tokens"])
        within = (grid >= tokens.min()) & (grid <= tokens.max())
        truth = scaling_curve(grid[within] / 1e6, *PAPER_FIT.values())
        inside.append(np.mean((np.array(fit["band"]["low"])[within] <= truth)
                              & (truth <= np.array(fit["band"]["high"])[within])))
        low, high = fit["plateau_interval"]
        plateaus.append(low <= PAPER_FIT["A"] <= high)
    # measured: 0.80 of the points of the true curve within the budgets lie inside the 90% band; the plateau's
    # interval holds the paper's 64.5 in 0.78 of draws: model choice and the plateau's extrapolation are
    # not in the band, which is why it says less than it would on a curve the budgets pin down
    assert 0.70 <= np.mean(inside) <= 0.97, np.mean(inside)
    assert np.mean(plateaus) >= 0.6, np.mean(plateaus)


def test_the_fit_warns_when_asked_far_past_its_largest_budget():
    tokens = np.geomspace(1e5, 1e8, 7)
    fit = fit_scaling(tokens, scaling_curve(tokens / 1e6, 0.6, [0.25], [0.99]), components=1, draws=0)
    fitted(fit, [2e8])  # within a few times the largest budget: said nothing
    with pytest.warns(UserWarning, match="more than 4 times its largest budget"):
        fitted(fit, [1e9])


@pytest.mark.slow
def test_sweep_runs_evaluates_fits_and_skips_finished_runs(tmp_path, monkeypatch):
    moved_train_layout(monkeypatch)
    config = SweepSettings.from_config(load_config_file(ROOT / "configs" / "scaling_quickstart.py"))
    config = config.override({"workdir": str(tmp_path), "train.data.epochs": 4, "token_budgets": (500, 1500, 3900),
                              "fit_components": 1, "log.tensorboard": str(tmp_path / "tb")})
    result = sweep(config.override({"references.base_model": 0.25}))
    rows = json.loads((tmp_path / "results.json").read_text())
    assert result.runs == 3 and [r["tokens"] for r in rows] == [500, 1500, 3900]
    for row in rows:  # each run's own evaluation report, read back, is the figure in the table
        run = TrainRun(row["run_dir"])
        assert (run.export / "model.safetensors").is_file() and not (run.root / "hf").exists()
        report = read_result(run.root / "evaluation.json")
        test = report.splits["test"]
        assert report.checkpoint == str(run.export) and test.overall.accuracy_answered == row["accuracy"]
        assert (test.overall.accuracy, test.hard.accuracy_answered) == (row["accuracy_all"], row["hard_accuracy"])
    header = "tokens,accuracy,accuracy_all,hard_accuracy,hard_accuracy_all,attempt_rate,run_dir"
    assert (tmp_path / "results.csv").read_text().splitlines()[0] == header
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert (tmp_path / "scaling.png").is_file() and fit == result.fit and len(fit["B"]) == 1
    band = fit["band"]  # the bootstrap's 90% band, beside the plateau's interval
    assert band["level"] == 0.9 and all(lo <= hi for lo, hi in zip(band["low"], band["high"], strict=True))
    assert fit["plateau_interval"][0] <= fit["A"] <= fit["plateau_interval"][1] and fit["draws"] == 200
    np.testing.assert_allclose(fitted(fit, [r["tokens"] for r in rows]), [r["accuracy"] for r in rows],
                               atol=3 * fit["rmse"] + 1e-9)
    logged = tensorboard_scalars(tmp_path / "tb")  # each budget's figures at its token count
    assert logged["sweep/accuracy"] == [(r["tokens"], pytest.approx(r["accuracy"])) for r in rows]
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("tokens_*/result.json")}
    assert sweep(config).runs == 3
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
    for path in sorted((ROOT / "configs").glob("scaling_*.py")):
        config = SweepSettings.from_config(load_config_file(path))
        assert isinstance(config.train, TrainSettings) and isinstance(config.evaluate, EvaluateSettings)
        assert list(config.token_budgets) == sorted(config.token_budgets)


def test_the_plot_names_its_runs_shows_chance_and_labels_each_budget_once():
    rows = [{"tokens": t, "accuracy": a} for t, a in [(500, 0.24), (1000, 0.26), (1500, 0.25), (2500, 0.27),
                                                       (3900, 0.25)]]
    fig = scaling_figure([("CPT on sample", rows, None)], {"base model": 0.3})
    ax = fig.axes[0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CPT on sample", "base model", "chance (1 in 4)"]
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["500", "1k", "1.5k", "2.5k", "3.9k"]
    assert not [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    assert [short_count(n) for n in (999, 2_000_000, 455e6, 1.2e9)] == ["999", "2M", "455M", "1.2B"]


def test_the_plot_draws_each_arm_with_its_intervals_and_its_fit_band():
    """Several series on one plot (the EntiGraph miniature's arms): each its points with their 95% intervals as
    error bars (only where every question was attempted: the interval is of correct / all), its fit and band."""
    def rows(shift):
        return [{"tokens": t, "accuracy": a + shift, "accuracy_all": a + shift, "interval": [a + shift - 0.05,
                 a + shift + 0.04]} for t, a in [(1000, 0.3), (2000, 0.35), (4000, 0.4)]]
    band = {"level": 0.9, "tokens": [500.0, 8000.0], "low": [0.2, 0.4], "high": [0.3, 0.5]}
    fit = {"A": 0.5, "B": [0.25], "r": [800.0], "budgets": [1000, 4000], "band": band}
    sampled = [{**r, "accuracy_all": r["accuracy"] - 0.1} for r in rows(0.1)]  # some unanswered: no error bar
    fig = scaling_figure([("raw", rows(0.0), None), ("entigraph", rows(0.05), fit), ("sampled", sampled, None)], {})
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == ["chance (1 in 4)", "entigraph", "entigraph: 90% band (bootstrap)",
                              "entigraph: mixture-of-exponential fit (1 terms)", "raw", "sampled"]
    bars = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(bars) == 2
    segments = bars[0].lines[2][0].get_segments()  # raw's error bars: from the interval's low to its high
    assert [(round(s[0][1], 6), round(s[1][1], 6)) for s in segments] == [(0.25, 0.34), (0.3, 0.39), (0.35, 0.44)]


@pytest.mark.slow
def test_a_trained_budget_repeats_a_small_corpus_to_the_same_tokens(tmp_path):
    """budget=trained: every run trains its budget's tokens (whole steps), however small its corpus: a corpus of
    about one batch is repeated to 8 steps' worth, as a corpus many times larger would be read."""
    from entigraph_jax.data import load_source, train_sentencepiece

    vocabulary = train_sentencepiece((d.text for d in load_source("sample")), tmp_path / "sp" / "tokenizer", 1000)
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps({"text": f"The {w} bell of Quarrowmere rang at dawn {n} times."}) + "\n"
                             for w in ("salt", "iron", "glass") for n in range(12)))
    config = SweepSettings.from_config(load_config_file(ROOT / "configs" / "scaling_quickstart.py")).override({
        "workdir": str(tmp_path / "sweep"), "budget": "trained", "token_budgets": (600, 2048), "fit_components": 1,
        "fit_draws": 0, "train.data.source": f"jsonl:{small}", "train.tokenizer.path": str(vocabulary)})
    result = sweep(config)
    assert result.runs == 2
    for tokens, steps in ((600, 3), (2048, 8)):  # 8 rows of 32 tokens a step: the budget rounded up to a step
        run = TrainRun(tmp_path / "sweep" / f"tokens_{tokens}")
        assert run.steps == steps and run.tokens_trained == steps * 8 * 32
    assert SweepSettings().budget == "corpus"  # the paper's Figure 2 subsamples the corpus
