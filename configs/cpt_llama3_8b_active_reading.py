"""Llama 3 8B continually pretrained on the active reading corpus of the 265 QuALITY articles that
`configs/active_reading_quality.py` writes (84M tokens), with the EntiGraph arm's procedure (Appendix D: context 2048,
batch 16, 5% warmup, cosine, peak lr 5e-6, 2 epochs, replay 0.1 of RedPajama): the procedure held fixed, only the
corpus differs. Scored with `configs/eval_quality.py` (the paper's closed-book protocol).

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_active_reading.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_active_reading"
    c.data.source = "records:data/active_reading_quality"
    return c
