"""The evaluate stage's training hook: QuALITY log-likelihood accuracy during training.

Registered with the trainer by name through the `entigraph_jax.train_hooks` entry point in
pyproject.toml (`quality_loglik`), so the trainer never imports this stage; turned on with
`--config.hooks.quality_loglik.every_steps=N --config.hooks.quality_loglik.source=...`.
"""

from __future__ import annotations

import ml_collections

from entigraph_jax.data import SourceError, load_source
from entigraph_jax.train.hooks import Hook, RunContext

from .loglik import log_likelihood


def quality_loglik_settings() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.every_steps = 0  # QuALITY log-likelihood accuracy every N steps and after the last (0: off)
    c.source = ""  # a load_source spec of documents with questions, e.g. quality:... or sample
    c.questions = 0  # questions scored each time (0: all)
    return c


def quality_loglik(settings: ml_collections.ConfigDict, run: RunContext):
    docs = [d for d in load_source(settings.source) if d.questions] if settings.source else []
    if not docs:
        raise SourceError(f"hooks.quality_loglik.source={settings.source!r}: no documents with questions")

    def hook(step: int, params: dict) -> dict[str, float]:
        report = log_likelihood(run.model(params), run.tokenizer, docs, settings.questions)
        scores = report["all"]  # every question of the source: a training signal, not the paper's figure
        return {"quality_loglik_acc": scores["overall"]["accuracy"],
                "quality_loglik_hard_acc": scores["hard"]["accuracy"]}

    return hook


QUALITY_LOGLIK = Hook(quality_loglik_settings, quality_loglik)
