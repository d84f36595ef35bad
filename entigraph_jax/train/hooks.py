"""Periodic work during training, plugged in by name (big_vision's evaluators, Levanter's hooks).

A `Hook` is its name, its settings (a `Settings` class with `every_steps` among its keys: 0 keeps it
off), the names of the metrics it reports, and a factory that, given those settings and the run
(`RunContext`), returns `hook(step, params) -> metrics`. The trainer runs each hook whose
`every_steps` is positive at those steps and after the last one, and logs what it returns with the
step's other metrics.

Hooks are found by name: the trainer's own (`heldout_loss`), the evaluate stage's (`quality_loglik`,
named below by its import path, so the trainer imports no evaluator and a checkout that was never
pip-installed knows it too) and every entry point of the group `entigraph_jax.train_hooks`, through
which any installed package adds its own. Each hook's settings are `config.hooks.<name>`, so
`--config.hooks.quality_loglik.every_steps=100` turns one on.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
from collections.abc import Callable

import numpy as np

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, Pipeline, Tokenizer, load_source
from entigraph_jax.models import Llama
from entigraph_jax.settings import Settings, at_least, positive, setting

GROUP = "entigraph_jax.train_hooks"
# The project's own hooks above the trainer, by import path (as an entry point names them).
OWN = {"quality_loglik": "entigraph_jax.evaluate.hooks:QUALITY_LOGLIK",
       "lm_eval": "entigraph_jax.evaluate.hooks:LM_EVAL"}

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
    metrics: tuple[str, ...]  # the names of what it reports
    make: Callable[[Settings, RunContext], Callable[[int, dict], Metrics]]


@dataclasses.dataclass(frozen=True)
class HeldoutSettings(Settings):
    every_steps: int = setting(0, "held-out loss and perplexity every N steps and after the last (0: off)",
                               check=at_least(0))
    source: str = setting("", "the held-out documents: any load_source spec")
    batches: int = setting(16, "batches scored each time (at most one pass over the source)", check=positive)


EVAL_LOSS, EVAL_PPL = "eval_loss", "eval_ppl"


def heldout_loss(settings: HeldoutSettings, run: RunContext) -> Callable[[int, dict], Metrics]:
    if not settings.source:
        raise ConfigError("config: hooks.heldout_loss.every_steps > 0 needs hooks.heldout_loss.source")
    pipeline = run.pipeline(load_source(settings.source), run.config.seed + 2)

    def hook(step: int, params: dict) -> Metrics:
        total = count = 0.0
        iterator = pipeline.iterator()
        for _ in range(min(settings.batches, pipeline.num_steps)):
            loss_sum, tokens = run.eval_loss(params, next(iterator))
            total, count = total + float(loss_sum), count + float(tokens)
        loss = total / max(count, 1.0)
        return {EVAL_LOSS: loss, EVAL_PPL: float(np.exp(loss))}

    return hook


HELDOUT_LOSS = Hook("heldout_loss", HeldoutSettings, (EVAL_LOSS, EVAL_PPL), heldout_loss)


def _loaded(name: str, load: Callable[[], object], origin: str) -> Hook:
    try:
        hook = load()
    except Exception as e:  # another package's code: report which one, whatever broke
        raise ConfigError(f"train hook {name!r} ({origin}) cannot be loaded: {type(e).__name__}: {e}") from e
    if not isinstance(hook, Hook):
        raise ConfigError(f"train hook {name!r} ({origin}) is not a train.hooks.Hook")
    return hook


def _import(path: str):
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@functools.cache
def registered() -> dict[str, Hook]:
    """Every hook by name: the trainer's own, the project's, then the installed entry points."""
    hooks = {"heldout_loss": HELDOUT_LOSS}
    hooks.update((name, _loaded(name, functools.partial(_import, path), path)) for name, path in OWN.items())
    for entry in importlib.metadata.entry_points(group=GROUP):
        if entry.name not in hooks:
            hooks[entry.name] = _loaded(entry.name, entry.load, entry.value)
    return hooks


@functools.cache
def settings_type() -> type[Settings]:
    """The `hooks` section: one sub-section per registered hook, each off by default."""
    fields = [(name, hook.settings, dataclasses.field(default_factory=hook.settings))
              for name, hook in registered().items()]
    return dataclasses.make_dataclass("HookSettings", fields, bases=(Settings,), frozen=True)


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
