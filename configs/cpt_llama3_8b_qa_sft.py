"""The paper's QA SFT arm (Appendix E): Llama 3 8B continually pretrained, with the EntiGraph arm's
procedure (Section 4.1), on the question-answer rewrites `qa_sft_quality.py` writes.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_qa_sft.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_qa_sft"
    c.data.source = "records:data/qa_sft_quality"
    return c
