"""The paper's RAG tuning (Appendix F.3; the released `scripts/rag_sweep.sh`): open-book QuALITY at every
combination of chunk size (256, 512, 1024 characters), chunks in the prompt (1, 2, 4, 8, 16), their order
(best first, best last) and temperature (0.1, 0.3, 0.5, 0.7) — 120 evaluations of one model — picked on
the tune split (the first 20% of articles by title) and reported on the test split. Each point is
`eval_quality_rag.py`'s evaluation (name the model with --config.evaluate.model.path, and its tokenizer).

    python -m entigraph_jax.evaluate grid --config configs/eval_quality_rag_grid.py \
        --config.evaluate.model.path=/ckpt/Meta-Llama-3-8B --config.evaluate.tokenizer.path=/ckpt/Meta-Llama-3-8B \
        --workdir workdir/rag_grid_base
"""

from pathlib import Path

from entigraph_jax.config import load_config_file
from entigraph_jax.evaluate.grid import GridSettings


def get_config():
    c = GridSettings().to_config()
    c.evaluate = load_config_file(Path(__file__).parent / "eval_quality_rag.py")
    c.evaluate.split = "tune"  # every point must have tune questions; the result holds every split
    c.grid = (("tasks.open_book.chunk_size", (256, 512, 1024)),
              ("tasks.open_book.top_k", (1, 2, 4, 8, 16)),
              ("tasks.open_book.chunk_order", ("best_first", "best_last")),
              ("tasks.open_book.sampling.temperature", (0.1, 0.3, 0.5, 0.7)))
    c.pick_split, c.report_split = "tune", "test"
    return c
