"""Run one task from the evaluate command's settings: a context that loads what the task uses (documents,
tokenizer, model, our sampler or a served one) on first use, the task, its result written to a file."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.data import SourceSpec, check_vocabulary, load_source, unique_documents
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.runs import CorpusRun, TrainRun
from entigraph_jax.scalars import log_figures, numbers

from .scores import check_split
from .served import ServedSampler
from .settings import EvaluateSettings
from .task import Context, Result, Task, task, tasks


def result_path(config: EvaluateSettings) -> Path:
    """Where the result goes: `output`, else beside the checkpoint it scores."""
    if config.output:
        return Path(config.output)
    if not config.model.path or task(config.task).needs == "nothing":
        raise ConfigError(f"config: task={config.task} needs output (there is no checkpoint it scores to write "
                          "beside)")
    return Path(f"{Path(config.model.path).absolute()}.{config.task}.json")


def check(config: EvaluateSettings, chosen: Task) -> Path:
    """What can be known wrong before any work; the result's path. A missing checkpoint and missing source files
    are named together (a recipe that names neither gets one line saying both)."""
    missing = []
    if chosen.needs != "nothing" and not config.model.path:
        missing.append("model.path is required (the checkpoint to score)")
    if chosen.reads != "nothing" and config.source:
        absent = [str(p) for p in SourceSpec.parse(config.source).paths if not p.exists()]
        if absent:
            missing.append(f"source={config.source} names {', '.join(absent)}: no such file or folder")
    if missing:
        raise ConfigError(f"config: {'; '.join(missing)}")
    output = result_path(config)
    if output.exists():
        raise ConfigError(f"{output}: exists; refusing to overwrite it (set --config.output)")
    if config.served.backend and chosen.needs != "sampler":
        sampling = ", ".join(n for n, t in tasks().items() if t.needs == "sampler")
        raise ConfigError(f"config: served.backend={config.served.backend} samples answers ({sampling}); "
                          f"task={chosen.name} scores with the model itself (served.backend=\"\")")
    chosen.check(getattr(config.tasks, chosen.name))
    return output


def command_context(config: EvaluateSettings, output: Path, stack: contextlib.ExitStack) -> Context:
    """The context of a command's task: each part loaded when the task first asks for it; a served model's
    sampler is closed (a server it started stopped) when `stack` closes."""
    checkpoint, served = Path(config.model.path), config.served.backend

    def model():
        loaded = load(checkpoint, config.model.param_dtype, compute_dtype=config.model.dtype or None)
        check_vocabulary(context.tokenizer, loaded.config.vocab_size)
        return loaded

    def sampler():
        if served:
            journal = CorpusRun(f"{output}.served").journal  # beside the result: a rerun asks nothing twice
            return stack.enter_context(ServedSampler(config.served, config.model.path, journal))
        return Sampler(context.model, context.tokenizer)

    context = Context(source=config.source, split=config.split, checkpoint=config.model.path, output=output,
                      served=bool(served), load_documents=lambda: unique_documents(load_source(config.source),
                                                                                   config.source),
                      load_model=model, load_tokenizer=lambda: config.tokenizer.load(checkpoint),
                      load_sampler=sampler)
    return context


def evaluate(config: EvaluateSettings) -> Result:
    """Run the configured task; its result is written to `result_path(config)`, and its headline figures to
    TensorBoard and W&B where `log.*` asks (at the step the checkpoint was trained to, when it is a train
    run's export)."""
    chosen = task(config.task)
    output = check(config, chosen)
    with contextlib.ExitStack() as stack:
        context = command_context(config, output, stack)
        if chosen.reads == "questions":
            check_split(context.questions(), config.split, config.source)
        result = chosen.run(getattr(config.tasks, chosen.name), context)
    result = dataclasses.replace(result, checkpoint=config.model.path, source=config.source)
    result.write(output)
    trained = TrainRun(Path(config.model.path).parent) if config.model.path else None
    step = trained.steps if trained and Path(trained.metrics).is_file() else 0
    log_figures(config.log, [(step, numbers(result.figures(config.split), f"eval/{config.task}/"))],
                config.to_dict(), output.parent, job="evaluate")
    return result


def headline(config: EvaluateSettings, result: Result) -> dict:
    """What the command prints: the task, the result's path and its figures for the configured split."""
    return {"task": result.task, "output": str(result_path(config)), **result.figures(config.split)}
