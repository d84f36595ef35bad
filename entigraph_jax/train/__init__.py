"""train: `python -m entigraph_jax.train --config ...` — sharded, resumable continued pretraining,
and `python -m entigraph_jax.train plan` — its memory planner.

Owns its settings (`TrainSettings`), the optimizer, the train step, run checkpoints, metrics, the
loop and its hooks (periodic work plugged in by name: every evaluation task that uses the model is one,
see `hooks.py`). May import data, models and evaluate (its task registry); never imports generate, sweep
or sbp.
"""

from .hooks import Hook, RunContext
from .run import TrainingError, train
from .settings import OptimSettings, TrainSettings
from .step import Trainer

__all__ = ["Hook", "OptimSettings", "RunContext", "TrainSettings", "Trainer", "TrainingError", "train"]
