"""The paper's Rephrase CPT arm: Llama 3 8B continually pretrained on rewrites of the 265 QuALITY
articles (about 1.8M tokens; `configs/rephrase_quality.py` writes them), with the EntiGraph arm's
optimizer and replay.

As for Raw CPT, the paper tuned this arm's learning rate and epochs (Appendix F.3, not checked
here): `epochs` and `optim.lr` below are starting points for that sweep.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_rephrase.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_rephrase"
    c.data.update(source="records:data/rephrase_quality", epochs=4)
    return c
