"""train: `python -m entigraph_jax.train --config ...` — sharded, resumable continued pretraining,
and `python -m entigraph_jax.train plan` — its memory planner.

Owns the optimizer, the train step, run checkpoints, metrics, the loop and its hooks (periodic
work plugged in by name; evaluators register themselves, see `hooks.py`). May import data and
models; never imports generate, evaluate, sweep or sbp.
"""

from .hooks import Hook, RunContext
from .run import TrainingError, TrainResult, train
from .step import OptimConfig, Trainer

__all__ = ["Hook", "OptimConfig", "RunContext", "TrainResult", "Trainer", "TrainingError", "train"]
