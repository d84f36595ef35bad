"""The scaling study: continued pretraining at each synthetic-token budget (the synthetic corpus
subsampled, the same nested subsets for one seed), each run in its own workdir and evaluated after
training; runs with a result are skipped on rerun. Writes `results.csv` / `results.json` (tokens,
accuracy, hard accuracy, run dir), the mixture-of-exponential fit (`fit.json`, also printed) and
`scaling.png` with the reference lines. `launch=print` prints one command per missing run instead
(for a cluster), and fits whatever results exist.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import sys
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.evaluate.run import evaluate
from entigraph_jax.evaluate.scores import QuestionScores
from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.evaluate.task import tasks
from entigraph_jax.outputs import json_text
from entigraph_jax.runs import TrainRun
from entigraph_jax.scalars import log_figures, numbers
from entigraph_jax.train import TrainSettings, train

from .fit import fit_scaling
from .scaling import plot_scaling, write_table
from .settings import SweepSettings


@dataclasses.dataclass(frozen=True)
class SweepResult:
    runs: int  # runs with a result
    results: str  # results.csv
    fit: dict | None  # the mixture-of-exponential fit (with at least 2K + 1 runs), as `fit.fit_scaling`
    plot: str | None  # scaling.png


REPEATS = 1_000_000  # `budget=trained`: epochs enough for any budget; max_steps ends the run


def trained_for(train: TrainSettings, tokens: int, run_dir: Path) -> TrainSettings:
    """`train` training `tokens` (rounded up to whole steps, its source repeated as needed) in `run_dir`,
    exported for its evaluation."""
    steps = math.ceil(tokens / (train.data.global_batch * train.data.seq_len))
    return train.override({"workdir": str(run_dir), "export.hf": True, "data.epochs": REPEATS, "max_steps": steps})


def train_settings(config: SweepSettings, tokens: int, run_dir: Path) -> TrainSettings:
    """The training of the run at one budget (exported, for its evaluation): the source subsampled to `tokens`,
    or (`budget=trained`) `tokens` trained, rounded up to whole steps, the source repeated as needed."""
    if config.budget == "trained":
        return trained_for(config.train, tokens, run_dir)
    return config.train.override({"workdir": str(run_dir), "export.hf": True, "data.subsample_tokens": int(tokens)})


def evaluate_settings(config: SweepSettings, run: TrainRun) -> EvaluateSettings:
    """The evaluation of a finished run: its export, read with the tokenizer it was trained with."""
    return config.evaluate.override({"model.path": str(run.export), "tokenizer": run.tokenizer.to_dict(),
                                     "output": str(run.root / "evaluation.json")})


def result_row(tokens: int, scores, run_dir: Path) -> dict:
    """One run's figures (`SplitScores` of the evaluation's split): the paper's accuracy (correct / attempted,
    what the fit uses) and, beside it, correct / all questions (an unanswered question wrong) with its 95%
    interval, for all and for the hard questions."""
    return {"tokens": tokens, "accuracy": scores.overall.accuracy_answered, "accuracy_all": scores.overall.accuracy,
            "hard_accuracy": scores.hard.accuracy_answered, "hard_accuracy_all": scores.hard.accuracy,
            "interval": scores.overall.interval, "attempt_rate": scores.overall.attempt_rate, "run_dir": str(run_dir)}


def command_line(config_path: str, overrides, root: Path, tokens: int) -> str:
    """One run for a cluster job: the sweep as it was typed, restricted to one budget, run there."""
    config = ["--config", config_path] if config_path else []
    kept = [f"--config.{k}={v}" for k, v in overrides if k not in ("token_budgets", "workdir", "launch")]
    return shlex.join(["python", "-m", "entigraph_jax.sweep", *config, *kept, f"--config.token_budgets=({tokens},)",
                       f"--config.workdir={root}", "--config.launch=sequential"])


def sweep(config: SweepSettings, config_path: str = "", overrides: tuple[tuple[str, str], ...] = ()) -> SweepResult:
    if not config.workdir:
        raise ConfigError("config: workdir is empty; set it or pass --workdir")
    if not issubclass(tasks()[config.evaluate.task].result, QuestionScores):
        scoring = ", ".join(n for n, t in tasks().items() if issubclass(t.result, QuestionScores))
        raise ConfigError(f"config: evaluate.task={config.evaluate.task} gives no accuracy to fit; the sweep needs a "
                          f"task that scores questions ({scoring})")
    root = Path(config.workdir).absolute()
    rows, budgets = [], sorted(config.token_budgets)
    for number, tokens in enumerate(budgets, 1):
        run_dir = root / f"tokens_{tokens}"
        result = run_dir / "result.json"
        if not result.is_file():
            if config.launch == "print":
                print(command_line(config_path, overrides, root, tokens))
                continue
            print(f"sweep: run {number} of {len(budgets)}: {tokens} tokens in {run_dir}", file=sys.stderr)
            run = train(train_settings(config, tokens, run_dir))
            evaluation = evaluate_settings(config, run)
            scores = evaluate(evaluation).splits[evaluation.split]
            result.write_text(json_text(result_row(int(tokens), scores, run_dir)))
        rows.append(json.loads(result.read_text()))
    references = {k: v for k, v in config.references.to_dict().items() if v >= 0}
    if not rows:
        return SweepResult(0, str(root / "results.csv"), None, None)
    write_table(rows, root)
    log_figures(config.log, [(row["tokens"], numbers(row, "sweep/")) for row in rows], config.to_dict(), root,
                job="sweep")
    fit = None
    scored = [r for r in rows if r["accuracy"] is not None]
    if len(scored) >= 2 * max(config.fit_components, 1) + 1:  # as many runs as parameters: A, K drops, K rates
        fit = fit_scaling([r["tokens"] for r in scored], [r["accuracy"] for r in scored], config.fit_components,
                          draws=config.fit_draws)
        (root / "fit.json").write_text(json_text(fit, indent=2))
        low, high = fit.get("plateau_interval", (None, None))
        print(f"sweep: fit (x = synthetic tokens in millions; {fit['components']} terms, {fit['chosen_by']}): "
              f"{fit['formula']}" + (f"; plateau {low:.4g} to {high:.4g} (90%)" if low is not None else ""),
              file=sys.stderr)
    plot = plot_scaling([(config.label or f"CPT on {config.train.data.source}", rows, fit)], references,
                        root / "scaling.png")
    return SweepResult(len(rows), str(root / "results.csv"),
                       fit, str(plot))
