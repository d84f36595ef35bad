"""Instruction tuning as the paper's text gives it (Appendix D): UltraChat with the Llama 3.1 chat
template, warmup then cosine to zero from 5e-6, 1 epoch at batch 512 x 2048. The released code's
README (`instruct_llama3_8b_ultrachat.py`, the default) trains 2 epochs at batch 128.

    python -m entigraph_jax.train --config configs/instruct_llama3_8b_ultrachat_paper.py \
        --config.model.path=workdir/cpt_llama3_8b_quality/hf
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "instruct_llama3_8b_ultrachat.py")
    c.workdir = "workdir/instruct_llama3_8b_ultrachat_paper"
    c.data.update(global_batch=512, epochs=1)
    return c
