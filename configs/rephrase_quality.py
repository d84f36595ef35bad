"""The Rephrase baseline's corpus at the paper's size: each of the 265 QuALITY articles rewritten in
WRAP's styles (Maini et al., 2024) until it has about 6,800 output tokens (265 x 6,800 = 1.8M, the
size of the paper's Rephrase corpus), by gpt-4-turbo at temperature 1.

    python -m entigraph_jax.generate --config configs/rephrase_quality.py --dry_run
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "entigraph_quality.py")
    c.method = "rephrase"
    c.output_dir = "data/rephrase_quality"
    c.rephrase.update(styles=("easy", "wiki", "academic", "qa"), samples=1, tokens_per_doc=6800)
    c.budget.max_output_tokens = 0
    return c
