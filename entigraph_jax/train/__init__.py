"""train: `python -m entigraph_jax.train --config ...` — sharded, resumable continued pretraining.

Owns the optimizer, the train step, run checkpoints, metrics and the loop. May import models and
data; never imports synth or evaluate.
"""

from .loop import TrainingError, train
from .step import OptimConfig, Trainer

__all__ = ["OptimConfig", "Trainer", "TrainingError", "train"]
