"""EntiGraph CPT of Llama 3 8B with the raw articles mixed in: not a recipe of the paper, the mixture
its ablations suggest trying (Raw CPT alone helped little; EntiGraph alone lifted QuALITY). The
paper's recipe (`cpt_llama3_8b_quality.py`) with one change: 2% of the rows are the 265 QuALITY
articles, interleaved at exactly that share (about 18M tokens over the run's 910M, some 14 passes over
the articles' 1.3M), while the EntiGraph corpus is still seen twice. Replay stays the paper's block
replacement: each row, whichever source it came from, is replaced by a RedPajama row with
probability 0.1. Shares may be changed when the run is resumed (`--config.data.sources=...`): the
change applies from the resumed step and is printed.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_mixture.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

ARTICLES = "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_mixture"
    c.data.sources = ((ARTICLES, 0.02),)
    return c
