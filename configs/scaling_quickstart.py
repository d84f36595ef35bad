"""The scaling study in miniature (CPU, minutes): the quickstart's model at five token budgets of
the sample corpus, each scored with QuALITY log-likelihood.

    python -m entigraph_jax.sweep --config configs/scaling_quickstart.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file
from entigraph_jax.evaluate.defaults import base_config as eval_base
from entigraph_jax.studies.defaults import base_config


def get_config():
    train = load_config_file(Path(__file__).parent / "quickstart.py")
    train.unlock()
    train.data.update(epochs=10, seq_len=32, global_batch=8)
    train.checkpoint.every_steps = 1000
    train.log.tensorboard = False
    evaluate = eval_base()
    evaluate.update(source="sample", mode="loglik")
    c = base_config(train, evaluate)
    c.workdir = "workdir/scaling_quickstart"
    c.token_budgets = (500, 1000, 1500, 2500, 3900)
    return c
