"""Active Reading on QuALITY, at the training tokens of sdg_hub's knowledge tuning (84M) for a comparison at equal
cost in tokens: for each of the 265 articles the generator proposes 8 study strategies, then applies each, round
after round to the article's share of the tokens (`--config.method=active_reading`; task-agnostic, or
`--config.active_reading.task="multiple-choice questions about the story's people, events and motives"` for the
task-specific variant). The teacher as EntiGraph's recipe names it unless set. Then
`configs/cpt_llama3_8b_active_reading.py` and `configs/eval_quality.py`.

    python -m entigraph_jax.generate --config configs/active_reading_quality.py --dry_run
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

TOKENS = 84_000_000


def get_config():
    c = load_config_file(Path(__file__).parent / "entigraph_quality.py")
    c.method = "active_reading"
    c.output_dir = "data/active_reading_quality"
    c.prompt_version = "v3"  # the strategy prompts are v3's
    c.active_reading.update(strategies=8, samples=1, tokens_per_doc=-(-TOKENS // 265))
    c.budget.max_train_tokens = 0  # tokens_per_doc bounds the corpus (a budget would cut off a last round)
    return c
