"""harness: general benchmarks through lm-evaluation-harness (`lm-eval`, the `harness` extra): any harness task
on a checkpoint, or on a training run every N steps (`hooks.harness.*`), through our own model and sampler
(`harness_model.JaxLM`): the forgetting check for continued pretraining."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from pathlib import Path

from entigraph_jax.errors import UserError
from entigraph_jax.settings import Settings, at_least, positive, setting

from ..task import Context, Result, Row, Task
from ..uncertainty import Units, interval


@dataclasses.dataclass(frozen=True)
class HarnessSettings(Settings):
    tasks: tuple = setting((), "harness task names (e.g. arc_easy, hellaswag, piqa), or tasks defined in "
                           "include_path; their datasets come through Hugging Face datasets (the user's cache)")
    include_path: str = setting("", "a folder of task YAML files of your own, found with the harness's tasks")
    num_fewshot: int = setting(-1, "examples in each prompt (-1: each task's own default)", check=at_least(-1))
    limit: int = setting(0, "documents per task (0: all)", check=at_least(0))
    batch: int = setting(16, "rows per forward pass (and prompts per generation call)", check=positive)
    seed: int = setting(1234, "the harness's random, numpy and few-shot seeds")


def require_harness() -> None:
    """One line if lm-evaluation-harness is not installed."""
    if importlib.util.find_spec("lm_eval") is None:
        raise UserError("lm-evaluation-harness is not installed: pip install 'entigraph-jax[harness]'")


def check(settings: HarnessSettings) -> None:
    """Before a model is loaded or a training run starts: the extra is installed and tasks are named."""
    require_harness()
    if not settings.tasks:
        raise UserError("config: tasks.harness.tasks is empty (hooks.harness.tasks in training); name "
                        "lm-evaluation-harness tasks (e.g. arc_easy)")


def harness_model(model, tokenizer, batch: int = 16):
    """`model` as a harness model."""
    require_harness()
    from ..harness_model import JaxLM

    return JaxLM(model, tokenizer, batch)


def run_tasks(lm, settings: HarnessSettings, log_samples: bool = False) -> dict:
    """`lm_eval.simple_evaluate` of the settings' tasks: its results dict (`results`: task -> metric -> value).
    An unknown task, or a dataset that cannot be loaded (offline, a wrong path), is one line."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval").setLevel(logging.WARNING)  # its per-request INFO lines would drown the bar
    check(settings)
    include = str(Path(settings.include_path).absolute()) if settings.include_path else None
    if include and not Path(include).is_dir():
        raise UserError(f"harness include_path={settings.include_path!r}: no such folder")
    # The harness's own index of its ~15k tasks takes seconds to build: skipped when include_path has them all.
    manager = TaskManager(include_path=include, include_defaults=False) if include else None
    if manager is None or not set(settings.tasks) <= set(manager.all_tasks):
        manager = TaskManager(include_path=include)
    unknown = [t for t in settings.tasks if t not in manager.all_tasks]
    if unknown:
        raise UserError(f"harness tasks: unknown task(s) {', '.join(unknown)} (`lm-eval ls tasks` lists them; "
                        "a task of your own goes in the harness settings' include_path)")
    seed = settings.seed
    try:
        return simple_evaluate(model=lm, tasks=list(settings.tasks), task_manager=manager,
                               num_fewshot=None if settings.num_fewshot < 0 else settings.num_fewshot,
                               limit=settings.limit or None, log_samples=log_samples, random_seed=seed,
                               numpy_random_seed=seed, torch_random_seed=None, fewshot_random_seed=seed,
                               bootstrap_iters=0)
    except OSError as e:  # datasets' not-found and connection errors among them
        raise UserError(f"harness tasks {', '.join(settings.tasks)}: a dataset could not be loaded "
                        f"({type(e).__name__}: {str(e)[:300]})") from e


def task_figures(results: dict) -> dict[str, dict[str, float]]:
    """task -> metric -> value from the harness's results: its `metric,filter` keys, `,none` dropped
    (`acc`, `exact_match,strict-match`); stderr and bookkeeping entries left out."""
    return {task: {k.removesuffix(",none"): float(v) for k, v in metrics.items()
                   if "," in k and "_stderr" not in k and isinstance(v, int | float)}
            for task, metrics in results.get("results", {}).items()}


def harness_samples(results: dict) -> dict[str, list[dict]]:
    """task -> each document's prompt arguments, the model's responses, target and scores (from a run with
    `log_samples`), for the report's details."""
    keep = ("doc_id", "arguments", "resps", "filtered_resps", "target")
    return {task: [{k: sample[k] for k in (*keep, *sample.get("metrics", ())) if k in sample} for sample in samples]
            for task, samples in results.get("samples", {}).items()}


@dataclasses.dataclass(frozen=True)
class HarnessScores(Result):
    harness: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)  # task -> metric -> value

    def figures(self, split: str = "all") -> dict:
        return self.harness

    def rows(self) -> dict[str, Row]:
        units = self.units()
        return {name: Row(value, len(units[name].keys) if name in units else None,
                          interval(units[name]) if name in units else None)
                for name, value in self._named().items()}

    def _named(self) -> dict[str, float]:
        return {f"harness {task} {metric}": value for task, metrics in self.harness.items()
                for metric, value in metrics.items()}

    def units(self) -> dict[str, Units]:
        """Of the metrics that are a mean over documents (acc, exact_match: each document's own value is a
        number), the documents as units; aggregated ones (perplexities) have none."""
        found = {}
        for task, metrics in self.harness.items():
            samples = self.details.get("samples", {}).get(task, [])
            for metric in metrics:
                values = [s.get(metric.split(",")[0]) for s in samples]
                if values and all(isinstance(v, int | float) for v in values):  # a bool is 0 or 1
                    ids = tuple(str(s["doc_id"]) for s in samples)
                    found[f"harness {task} {metric}"] = Units(ids, ids, tuple(map(float, values)),
                                                              (1.0,) * len(values))
        return found


def harness(settings: HarnessSettings, context: Context) -> HarnessScores:
    results = run_tasks(harness_model(context.model, context.tokenizer, settings.batch), settings,
                        log_samples=context.output is not None)
    return HarnessScores("harness", harness=task_figures(results),
                         details={"settings": settings.to_dict(), "samples": harness_samples(results)})


TASK = Task("harness", "lm-evaluation-harness tasks through our own model (the forgetting check)", HarnessSettings,
            needs="model", reads="nothing", result=HarnessScores, run=harness, check=check)
