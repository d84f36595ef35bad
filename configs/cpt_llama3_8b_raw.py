"""The paper's Raw CPT arm: Llama 3 8B continually pretrained on the 265 QuALITY articles themselves
(about 1.3M tokens), with the EntiGraph arm's optimizer. The paper (Appendix D) tuned the epochs and
the RedPajama replay rate jointly on its QuALITY validation questions and selected 4 epochs with
replay 0.1: the values here.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_raw.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_raw"
    c.data.update(source="quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev",
                  epochs=4, replay_rate=0.1)
    return c
