"""The paper's scaling study: EntiGraph CPT of Llama 3 8B on subsets of the synthetic corpus (the
paper subsamples its 455M tokens), each evaluated closed-book; `launch=print` emits one command
per run for a cluster. Each run is scored as `eval_quality.py` scores (the paper's text: 64 samples
at temperature 0.1, a random valid answer; the released code's 8 and first valid: `eval_quality_released.py`'s
sampling). Fill `references` with your measured base / Raw CPT / Rephrase CPT runs.

    python -m entigraph_jax.sweep --config configs/scaling_quality.py --config.launch=print
"""

from pathlib import Path

from entigraph_jax.config import load_config_file
from entigraph_jax.sweep.settings import base_config


def get_config():
    c = base_config()
    c.train = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    paper = load_config_file(Path(__file__).parent / "eval_quality.py")  # the paper's text: 64 samples, random valid
    c.evaluate.update(source=paper.source, task="closed_book")
    c.evaluate.tasks.closed_book.sampling = paper.tasks.closed_book.sampling
    c.workdir = "workdir/scaling_quality"
    c.label = "EntiGraph CPT"
    # eight budgets for the paper's 3-term fit (7 parameters), from 0.2M to the whole 455M corpus
    c.token_budgets = tuple(int(455e6 * f) for f in (1 / 2048, 1 / 1024, 1 / 512, 1 / 128, 1 / 32, 1 / 8, 1 / 2, 1.0))
    c.fit_components = 3
    return c
