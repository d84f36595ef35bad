"""The paper's Rephrase baseline corpus (Section 4.1, Appendix H.2): the 265 QuALITY articles
rewritten again and again in three styles adapted from WRAP (Maini et al., 2024): easy (toddler
vocabulary), medium (Wikipedia-like English) and hard (terse, scholarly), each told to keep every
content of the article intact, its title, author and year included (prompt version `paper`), by
gpt-4-turbo at temperature 1, up to 38M tokens, where the paper stopped. WRAP's fourth style (QA)
is the paper's separate "QA SFT" arm: `qa_sft_quality.py`.

    python -m entigraph_jax.generate --config configs/rephrase_quality.py --dry_run
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

TOKENS = 38_000_000  # the paper's Rephrase corpus at its largest


def get_config():
    c = load_config_file(Path(__file__).parent / "entigraph_quality.py")
    c.method = "rephrase"
    c.output_dir = "data/rephrase_quality"
    c.prompt_version = "paper"
    c.rephrase.update(styles=("easy", "wiki", "academic"), samples=1, tokens_per_doc=-(-TOKENS // 265))
    c.budget.max_train_tokens = TOKENS  # tokens of the corpus in the training tokenizer
    return c
