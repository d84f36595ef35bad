"""SBP with the paper's settings, 1T-token scale, 3B model: 50B unique real tokens, 1T tokens per arm,
87.5% real rows in the SBP arm (125B synthetic tokens, each seen once). The rest as
`sbp_paper_3b_200b.py`, where the sources of each setting are listed.

    python -m entigraph_jax.sbp run --config configs/sbp_paper_3b_1t.py \
        --config.corpus=records:/data/dclm_50b --config.oracle_corpus=records:/data/dclm_1t
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

TOKENS_PER_STEP = 2048 * 4096


def get_config():
    c = load_config_file(Path(__file__).parent / "sbp_paper_3b_200b.py")
    c.joint.max_steps = round(1e12 / TOKENS_PER_STEP)
    c.real_fraction = 0.875
    return c
