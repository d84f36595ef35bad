"""Periodic work during training, plugged in by name (big_vision's evaluators, Levanter's hooks).

A `Hook` is its name, its settings (a `Settings` class with `every_steps` among its keys: 0 keeps it
off), the names of the metrics it reports, and a factory that, given those settings and the run
(`RunContext`), returns `hook(step, params) -> metrics`. The trainer runs each hook whose
`every_steps` is positive at those steps and after the last one, and logs what it returns with the
step's other metrics.

Every evaluation task that uses the model is a hook (`evaluate.task`): `hooks.<task>.*` are the task's own
settings with `every_steps` and the `source` it reads beside them, and it reports its figures as
`<task>/<figure>` (`--config.hooks.perplexity.every_steps=100 --config.hooks.perplexity.source=...` is the
held-out loss; `hooks.loglik.*` QuALITY-style questions by likelihood; `hooks.harness.*` the forgetting
check). Another installed package adds hooks of its own through the entry points of the group
`entigraph_jax.train_hooks`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, Pipeline, Tokenizer, load_source, spec_problem, unique_documents
from entigraph_jax.evaluate.task import Context, Task, tasks
from entigraph_jax.models import Llama
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.registry import installed
from entigraph_jax.settings import Settings, at_least, setting

GROUP = "entigraph_jax.train_hooks"

Metrics = dict[str, float]


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What a hook may use of the run (the trainer builds it; hooks never import the trainer)."""

    config: Settings  # the whole train settings (TrainSettings)
    tokenizer: Tokenizer
    model: Callable[[dict], Llama]  # params -> the model around them
    eval_loss: Callable[[dict, dict], tuple[float, float]]  # (params, a batch) -> (loss sum, target tokens)
    # (documents, seed) -> their batches packed like the training data (one epoch; the last padded, so a
    # source smaller than one global batch is scored too)
    pipeline: Callable[[list[Document], int], Pipeline]


@dataclasses.dataclass(frozen=True)
class Hook:
    name: str
    settings: type[Settings]  # its keys under config.hooks.<name>, every_steps among them
    metrics: tuple[str, ...]  # the names of what it reports ("<task>/<figure>": a prefix and a pattern)
    make: Callable[[Settings, RunContext], Callable[[int, dict], Metrics]]


def hook_settings(task: Task) -> type[Settings]:
    """The task's settings with `every_steps` (and the `source` it reads, unless it reads nothing) beside them."""
    extra = [("every_steps", int, setting(0, f"the {task.name} task every N steps and after the last (0: off)",
                                          check=at_least(0)))]
    if task.reads != "nothing":
        extra.append(("source", str, setting("", f"what it reads ({task.reads}): a load_source spec",
                                             check=spec_problem)))
    return dataclasses.make_dataclass(f"{task.name.title().replace('_', '')}Hook", extra, bases=(task.settings,),
                                      frozen=True)


def task_hook(task: Task) -> Hook:
    """The task run every N steps on the run's own model; `perplexity`-like tasks score the run's packed
    batches with its sharded loss."""

    def make(settings: Settings, run: RunContext) -> Callable[[int, dict], Metrics]:
        own = task.settings(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(task.settings)})
        task.check(own)
        source = getattr(settings, "source", "")
        if task.reads != "nothing" and not source:
            raise ConfigError(f"config: hooks.{task.name}.every_steps > 0 needs hooks.{task.name}.source")
        docs = unique_documents(load_source(source), source) if source else []
        if task.reads == "questions":
            Context(source=source, load_documents=lambda: docs).questions()  # none: said before training starts
        # documents in the order the evaluate command packs them (seed 0), so a pass over them scores the same rows
        pipeline = functools.cache(lambda: run.pipeline(docs, 0))

        def hook(step: int, params: dict) -> Metrics:
            model = functools.cache(lambda: run.model(params))

            def loss_batches() -> Iterator[tuple[float, float]]:
                iterator = pipeline().iterator()
                for _ in range(pipeline().num_steps):
                    yield run.eval_loss(params, next(iterator))

            context = Context(source=source, load_documents=lambda: docs, load_model=model,
                              load_tokenizer=lambda: run.tokenizer,
                              load_sampler=lambda: Sampler(model(), run.tokenizer), loss_batches=loss_batches)
            return task.run(own, context).metrics()

        return hook

    return Hook(task.name, hook_settings(task), (f"{task.name}/<figure>",), make)


@functools.cache
def registered() -> dict[str, Hook]:
    """Every hook by name: the evaluation tasks that use the model, then the installed entry points."""
    hooks = {name: task_hook(task) for name, task in tasks().items() if task.needs != "nothing"}
    return installed(GROUP, Hook, "train hook", hooks)


@functools.cache
def settings_type() -> type[Settings]:
    """The `hooks` section: one sub-section per registered hook, each off by default."""
    fields = [(name, hook.settings, dataclasses.field(default_factory=hook.settings))
              for name, hook in registered().items()]
    return dataclasses.make_dataclass("HookSettings", fields, bases=(Settings,), frozen=True,
                                      namespace={"renamed": RENAMED})


# the hooks of an earlier version, now the evaluation tasks they ran
RENAMED = {"heldout_loss": "perplexity (batches is now max_batches; it reports perplexity/loss and "
                           "perplexity/perplexity)",
           "quality_loglik": "loglik (questions is now max_questions; it reports loglik/accuracy, ...)",
           "lm_eval": "harness (it reports harness/<task>/<metric>)"}


@dataclasses.dataclass(frozen=True)
class ActiveHook:
    name: str
    every_steps: int
    run: Callable[[int, dict], Metrics]

    def due(self, step: int, final: bool) -> bool:
        return final or step % self.every_steps == 0


def active_hooks(config: Settings, run: RunContext) -> list[ActiveHook]:
    """The hooks the settings turn on, built (data loaded, tokenized) before training starts."""
    hooks = registered()
    return [ActiveHook(name, getattr(config.hooks, name).every_steps,
                       hooks[name].make(getattr(config.hooks, name), run))
            for name in hooks if getattr(config.hooks, name).every_steps]
