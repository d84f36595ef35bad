"""`python -m entigraph_jax.sweep --config configs/scaling_quickstart.py [--config.key=value ...]`

The scaling study: continued pretraining at each synthetic-token budget (the synthetic corpus
subsampled, the same nested subsets for one seed), each run in its own workdir and evaluated after
training; runs with a result are skipped on rerun. Writes `results.csv` / `results.json` (tokens,
accuracy, hard accuracy, run dir), the mixture-of-exponential fit (`fit.json`, also printed) and
`scaling.png` with the reference lines. `launch=print` prints one train + evaluate command pair per
missing run instead (for a cluster), and fits whatever results exist.
"""

from __future__ import annotations

import copy
import json
import shlex
import sys
from pathlib import Path

from entigraph_jax.config import ConfigError, parse_command_line
from entigraph_jax.data import RecordError, SourceError, TokenizerError
from entigraph_jax.evaluate.run import evaluate
from entigraph_jax.models import CheckpointError
from entigraph_jax.studies.scaling import fit_scaling, plot_scaling, write_table
from entigraph_jax.train import TrainingError, train


def run_configs(config, tokens: int, run_dir: Path):
    """The train and evaluate configs of the run at one budget."""
    train_config, eval_config = copy.deepcopy(config.train), copy.deepcopy(config.evaluate)
    train_config.data.subsample_tokens = int(tokens)
    train_config.workdir = str(run_dir)
    train_config.export.hf = True
    eval_config.model.update(path=str(run_dir / "hf"), format="hf")
    eval_config.tokenizer = train_config.tokenizer.path or str(run_dir / "tokenizer" / "sp.model")
    eval_config.output = str(run_dir / "evaluation.json")
    return train_config, eval_config


def command_line(config_path: str, root: Path, tokens: int) -> str:
    """One run for a cluster job: the sweep itself, restricted to one budget, in the same root."""
    return shlex.join(["python", "-m", "entigraph_jax.sweep", "--config", config_path,
                       f"--config.token_budgets=({tokens},)", f"--config.workdir={root}"])


def sweep(config, config_path: str) -> dict:
    if not config.token_budgets or any(t <= 0 for t in config.token_budgets):
        raise ConfigError("config: token_budgets must be a non-empty list of positive token counts")
    if config.launch not in ("sequential", "print"):
        raise ConfigError(f"config: launch={config.launch!r}; expected sequential or print")
    root = Path(config.workdir).absolute()
    rows = []
    for tokens in sorted(config.token_budgets):
        run_dir = root / f"tokens_{tokens}"
        result = run_dir / "result.json"
        if not result.is_file():
            if config.launch == "print":
                print(command_line(config_path, root, tokens))
                continue
            train_config, eval_config = run_configs(config, tokens, run_dir)
            train(train_config, run_dir)
            summary = evaluate(eval_config)
            result.write_text(json.dumps({"tokens": int(tokens), "accuracy": summary["overall"]["accuracy"],
                                          "hard_accuracy": summary["hard"]["accuracy"], "run_dir": str(run_dir)}))
        rows.append(json.loads(result.read_text()))
    references = {k: v for k, v in config.references.items() if v >= 0}
    out = {"runs": len(rows), "results": str(root / "results.csv")}
    if not rows:
        return out
    write_table(rows, root)
    # five parameters: a fit needs at least five runs
    fit = fit_scaling([r["tokens"] for r in rows], [r["accuracy"] for r in rows]) if len(rows) >= 5 else None
    if fit:
        (root / "fit.json").write_text(json.dumps(fit, indent=2))
        out["fit"] = {k: fit[k] for k in ("p", "C", "a", "b", "rmse")}
    out["plot"] = str(plot_scaling(rows, fit, references, root))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        config, _ = parse_command_line(argv)
        config_path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")),
                           argv[argv.index("--config") + 1] if "--config" in argv else "")
        result = sweep(config, config_path)
    except (ConfigError, SourceError, RecordError, TokenizerError, CheckpointError, TrainingError, ValueError) as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
