"""SBP with the paper's settings, 1T-token scale, 6B model: 50B unique real tokens, 1T tokens per arm,
75% real rows in the SBP arm (250B synthetic tokens, each seen once). The 6B shape is ours (5.9B
parameters; the paper's was not readable here). The rest as `sbp_paper_3b_1t.py`.

    python -m entigraph_jax.sbp run --config configs/sbp_paper_6b_1t.py \
        --config.corpus=records:/data/dclm_50b --config.oracle_corpus=records:/data/dclm_1t
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

SHAPE = {"hidden_size": 4096, "intermediate_size": 12288, "num_layers": 28, "num_heads": 32, "num_kv_heads": 8,
         "head_dim": 128}


def get_config():
    c = load_config_file(Path(__file__).parent / "sbp_paper_3b_1t.py")
    for section in (c.joint, c.synthesizer):
        section.model.update(SHAPE)
    c.real_fraction = 0.75
    return c
