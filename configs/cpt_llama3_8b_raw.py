"""The paper's Raw CPT arm: Llama 3 8B continually pretrained on the 265 QuALITY articles themselves
(about 1.3M tokens), repeated, with the EntiGraph arm's optimizer and replay.

The paper tuned this arm's learning rate and epochs on its validation questions (its Appendix F.3,
which this recipe could not be checked against): `epochs` and `optim.lr` below are starting points
for that sweep, not the paper's values.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_raw.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_raw"
    c.data.update(source="quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev",
                  epochs=4)
    return c
