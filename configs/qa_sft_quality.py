"""The paper's "QA SFT" corpus (Appendix E): the QuALITY articles rewritten as question-answer pairs
(WRAP's QA style; "Question: ..." followed by "Answer: ...", every content kept), at temperature 1,
repeated up to 28M tokens as the paper did. A task-specific arm, reported apart from Rephrase; train
on it with `cpt_llama3_8b_qa_sft.py`.

    python -m entigraph_jax.generate --config configs/qa_sft_quality.py --dry_run
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

TOKENS = 28_000_000


def get_config():
    c = load_config_file(Path(__file__).parent / "rephrase_quality.py")
    c.output_dir = "data/qa_sft_quality"
    c.rephrase.update(styles=("qa",), tokens_per_doc=-(-TOKENS // 265))
    c.budget.max_train_tokens = TOKENS  # tokens of the corpus in the training tokenizer
    return c
