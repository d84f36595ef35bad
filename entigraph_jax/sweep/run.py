"""The scaling study: continued pretraining at each synthetic-token budget (the synthetic corpus
subsampled, the same nested subsets for one seed), each run in its own workdir and evaluated after
training; runs with a result are skipped on rerun. Writes `results.csv` / `results.json` (tokens,
accuracy, hard accuracy, run dir), the mixture-of-exponential fit (`fit.json`, also printed) and
`scaling.png` with the reference lines. `launch=print` prints one command per missing run instead
(for a cluster), and fits whatever results exist.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.evaluate.run import evaluate
from entigraph_jax.train import train

from .scaling import fit_scaling, plot_scaling, write_table


@dataclasses.dataclass(frozen=True)
class SweepResult:
    runs: int  # runs with a result
    results: str  # results.csv
    fit: dict | None  # the mixture-of-exponential parameters (with at least 2K + 1 runs)
    plot: str | None  # scaling.png


def run_configs(config, tokens: int, run_dir: Path):
    """The train and evaluate configs of the run at one budget."""
    train_config, eval_config = copy.deepcopy(config.train), copy.deepcopy(config.evaluate)
    train_config.data.subsample_tokens = int(tokens)
    train_config.workdir = str(run_dir)
    train_config.export.hf = True
    eval_config.model.path = str(run_dir / "hf")
    eval_config.tokenizer = train_config.tokenizer.path or str(run_dir / "tokenizer" / "sp.model")
    eval_config.output = str(run_dir / "evaluation.json")
    return train_config, eval_config


def command_line(config_path: str, overrides, root: Path, tokens: int) -> str:
    """One run for a cluster job: the sweep as it was typed, restricted to one budget, run there."""
    config = ["--config", config_path] if config_path else []
    kept = [f"--config.{k}={v}" for k, v in overrides if k not in ("token_budgets", "workdir", "launch")]
    return shlex.join(["python", "-m", "entigraph_jax.sweep", *config, *kept, f"--config.token_budgets=({tokens},)",
                       f"--config.workdir={root}", "--config.launch=sequential"])


def sweep(config, config_path: str = "", overrides: tuple[tuple[str, str], ...] = ()) -> SweepResult:
    if not config.token_budgets or any(t <= 0 for t in config.token_budgets):
        raise ConfigError("config: token_budgets must be a non-empty list of positive token counts")
    if config.launch not in ("sequential", "print"):
        raise ConfigError(f"config: launch={config.launch!r}; expected sequential or print")
    if not config.workdir:
        raise ConfigError("config: workdir is empty; set it or pass --workdir")
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
            train_config, eval_config = run_configs(config, tokens, run_dir)
            train(train_config)
            scores = evaluate(eval_config)
            result.write_text(json.dumps({"tokens": int(tokens), "accuracy": scores.overall.accuracy,
                                          "hard_accuracy": scores.hard.accuracy, "run_dir": str(run_dir)}))
        rows.append(json.loads(result.read_text()))
    references = {k: v for k, v in config.references.items() if v >= 0}
    if not rows:
        return SweepResult(0, str(root / "results.csv"), None, None)
    write_table(rows, root)
    fit = None
    if len(rows) >= 2 * config.fit_components + 1:  # as many runs as free parameters: p, C, K - 1 shares, K rates
        fit = fit_scaling([r["tokens"] for r in rows], [r["accuracy"] for r in rows], config.fit_components)
    if fit:
        (root / "fit.json").write_text(json.dumps(fit, indent=2))
    plot = plot_scaling(rows, fit, references, root)
    return SweepResult(len(rows), str(root / "results.csv"),
                       {k: fit[k] for k in ("p", "C", "a", "b", "rmse")} if fit else None, str(plot))
