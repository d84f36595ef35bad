"""The evaluate stage's training hooks: QuALITY log-likelihood accuracy, and lm-evaluation-harness tasks
(the forgetting check: what continued pretraining costs the model elsewhere) during training.

The trainer knows them by name (`train.hooks.OWN` names them by import path), so it never imports this
stage; turned on with `--config.hooks.quality_loglik.every_steps=N --config.hooks.quality_loglik.source=...`
or `--config.hooks.lm_eval.every_steps=N --config.hooks.lm_eval.tasks=arc_easy,piqa --config.hooks.lm_eval.limit=200`.
"""

from __future__ import annotations

import dataclasses

from entigraph_jax.data import SourceError, load_source, unique_documents
from entigraph_jax.settings import Settings, at_least, setting
from entigraph_jax.train.hooks import Hook, RunContext

from .harness import LM_EVAL_PREFIX, HarnessSettings, harness_model, hook_metrics, require_harness, run_tasks
from .loglik import log_likelihood

ACCURACY, HARD_ACCURACY = "quality_loglik_acc", "quality_loglik_hard_acc"


@dataclasses.dataclass(frozen=True)
class QualityLoglikSettings(Settings):
    every_steps: int = setting(0, "QuALITY log-likelihood accuracy every N steps and after the last (0: off)",
                               check=at_least(0))
    source: str = setting("", "a load_source spec of documents with questions, e.g. quality:... or sample")
    questions: int = setting(0, "questions scored each time (0: all)", check=at_least(0))


def quality_loglik(settings: QualityLoglikSettings, run: RunContext):
    docs = [d for d in unique_documents(load_source(settings.source), settings.source) if d.questions] \
        if settings.source else []
    if not docs:
        raise SourceError(f"hooks.quality_loglik.source={settings.source!r}: no documents with questions")

    def hook(step: int, params: dict) -> dict[str, float]:
        report = log_likelihood(run.model(params), run.tokenizer, docs, settings.questions)
        scores = report.splits["all"]  # every question of the source: a training signal, not the paper's figure
        return {ACCURACY: scores.overall.accuracy, HARD_ACCURACY: scores.hard.accuracy}

    return hook


QUALITY_LOGLIK = Hook("quality_loglik", QualityLoglikSettings, (ACCURACY, HARD_ACCURACY), quality_loglik)


@dataclasses.dataclass(frozen=True)
class LmEvalHookSettings(HarnessSettings):
    every_steps: int = setting(0, "lm-evaluation-harness tasks every N steps and after the last (0: off); set "
                               "limit to keep it short", check=at_least(0))


def lm_eval_hook(settings: LmEvalHookSettings, run: RunContext):
    require_harness()  # before training starts, not at the first hook

    def hook(step: int, params: dict) -> dict[str, float]:
        return hook_metrics(run_tasks(harness_model(run.model(params), run.tokenizer, settings.batch), settings))

    return hook


LM_EVAL = Hook("lm_eval", LmEvalHookSettings, (f"{LM_EVAL_PREFIX}<task>/<metric>",), lm_eval_hook)
