"""Periodic work during training, plugged in by name (big_vision's evaluators, Levanter's hooks).

A `Hook` is its settings (a ConfigDict with defaults, `every_steps` among them: 0 keeps it off) and a
factory that, given those settings and the run (`RunContext`), returns `hook(step, params) -> metrics`.
The trainer runs each hook whose `every_steps` is positive at those steps and after the last one, and
logs what it returns with the step's other metrics.

Hooks are found by name: the trainer's own (`heldout_loss`) and every entry point of the group
`entigraph_jax.train_hooks` (the evaluate stage registers `quality_loglik` there in pyproject.toml),
so the trainer imports no evaluator and any installed package can add its own. Each hook's settings
are `config.hooks.<name>`, so `--config.hooks.quality_loglik.every_steps=100` turns one on.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Callable
from pathlib import Path

import ml_collections
import numpy as np

from entigraph_jax.config import ConfigError, key_comments
from entigraph_jax.data import Document, Pipeline, Tokenizer, load_source
from entigraph_jax.models import Llama

from . import setup
from .step import Trainer

GROUP = "entigraph_jax.train_hooks"

Metrics = dict[str, float]


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What a hook may use of the run."""

    config: ml_collections.ConfigDict  # the whole train config
    workdir: Path
    trainer: Trainer
    tokenizer: Tokenizer

    def model(self, params: dict) -> Llama:
        return self.trainer.model(params)

    def pipeline(self, docs: list[Document], seed: int) -> Pipeline:
        """Batches of `docs` packed like the training data (one epoch; the last padded, so a source
        smaller than one global batch is scored too)."""
        return setup.batches(self.config, setup.packed_rows(self.config, self.workdir, self.tokenizer, docs, seed),
                             seed, pad_last=True)


@dataclasses.dataclass(frozen=True)
class Hook:
    settings: Callable[[], ml_collections.ConfigDict]
    make: Callable[[ml_collections.ConfigDict, RunContext], Callable[[int, dict], Metrics]]


def heldout_settings() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.every_steps = 0  # held-out loss and perplexity every N steps and after the last (0: off)
    c.source = ""  # the held-out documents: any load_source spec
    c.batches = 16  # batches scored each time (at most one pass over the source)
    return c


def heldout_loss(settings: ml_collections.ConfigDict, run: RunContext) -> Callable[[int, dict], Metrics]:
    if not settings.source:
        raise ConfigError("config: hooks.heldout_loss.every_steps > 0 needs hooks.heldout_loss.source")
    pipeline = run.pipeline(load_source(settings.source), run.config.seed + 2)

    def hook(step: int, params: dict) -> Metrics:
        total = count = 0.0
        iterator = pipeline.iterator()
        for _ in range(min(settings.batches, pipeline.num_steps)):
            loss_sum, tokens = run.trainer.eval_loss(params, run.trainer.place(next(iterator)))
            total, count = total + float(loss_sum), count + float(tokens)
        loss = total / max(count, 1.0)
        return {"eval_loss": loss, "eval_ppl": float(np.exp(loss))}

    return hook


HELDOUT_LOSS = Hook(heldout_settings, heldout_loss)


def registered() -> dict[str, Hook]:
    """Every hook by name: the trainer's own, then the installed entry points."""
    hooks = {"heldout_loss": HELDOUT_LOSS}
    for entry in importlib.metadata.entry_points(group=GROUP):
        try:
            hook = entry.load()
        except Exception as e:  # another package's code: report which one, whatever broke
            raise ConfigError(f"train hook {entry.name!r} ({entry.value}) cannot be loaded: "
                              f"{type(e).__name__}: {e}") from e
        if not isinstance(hook, Hook):
            raise ConfigError(f"train hook {entry.name!r} ({entry.value}) is not a train.hooks.Hook")
        hooks[entry.name] = hook
    return hooks


def settings() -> ml_collections.ConfigDict:
    """`config.hooks`: every registered hook's settings, each off by default."""
    return ml_collections.ConfigDict({name: hook.settings() for name, hook in registered().items()})


def meanings() -> dict[str, str]:
    """The `--help` text of `hooks.<name>.<key>` (comments in each hook's settings function)."""
    return {f"hooks.{name}.{key}": text for name, hook in registered().items()
            for key, text in key_comments(hook.settings).items()}


@dataclasses.dataclass(frozen=True)
class ActiveHook:
    name: str
    every_steps: int
    run: Callable[[int, dict], Metrics]

    def due(self, step: int, final: bool) -> bool:
        return final or step % self.every_steps == 0


def active_hooks(config: ml_collections.ConfigDict, run: RunContext) -> list[ActiveHook]:
    """The hooks the config turns on, built (data loaded, tokenized) before training starts."""
    hooks = registered()
    active = []
    for name, hook_settings in config.hooks.items():
        if name not in hooks:
            raise ConfigError(f"config: hooks.{name}: no such hook is installed (known: {', '.join(hooks)})")
        if hook_settings.every_steps < 0:
            raise ConfigError(f"config: hooks.{name}.every_steps={hook_settings.every_steps} must be >= 0")
        if hook_settings.every_steps:
            active.append(ActiveHook(name, hook_settings.every_steps, hooks[name].make(hook_settings, run)))
    return active
