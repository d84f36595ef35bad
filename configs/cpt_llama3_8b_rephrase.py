"""The paper's Rephrase CPT arm: Llama 3 8B continually pretrained on the rewrites of the 265 QuALITY
articles that `configs/rephrase_quality.py` writes (up to 38M tokens), with the EntiGraph arm's
procedure (Appendix D: "in all experiments" context 2048, batch 16, 5% warmup, cosine, peak lr 5e-6;
2 epochs and replay 0.1 as EntiGraph CPT). The paper states no epochs or replay rate of its own for
this arm; the ones here are EntiGraph CPT's. Its scaling curve: `scaling_rephrase.py`.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_rephrase.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_rephrase"
    c.data.source = "records:data/rephrase_quality"
    return c
