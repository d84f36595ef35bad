"""The paper's Rephrase CPT scaling curve (Figure 2): Rephrase CPT of Llama 3 8B on nested subsets
of the Rephrase corpus (`rephrase_quality.py`, up to 38M tokens), each evaluated closed-book, beside
the EntiGraph curve of `scaling_quality.py`. The paper does not give the budgets of its Rephrase
points; these eight span the corpus for the 3-term fit.

    python -m entigraph_jax.sweep --config configs/scaling_rephrase.py --config.launch=print
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "scaling_quality.py")
    c.train = load_config_file(Path(__file__).parent / "cpt_llama3_8b_rephrase.py")
    c.workdir = "workdir/scaling_rephrase"
    c.label = "Rephrase CPT"
    c.token_budgets = tuple(int(38e6 * f) for f in (1 / 256, 1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 4, 1 / 2, 1.0))
    return c
