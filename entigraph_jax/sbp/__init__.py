"""sbp: Synthetic Bootstrapped Pretraining (Yang et al. 2025) — mine related document pairs, train a
synthesizer of p(d2 | d1), synthesize new documents from corpus seeds, train on real + synthetic
against the repetition baseline at the same compute.

`python -m entigraph_jax.sbp {baseline,mine,synthesizer,synthesize,train,run} --config ...`. The top stage:
may import clients, data, models, evaluate (its tasks' metric names) and train; nothing imports it.
"""

from .mine import mine_pairs
from .neighbours import MiningError, exact_neighbours, faiss_neighbours
from .ring_search import ring_neighbours
from .run import SBP, STEPS
from .synthesize import is_copy, synthesize

__all__ = ["SBP", "STEPS", "MiningError", "exact_neighbours", "faiss_neighbours", "is_copy", "mine_pairs",
           "ring_neighbours", "synthesize"]
