"""The scaling study in miniature (CPU, minutes): the quickstart's model at five token budgets of
the sample corpus, each scored with QuALITY log-likelihood.

    python -m entigraph_jax.sweep --config configs/scaling_quickstart.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file
from entigraph_jax.sweep.settings import base_config


def get_config():
    c = base_config()
    c.train = load_config_file(Path(__file__).parent / "quickstart.py")
    c.train.data.update(epochs=10, seq_len=32, global_batch=8)
    c.train.checkpoint.every_steps = 1000
    c.train.log.tensorboard = False
    c.evaluate.update(source="sample", task="loglik")
    c.workdir = "workdir/scaling_quickstart"
    c.token_budgets = (500, 1000, 1500, 2500, 3900)
    c.fit_components = 2  # five runs: enough for two terms (the paper's three need seven)
    return c
